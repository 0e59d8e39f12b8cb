"""A database of this folder's own: migrated, seeded with a small incident through
the pipeline steps that exist (dash_seed), shared by the dashboard tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from dash_seed import Seeded, answer_notices, seed

from foodtrace.db import connect, migrate
from foodtrace.pipeline.steps import alert_step, link_step, withdrawal_step

ADMIN_URL = os.environ.get("FOODTRACE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="module")
def seeded_db() -> Iterator[tuple[str, Seeded]]:
    name = f"ft_dash_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = psycopg.conninfo.make_conninfo(ADMIN_URL, dbname=name)
    try:
        with connect(url) as conn:
            migrate(conn)
            seeded = seed(conn)
            conn.commit()
            answer_notices(conn)
        # The real pipeline steps record their runs (ops.pipeline_runs); nothing new
        # to do for them here, which is a run all the same.
        link_step(url)
        alert_step(url, mqtt=None)
        withdrawal_step(url, mqtt=None)
        yield url, seeded
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def reader_conn(seeded_db: tuple[str, Seeded]) -> Iterator[psycopg.Connection]:
    """A connection that has become foodtrace_reader (as Grafana's login user would be)."""
    with connect(seeded_db[0]) as conn:
        conn.execute("SET ROLE foodtrace_reader")
        conn.commit()
        yield conn
