"""Fixtures for validation tests: a database per test module.

Validation processes the whole queue, so a module's landing rows must not meet
another module's (or another team's tests') rows in the session database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from foodtrace.db import connect, migrate

ADMIN_URL = os.environ.get("FOODTRACE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="module")
def module_db_url() -> Iterator[str]:
    name = f"ft_val_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_conninfo(ADMIN_URL, dbname=name)
    with connect(url) as conn:
        migrate(conn)
    yield url
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def vconn(fresh_db_url: str) -> Iterator[psycopg.Connection]:
    """A connection to a database of the test's own."""
    with connect(fresh_db_url) as conn:
        yield conn
