"""Fixtures for the alerts integration tests: a database of the test's own (the
engine judges every pending lab result in a database, so tests must not share one)
with the known supply chain of alerts_helpers promoted and linked."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from alerts_helpers import Chain, build_chain

from foodtrace.db import connect


@pytest.fixture
def aconn(fresh_db_url: str) -> Iterator[psycopg.Connection]:
    with connect(fresh_db_url) as c:
        yield c


@pytest.fixture
def chain(aconn: psycopg.Connection) -> Chain:
    return build_chain(aconn)
