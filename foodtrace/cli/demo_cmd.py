"""`foodtrace demo`: the whole story on the embedded default."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from foodtrace.cli.output import add_json_flag

if TYPE_CHECKING:
    import argparse

    from foodtrace.cli.output import Subcommands


def register(sub: Subcommands) -> None:
    p = sub.add_parser(
        "demo",
        help="the whole story on the embedded default: no services needed",
        description="Simulate a Pearl River Delta day with a contamination incident, ingest "
        "it over MQTT, validate, link and trace it, raise the alert and write its CAP file "
        "and FDA sortable spreadsheet, send the withdrawal notices and let the simulated "
        "businesses answer them (compressed clock), and end with the withdrawal progress "
        "per city. Uses FOODTRACE_DATABASE_URL / FOODTRACE_MQTT_URL "
        "when set, an embedded PostgreSQL and MQTT broker otherwise.",
    )
    p.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument(
        "--date",
        type=date.fromisoformat,
        default=date(2026, 11, 27),
        metavar="YYYY-MM-DD",
        help="the simulated day (default 2026-11-27)",
    )
    p.add_argument("--scale", type=float, default=0.3, help="size of the simulated network")
    p.add_argument(
        "--incident", default="pesticide", choices=("pesticide", "clenbuterol", "malachite_green")
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_json_flag(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from foodtrace.config import Settings
    from foodtrace.demo import run_demo

    return run_demo(
        args.out,
        seed=args.seed,
        day=args.date,
        scale=args.scale,
        incident=args.incident,
        as_json=args.json,
        quiet=args.quiet,
        settings=Settings.from_env(),
    )
