"""Fixtures for the pipeline tests.

Airflow configures logging and global state when imported, so the DAGs run in
subprocesses (airflow_driver.py, or the `foodtrace` command), never in the pytest
process. They share ONE Airflow home per session: its SQLite metadata database is
migrated by the first subprocess only (start-up is the slow part).
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def pipeline_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The --out folder of `foodtrace pipeline run`; its airflow-home is shared."""
    return tmp_path_factory.mktemp("pipeline-out")


@pytest.fixture(scope="session")
def airflow_home(pipeline_out: Path) -> Path:
    return pipeline_out / "airflow-home"
