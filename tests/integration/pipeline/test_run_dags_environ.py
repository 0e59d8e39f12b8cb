"""run_dags hands its settings to the DAGs' tasks without touching os.environ: in a
process whose environment names no database, the tasks still validate and link
what landed in the database the settings name, and the report goes where the
caller said; afterwards the environment is what it was, but for the configuration
of third-party libraries, which they read from the environment only: Airflow's
(AIRFLOW_*, and the AIRFLOW_CTX_* task context its task runner exports) and
great_expectations' (GX_ANALYTICS_ENABLED, foodtrace.validate.suites)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pipeline_helpers import land_day, simulated_day

from foodtrace.db import connect

# Run in a subprocess: Airflow configures global state when imported (conftest).
SCRIPT = """
import json, os, sys
from pathlib import Path

from foodtrace.config import Settings
from foodtrace.pipeline.airflow_run import run_dags

home, url, reports, out = sys.argv[1:5]
before = dict(os.environ)
report = run_dags(Settings.from_env({"FOODTRACE_DATABASE_URL": url}), home=Path(home),
                  report_dir=Path(reports))
Path(out).write_text(json.dumps(
    {"before": before, "after": dict(os.environ), "report": report.as_dict()}))
"""


THIRD_PARTY = ("AIRFLOW", "GX_")  # module doc


def _ours(environ: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in environ.items() if not k.startswith(THIRD_PARTY)}


def test_run_dags_leaves_os_environ_unchanged(
    fresh_db_url: str, airflow_home: Path, tmp_path: Path
) -> None:
    small = simulated_day(scale=0.3, seed=11, incident=None)
    with connect(fresh_db_url) as conn:
        landed = land_day(conn, small)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOODTRACE_")}
    out = tmp_path / "out.json"
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(airflow_home), fresh_db_url,
         str(tmp_path / "reports"), str(out)],
        capture_output=True, text=True, env=env, timeout=240, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    got = json.loads(out.read_text())

    assert got["report"]["validate"]["promoted"] == landed
    assert got["report"]["link"]["events"] == len(small.chain_events)
    assert got["report"]["report_path"].startswith(str(tmp_path / "reports"))
    assert not [k for k in got["after"] if k.startswith("FOODTRACE_")]
    assert _ours(got["after"]) == _ours(got["before"])
