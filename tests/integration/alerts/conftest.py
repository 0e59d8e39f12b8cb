"""Fixtures for the alerts integration tests: a database of the test's own (the
engine judges every pending lab result in a database, so tests must not share one)
with the known supply chain of alerts_helpers promoted and linked."""

from __future__ import annotations

from alerts_helpers import aconn, chain  # noqa: F401  (fixtures, used by name)
