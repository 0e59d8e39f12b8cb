"""Fixtures for the report tests: the alerts tests' known supply chain (a database
of the test's own) and their helpers."""

from __future__ import annotations

import sys
from pathlib import Path

ALERTS_HELPERS = Path(__file__).resolve().parent.parent / "alerts"
if str(ALERTS_HELPERS) not in sys.path:
    sys.path.insert(0, str(ALERTS_HELPERS))

from alerts_helpers import aconn, chain  # noqa: E402,F401  (fixtures, used by name)
