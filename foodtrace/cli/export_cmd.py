"""`foodtrace export fsma LOT [--out DIR] [--csv DIR] [--json]`.

The FDA electronic sortable spreadsheet (21 CFR 1.1455) of a lot's trace: upstream
and downstream lots and all their Critical Tracking Events, as one workbook of 13
tabs (foodtrace/fsma/layout.py) and one CSV per tab beside it (or in --csv DIR).

Exit codes: 0 written, 3 unknown lot, 2 database not reachable or not migrated.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from foodtrace.cli.output import (
    EXIT_NOT_FOUND,
    add_json_flag,
    database_errors,
    database_failure,
    print_json,
    print_table,
)

if TYPE_CHECKING:
    from foodtrace.cli.output import Subcommands


def register(sub: Subcommands) -> None:
    p = sub.add_parser("export", help="exports for regulators (FSMA 204 sortable spreadsheet)")
    esub = p.add_subparsers(dest="export_kind", metavar="KIND", required=True)
    f = esub.add_parser(
        "fsma",
        help="FDA 电子可排序表格 the FDA sortable spreadsheet of a lot's trace (xlsx, CSV)",
        description="写出批次追溯的 FDA 电子可排序表格 Write the electronic sortable spreadsheet "
        "(21 CFR 1.1455) of LOT's trace: every lot upstream and downstream and all their "
        "Critical Tracking Events, one workbook of 13 tabs (an explanation sheet first), dates "
        "as recorded at each place with their UTC offset and in UTC.",
    )
    f.add_argument("lot_code", metavar="LOT", help="traceability lot code 可追溯批次代码")
    f.add_argument(
        "--out", type=Path, default=None,
        help="directory for the workbook and the CSVs (default ./fsma204_<LOT>)",
    )
    f.add_argument(
        "--csv", type=Path, default=None, metavar="DIR", dest="csv_dir",
        help="write the CSVs (one per tab, same headings, UTF-8 with BOM for Excel) into DIR "
        "instead of the --out directory",
    )
    # The workbook is always written now; --xlsx stays accepted for older scripts.
    f.add_argument("--xlsx", action="store_true", help=argparse.SUPPRESS)
    add_json_flag(f)
    f.set_defaults(handler=run_fsma)


def run_fsma(args: argparse.Namespace) -> int:
    from foodtrace.db import connect
    from foodtrace.fsma import export, safe_name
    from foodtrace.trace.api import LotNotFound

    out = args.out or Path(f"fsma204_{safe_name(args.lot_code)}")
    try:
        with connect(autocommit=True) as conn:
            result = export(conn, args.lot_code, out, csv_dir=args.csv_dir)
    except LotNotFound as exc:
        print(f"foodtrace: 批次未找到 lot not found: {exc}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except database_errors() as exc:
        return database_failure(exc, "trace functions")
    if args.json:
        print_json(result.to_json())
        return 0
    print(f"批次 {result.lot_code} 的 FSMA 204 表格（追溯 {len(result.lots)} 个批次）"
          f" FSMA 204 spreadsheet of lot {result.lot_code} ({len(result.lots)} lot(s) traced): "
          f"{result.xlsx}")
    print_table(
        [{"表 tab": f["title"], "行 rows": f["rows"], "CSV": f["path"]}
         for f in result.files],
        ["表 tab", "行 rows", "CSV"],
    )
    return 0
