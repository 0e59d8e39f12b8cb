"""Fixtures for the report tests: the alerts tests' known supply chain (a database
of the test's own) and their helpers."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

ALERTS_HELPERS = Path(__file__).resolve().parent.parent / "alerts"
if str(ALERTS_HELPERS) not in sys.path:
    sys.path.insert(0, str(ALERTS_HELPERS))

from alerts_helpers import Chain, build_chain  # noqa: E402

from foodtrace.db import connect  # noqa: E402


@pytest.fixture
def aconn(fresh_db_url: str) -> Iterator[psycopg.Connection]:
    with connect(fresh_db_url) as c:
        yield c


@pytest.fixture
def chain(aconn: psycopg.Connection) -> Chain:
    return build_chain(aconn)
