"""A fresh database per test module, migrated and seeded with scorecard_seed: day1 and
day2 are the two Asia/Shanghai days before today, so `--days 3` covers both."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from scorecard_seed import SHANGHAI, Seeded, seed

from foodtrace.db import connect, migrate

ADMIN_URL = os.environ.get("FOODTRACE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="module")
def scorecard_db() -> Iterator[tuple[str, Seeded]]:
    name = f"ft_score_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = psycopg.conninfo.make_conninfo(ADMIN_URL, dbname=name)
    try:
        today = datetime.now(UTC).astimezone(SHANGHAI).date()
        with connect(url) as conn:
            migrate(conn)
            seeded = seed(conn, today - timedelta(days=2))
        yield url, seeded
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def reader(scorecard_db: tuple[str, Seeded]) -> Iterator[psycopg.Connection]:
    """A connection that has become foodtrace_reader (Grafana's and regulators' role)."""
    with connect(scorecard_db[0]) as conn:
        conn.execute("SET ROLE foodtrace_reader")
        conn.commit()
        yield conn
