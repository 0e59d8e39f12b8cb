"""Fixtures for trace tests: a ChainBuilder on the session database (graphs are
kept apart by a per-builder prefix) or on a database of the test's own."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from trace_helpers import ChainBuilder

from foodtrace.db import connect


@pytest.fixture
def chain(conn: psycopg.Connection) -> ChainBuilder:
    return ChainBuilder(conn)


@pytest.fixture
def fresh_conn(fresh_db_url: str) -> Iterator[psycopg.Connection]:
    with connect(fresh_db_url) as c:
        yield c


@pytest.fixture
def fresh_chain(fresh_conn: psycopg.Connection) -> ChainBuilder:
    return ChainBuilder(fresh_conn)
