"""Printing for people and for machines (`--json`: JSON alone on stdout)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeAlias
from uuid import UUID


def _default(obj: Any) -> Any:
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, Decimal):
        return float(obj)
    if isinstance(obj, UUID):
        return str(obj)
    if isinstance(obj, bytes | memoryview):
        return bytes(obj).decode("utf-8", "replace")
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def dumps(data: Any) -> str:
    return json.dumps(data, default=_default, ensure_ascii=False, indent=2)


def print_json(data: Any) -> None:
    sys.stdout.write(dumps(data) + "\n")


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """A plain aligned table; good enough for terminals and logs."""
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float | Decimal):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(value)


# What each subcommand module's `register(sub)` receives (a string: argparse's
# class is generic only to the type checker).
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON (alone) on stdout")


# Exit codes every command means the same by (0 done, 1 failed, 2 configuration).
EXIT_DATABASE = 2  # the database is not reachable or not migrated
EXIT_NOT_FOUND = 3  # the alert, lot or notice asked for does not exist
EXIT_STATE = 4  # the change asked for is not allowed in the current state


def not_migrated_errors() -> tuple[type[Exception], ...]:
    """What a query raises on a database whose schema is missing or old."""
    import psycopg

    return (
        psycopg.errors.UndefinedFunction,
        psycopg.errors.UndefinedTable,
        psycopg.errors.InvalidSchemaName,
    )


def database_errors() -> tuple[type[Exception], ...]:
    """Everything `database_failure` explains: not migrated, or not reachable."""
    import psycopg

    return (*not_migrated_errors(), psycopg.OperationalError)


def database_failure(exc: Exception, missing: str) -> int:
    """Say what is wrong with the database and what to do; return the exit code.
    `missing`: what the command needs of the schema, e.g. "trace functions"."""
    if isinstance(exc, not_migrated_errors()):
        print(
            f"foodtrace: the database has no {missing} yet: run `foodtrace db migrate`",
            file=sys.stderr,
        )
    else:
        print(
            f"foodtrace: cannot reach the database ({exc}); check FOODTRACE_DATABASE_URL",
            file=sys.stderr,
        )
    return EXIT_DATABASE
