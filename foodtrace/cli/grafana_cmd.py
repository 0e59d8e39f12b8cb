"""`foodtrace grafana publish` and `foodtrace grafana check`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from foodtrace.cli.output import add_json_flag, print_json, print_table

if TYPE_CHECKING:
    import argparse

    from foodtrace.cli.output import Subcommands


def register(sub: Subcommands) -> None:
    g = sub.add_parser("grafana", help="Grafana dashboards and datasource")
    gsub = g.add_subparsers(dest="grafana_command", metavar="ACTION", required=True)

    pub = gsub.add_parser(
        "publish",
        help="push the dashboards and the datasource to a Grafana through its HTTP API",
        description=(
            "Create or update the 'foodtrace' folder, the PostgreSQL datasource (uid "
            "foodtrace-pg, logging in as the read-only reader user) and every dashboard "
            "(overwrite). Grafana: --url or FOODTRACE_GRAFANA_URL; credentials: "
            "FOODTRACE_GRAFANA_TOKEN (service account token) or user:password in the URL. "
            "Datasource: FOODTRACE_READER_DB_PASSWORD (required), FOODTRACE_READER_DB_USER "
            "(grafana_reader), FOODTRACE_GRAFANA_DB_HOST (timescaledb:5432, as Grafana's "
            "server reaches it), FOODTRACE_GRAFANA_DB_NAME (foodtrace), "
            "FOODTRACE_GRAFANA_DB_SSLMODE (disable), FOODTRACE_GRAFANA_TIMESCALEDB (true). "
            "Language: --language or FOODTRACE_GRAFANA_LANGUAGE, zh-CN (default) or en."
        ),
    )
    pub.add_argument("--url", help="Grafana base URL (default: $FOODTRACE_GRAFANA_URL)")
    _add_language(pub)
    add_json_flag(pub)
    pub.set_defaults(handler=run_publish)

    chk = gsub.add_parser(
        "check",
        help="run every dashboard query against FOODTRACE_DATABASE_URL and report errors",
        description=(
            "Expand each panel's SQL the way Grafana's PostgreSQL datasource does (macros, "
            "variables) and run it with the connection's own privileges. Connect as the "
            "reader user to check what Grafana will see. Exit 1 when any query fails."
        ),
    )
    chk.add_argument("--lot", default="", help="value of the trace explorer's $lot")
    _add_language(chk)
    chk.add_argument(
        "--hours", type=float, default=24.0, help="time range: the last N hours (default 24)"
    )
    add_json_flag(chk)
    chk.set_defaults(handler=run_check)


def _add_language(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--language",
        choices=("zh-CN", "en"),
        help="dashboards in 简体中文 (zh-CN) or English (en); default: "
        "$FOODTRACE_GRAFANA_LANGUAGE, else zh-CN",
    )


def run_publish(args: argparse.Namespace) -> int:
    from grafana_client.client import GrafanaException

    from foodtrace.config import Settings
    from foodtrace.grafana.model import ReaderDatabase, datasource_payload, load_dashboards
    from foodtrace.grafana.publish import GRAFANA_URL_ENV, grafana_api, publish, redact

    environ = Settings.from_env().environ
    url = args.url or environ.get(GRAFANA_URL_ENV, "")
    datasource = datasource_payload(ReaderDatabase.from_env(environ))
    api = grafana_api(url, environ=environ)
    try:
        dashboards = load_dashboards(args.language, environ)
        result = publish(api, datasource, dashboards, url_for_report=url)
    except GrafanaException as exc:
        print(
            f"foodtrace: Grafana at {redact(url)} refused the publish: {exc.message} "
            "(check the URL, that the token's service account has the Editor or Admin "
            "role, and that no provisioned datasource with uid foodtrace-pg is read-only)",
            file=sys.stderr,
        )
        return 1
    if args.json:
        print_json(result.to_json())
        return 0
    print(f"Grafana {result.grafana}: folder {result.folder}, datasource {result.datasource}")
    print_table(result.dashboards, ["uid", "title", "version", "url"])
    return 0


def run_check(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from foodtrace.config import Settings
    from foodtrace.db import connect
    from foodtrace.grafana.check import run_dashboard
    from foodtrace.grafana.model import load_dashboards
    from foodtrace.grafana.queries import TimeRange

    settings = Settings.from_env()

    span = timedelta(hours=args.hours)
    # Grafana picks the interval from the range and the panel width; ~1000 points.
    time_range = TimeRange.last(span, max(timedelta(seconds=1), span / 1000))
    results = []
    with connect(settings.database()) as conn:
        for dashboard in load_dashboards(args.language, settings.environ).values():
            results += run_dashboard(conn, dashboard, time_range, {"lot": args.lot})
    failed = [r for r in results if not r.ok]
    if args.json:
        print_json({"queries": [r.to_json() for r in results], "failed": len(failed)})
    else:
        rows = [r.to_json() | {"error": r.error or "ok"} for r in results]
        print_table(rows, ["dashboard", "panel", "rows", "error"])
        print(f"{len(results) - len(failed)} of {len(results)} queries ran")
    return 1 if failed else 0
