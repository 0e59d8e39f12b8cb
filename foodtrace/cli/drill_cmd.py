"""`foodtrace drill`: a mock-recall drill on the configured services (or the
embedded default), with a report (foodtrace.withdrawals.drill).

Exit codes: 0 the drill ran and the notices reached exactly the ground truth's
businesses; 1 it ran but the scope was over- or under-inclusive, or no alert was
raised; 2 configuration, a database that cannot be reached, or a seed drilled
already on this database.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from foodtrace.cli.output import add_json_flag, print_json

if TYPE_CHECKING:
    import argparse

    from foodtrace.cli.output import Subcommands

DRILL_DATABASE = "foodtrace_drill"


def register(sub: Subcommands) -> None:
    p = sub.add_parser(
        "drill",
        help="mock-recall drill: a simulated incident, businesses answering, a report",
        description="Run a seeded simulated incident through the whole path (MQTT, ingest, "
        "pipeline, alert, withdrawal notices) with simulated businesses that answer with "
        "realistic delays (a few never answer), and print a report: time to alert, to the "
        "first and last notice, answers within the deadline, and the notice scope against "
        "the simulator's ground truth. Business delays and deadlines run on a compressed "
        "clock (--time-scale). Uses FOODTRACE_DATABASE_URL / FOODTRACE_MQTT_URL when set, "
        "an embedded PostgreSQL and MQTT broker otherwise.",
    )
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--date", type=date.fromisoformat, default=date(2026, 11, 27),
                   metavar="YYYY-MM-DD", help="the simulated day (default 2026-11-27)")
    p.add_argument("--scale", type=float, default=0.3, help="size of the simulated network")
    p.add_argument("--incident", default="pesticide",
                   choices=("pesticide", "clenbuterol", "malachite_green"))
    p.add_argument("--time-scale", type=float, default=None,
                   help="simulated seconds per real second for the businesses' answers and "
                   "the deadlines (default 21600: a 24 h deadline passes in 4 s)")
    p.add_argument("--silent-share", type=float, default=0.08,
                   help="share of businesses that never answer (at least one; default 0.08)")
    p.add_argument("--simulator-url", metavar="MQTT_URL",
                   help="login of the simulated world (labs, businesses: the broker's "
                   "foodtrace-simulator user); default FOODTRACE_MQTT_URL")
    p.add_argument("--ingest-url", metavar="MQTT_URL",
                   help="login of the drill's own ingest worker; default FOODTRACE_MQTT_URL")
    p.add_argument("--external-ingest", action="store_true",
                   help="start no ingest worker: the deployment's workers ingest")
    p.add_argument("--out", type=Path, default=Path("out/drill"),
                   help="working folder (embedded database, validation reports)")
    add_json_flag(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import psycopg

    from foodtrace.config import Settings, parse_mqtt_url
    from foodtrace.db import connect, migrate
    from foodtrace.demo import demo_services
    from foodtrace.ingest.mqtt_client import MqttConnectError
    from foodtrace.withdrawals.drill import (
        DEFAULT_TIME_SCALE,
        DrillError,
        DrillOptions,
        Logins,
        report_lines,
        run_drill,
    )

    if args.time_scale is not None and args.time_scale <= 0:
        print("foodtrace: --time-scale must be positive", file=sys.stderr)
        return 2
    if not 0 <= args.silent_share < 1:
        print("foodtrace: --silent-share must be in [0, 1)", file=sys.stderr)
        return 2
    options = DrillOptions(seed=args.seed, day=args.date, scale=args.scale,
                           incident=args.incident,
                           time_scale=args.time_scale or DEFAULT_TIME_SCALE,
                           silent_share=args.silent_share)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    say = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    try:
        with demo_services(out, database=DRILL_DATABASE,
                           settings=Settings.from_env()) as services:
            if services.embedded:
                say(f"started: {', '.join(services.embedded)}")
            with connect(services.database_url) as conn:
                migrate(conn)
            base = services.mqtt
            logins = Logins(
                simulator=parse_mqtt_url(args.simulator_url) if args.simulator_url else base,
                ingest=None if args.external_ingest else (
                    parse_mqtt_url(args.ingest_url) if args.ingest_url else base),
                pipeline=base)
            report = run_drill(services.database_url, logins, options,
                               report_dir=out / "validation-reports", say=say)
    except psycopg.OperationalError as exc:
        print(f"foodtrace: cannot reach the database: {str(exc).strip().splitlines()[0]}. "
              "Check FOODTRACE_DATABASE_URL and that PostgreSQL runs.", file=sys.stderr)
        return 2
    except MqttConnectError as exc:
        print(f"foodtrace: cannot use the MQTT broker: {exc}", file=sys.stderr)
        return 2
    except DrillError as exc:
        print(f"foodtrace: {exc}", file=sys.stderr)
        return 2
    scope = report["figures"]["scope"]
    ok = report["alert_id"] is not None and not scope["over_included"] \
        and not scope["under_included"]
    if args.json:
        print_json(report)
    else:
        for line in report_lines(report):
            print(line)
    return 0 if ok else 1
