"""`foodtrace db migrate`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from foodtrace.cli.output import add_json_flag, print_json

if TYPE_CHECKING:
    import argparse

    from foodtrace.cli.output import Subcommands


def register(sub: Subcommands) -> None:
    db = sub.add_parser("db", help="database schema")
    dbsub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    mig = dbsub.add_parser("migrate", help="create or upgrade the schema (idempotent)")
    add_json_flag(mig)
    mig.set_defaults(handler=run_migrate)


def run_migrate(args: argparse.Namespace) -> int:
    from foodtrace.db import connect, migrate

    with connect() as conn:
        applied = migrate(conn)
    if args.json:
        print_json({"applied": [f"{m.version:04d}_{m.name}" for m in applied]})
    elif applied:
        for m in applied:
            print(f"applied {m.version:04d}_{m.name}")
    else:
        print("schema is up to date")
    return 0
