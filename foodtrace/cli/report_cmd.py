"""`foodtrace report ALERT_ID --html FILE`: the incident report of one alert, a
self-contained HTML page anyone can open (no network, no Grafana).

Exit codes: 0 written, 2 database not reachable / not migrated, 3 unknown alert,
4 the file cannot be written.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from foodtrace.cli.output import (
    EXIT_NOT_FOUND,
    add_json_flag,
    database_errors,
    database_failure,
    print_json,
)

if TYPE_CHECKING:
    import argparse

    from foodtrace.cli.output import Subcommands

EXIT_WRITE = 4  # the report could not be written


def register(sub: Subcommands) -> None:
    p = sub.add_parser(
        "report",
        help="an alert's incident report as one self-contained HTML page",
        description="Write the incident report of an alert: the alert (Chinese first, English "
        "beside), its versions, the trace as a graph, a map of the affected places, the "
        "places with quantities, the findings and the CAP messages sent. One HTML file with "
        "inline CSS and SVG: it opens without a network.",
    )
    p.add_argument("alert_id", metavar="ALERT_ID", help="alert id (or a unique prefix)")
    p.add_argument("--html", required=True, type=Path, metavar="FILE", help="where to write it")
    add_json_flag(p)
    p.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace) -> int:
    from foodtrace.alerts.store import AlertNotFound
    from foodtrace.db import connect
    from foodtrace.report.page import write

    try:
        with connect(autocommit=True) as conn:
            summary = write(conn, args.alert_id, args.html)
    except AlertNotFound as exc:
        print(f"foodtrace: {exc}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except OSError as exc:
        print(f"foodtrace: cannot write the report to {args.html}: {exc}", file=sys.stderr)
        return EXIT_WRITE
    except database_errors() as exc:
        return database_failure(exc, "alert tables")
    if args.json:
        print_json(summary)
    else:
        print(f"事件报告已写入 incident report written: {summary['file']}")
        print(
            f"  alert {summary['alert_id']} v{summary['version']}: {summary['trace_lots']} lots "
            f"drawn, {summary['places']} places, {len(summary['affected_cities'])} cities, "
            f"{summary['findings']} findings, {summary['cap_messages']} CAP messages"
        )
    return 0
