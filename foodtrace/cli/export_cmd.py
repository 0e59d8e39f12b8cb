"""`foodtrace export fsma LOT [--out DIR] [--xlsx] [--json]`.

The FDA-style electronic sortable spreadsheet of a lot's trace (upstream and
downstream lots, all their Critical Tracking Events): one CSV per event type and,
with --xlsx, one workbook with a sheet per event type.

Exit codes: 0 written, 3 unknown lot, 2 database not reachable or not migrated.
"""

from __future__ import annotations

import sys
from pathlib import Path

from foodtrace.cli.output import (
    add_json_flag,
    database_errors,
    database_failure,
    print_json,
    print_table,
)

EXIT_NOT_FOUND = 3


def register(sub) -> None:
    p = sub.add_parser("export", help="exports for regulators (FSMA 204 sortable spreadsheet)")
    esub = p.add_subparsers(dest="export_kind", metavar="KIND", required=True)
    f = esub.add_parser(
        "fsma",
        help="the FDA-style sortable spreadsheet of a lot's trace (CSV per event type)",
        description="Write the electronic sortable spreadsheet (21 CFR 1.1455) of LOT's trace: "
        "every lot upstream and downstream and all their Critical Tracking Events, one CSV "
        "per event type, times in UTC.",
    )
    f.add_argument("lot_code", metavar="LOT", help="traceability lot code")
    f.add_argument(
        "--out", type=Path, default=None, help="directory to write into (default ./fsma204_<LOT>)"
    )
    f.add_argument("--xlsx", action="store_true", help="also write one .xlsx, a sheet per type")
    add_json_flag(f)
    f.set_defaults(handler=run_fsma)


def run_fsma(args) -> int:

    from foodtrace.alerts.fsma_export import _safe, export
    from foodtrace.db import connect
    from foodtrace.trace.api import LotNotFound

    out = args.out or Path(f"fsma204_{_safe(args.lot_code)}")
    try:
        with connect(autocommit=True) as conn:
            result = export(conn, args.lot_code, out, xlsx=args.xlsx)
    except LotNotFound as exc:
        print(f"foodtrace: {exc}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except database_errors() as exc:
        return database_failure(exc, "trace functions")
    if args.json:
        print_json(result.to_json())
        return 0
    print(
        f"FSMA 204 spreadsheet of lot {result.lot_code} ({len(result.lots)} lot(s) traced) "
        f"written to {result.directory}/"
    )
    print_table(
        [
            {"event type": f["event_type"], "rows": f["rows"], "file": f["path"]}
            for f in result.files
        ],
        ["event type", "rows", "file"],
    )
    if result.xlsx:
        print(f"workbook: {result.xlsx}")
    return 0
