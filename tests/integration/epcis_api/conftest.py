"""Fixtures of the EPCIS REST interface tests (helpers in epcis_api_helpers.py).

The round trip publishes with the ingest tests' helpers (ingest_helpers.py), so
their folder is importable here too."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "ingest"))

import pytest
from epcis_api_helpers import ApiServer, serving


@pytest.fixture
def api(fresh_db_url: str, tmp_path: Path) -> Iterator[ApiServer]:
    """The API over a database of the test's own."""
    with serving(fresh_db_url, tmp_path) as server:
        yield server
