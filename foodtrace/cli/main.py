"""`foodtrace` command line. Each subcommand lives in its own module under
foodtrace/cli and registers itself; heavy imports stay inside the handlers so
`foodtrace --help` is fast."""

from __future__ import annotations

import argparse
import importlib
import sys

from foodtrace.config import ConfigError

# Order is the order shown in --help.
SUBCOMMANDS = [
    "db",
    "ingest",
    "serve",
    "publish",
    "simulate",
    "pipeline",
    "trace",
    "alerts",
    "withdrawals",
    "drill",
    "export",
    "report",
    "scorecard",
    "grafana",
    "demo",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="foodtrace",
        description="Food-safety traceability and emergency data pipeline.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"foodtrace.cli.{name}_cmd").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except ConfigError as exc:
        print(f"foodtrace: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
