"""Fixtures for the withdrawal tests: the alerts tests' known supply chain (a
database of the test's own) and their helpers."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for helper_dir in (HERE.parent / "alerts", HERE.parent / "ingest"):
    if str(helper_dir) not in sys.path:
        sys.path.insert(0, str(helper_dir))

from alerts_helpers import aconn, chain  # noqa: E402,F401  (fixtures, used by name)
