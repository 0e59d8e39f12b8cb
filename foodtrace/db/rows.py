"""Reading rows: one place that turns "the query returned no row" into a clear error.

`cursor.fetchone()` is None when a query that should return a row returns none
(a lock function, a count, an INSERT ... RETURNING); indexing it then fails with
a TypeError far from the cause. `one` names the query's cursor instead."""

from __future__ import annotations

from typing import TypeVar

import psycopg

Row = TypeVar("Row")


class NoRowError(LookupError):
    """A query expected to return a row returned none."""


def one(cursor: psycopg.Cursor[Row]) -> Row:
    """The next row of `cursor`; NoRowError if there is none."""
    row = cursor.fetchone()
    if row is None:
        raise NoRowError(f"查询未返回行 / the query returned no row ({cursor.statusmessage})")
    return row
