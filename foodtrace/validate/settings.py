"""Validation's settings from the environment, read by the entry points only.

`validate_and_promote` takes the report folder as a parameter; the pipeline step
(and whatever else starts a run) reads FOODTRACE_REPORT_DIR once, here, and passes
it down, so nothing below the entry point looks at os.environ.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

REPORT_DIR_ENV = "FOODTRACE_REPORT_DIR"
# Where reports go when nobody says: a folder of the machine's temp directory.
TEMP_REPORT_DIR = Path(tempfile.gettempdir()) / "foodtrace" / "validation-reports"


def report_dir_from_env(environ: Mapping[str, str] | None = None) -> Path:
    """FOODTRACE_REPORT_DIR when it is set (and not empty), else TEMP_REPORT_DIR."""
    value = (os.environ if environ is None else environ).get(REPORT_DIR_ENV)
    return Path(value) if value else TEMP_REPORT_DIR
