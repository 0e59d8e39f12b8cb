"""foodtrace.db.rows.one on the real PostgreSQL: the row when there is one, a
NoRowError naming the query's status when a query expected to return a row
returns none (instead of a TypeError from indexing None)."""

from __future__ import annotations

import psycopg
import pytest

from foodtrace.db.rows import NoRowError, one


def test_one_returns_the_first_row(conn: psycopg.Connection) -> None:
    cur = conn.execute("SELECT n, n * 2 FROM generate_series(3, 5) AS n ORDER BY n")
    assert one(cur) == (3, 6)
    assert one(cur) == (4, 8)  # the next row, as fetchone()


def test_one_raises_a_clear_error_on_no_row(conn: psycopg.Connection) -> None:
    cur = conn.execute("SELECT 1 WHERE false")
    with pytest.raises(NoRowError, match=r"查询未返回行 / the query returned no row \(SELECT 0\)"):
        one(cur)


def test_one_raises_after_the_last_row(conn: psycopg.Connection) -> None:
    cur = conn.execute("SELECT 42")
    assert one(cur) == (42,)
    with pytest.raises(NoRowError):
        one(cur)
