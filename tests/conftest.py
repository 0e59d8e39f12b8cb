"""Shared fixtures: the real PostgreSQL on this machine and a real Mosquitto
running the project's shipped configuration.

PostgreSQL: FOODTRACE_TEST_PG_URL (default postgresql://postgres@127.0.0.1:5432/postgres)
must reach a server where we may CREATE DATABASE; each test session gets its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from devservices import (
    ADMIN_URL,
    MosquittoBroker,
    create_database,
    drop_database,
    migrated_database,
)

from foodtrace.db import connect

SHARED = Path(__file__).resolve().parents[2] / "shared"

# Users of the test broker; the password is per run, never in the repo.
BROKER_USERS = [
    "foodtrace-ingest",
    "foodtrace-pipeline",
    "foodtrace-registry",
    "foodtrace-simulator",
    "emergency-office",
    "lab-gz-01",
    "lab-sz-02",
    "farm-zq-01",
    "packer-gz-01",
    "dist-fs-01",
    "market-gz-01",
    "retail-sz-01",
]


def _url_for(dbname: str) -> str:
    return psycopg.conninfo.make_conninfo(ADMIN_URL, dbname=dbname)


@pytest.fixture(scope="session")
def db_url() -> Iterator[str]:
    """A migrated database for the whole session."""
    with migrated_database() as url:
        yield url


@pytest.fixture
def fresh_db_url() -> Iterator[str]:
    """A migrated database of the test's own, for tests that need it empty."""
    with migrated_database() as url:
        yield url


@pytest.fixture
def empty_db_url() -> Iterator[str]:
    """A database with no schema at all (for migration tests)."""
    name = create_database()
    yield _url_for(name)
    drop_database(name)


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    with connect(db_url) as c:
        yield c


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    """Mosquitto with deploy/mosquitto config (auth + ACLs), for the whole session."""
    users = {u: uuid.uuid4().hex for u in BROKER_USERS}
    b = MosquittoBroker(tmp_path_factory.mktemp("mosquitto"), users).start()
    yield b
    b.stop()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A broker of the test's own, which the test may restart."""
    users = {u: uuid.uuid4().hex for u in BROKER_USERS}
    b = MosquittoBroker(tmp_path / "mosquitto", users).start()
    yield b
    b.stop()
