"""Airflow's own retry of a link task SIGKILLed mid-transaction, under the real
scheduler (issue 11, item 5): bench/faults/scheduler_retry.py as a subprocess
(Airflow configures global state when imported, so never in the pytest process).

The stack of bench/e2e/stack.py (api-server, scheduler with LocalExecutor,
dag-processor, triggerer) runs the packaged DAGs; link blocks on a row the script
holds, its task runner (not the supervisor) is SIGKILLed, and nobody but the
scheduler acts: try 1 must end up_for_retry, try 2 succeed, and the traces and
alerts (with versions, scope, outbox, notices), lot graph and findings must equal
an undisturbed run's over the same messages. 3-5 minutes on 2 cores, most of it
Airflow's start.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "bench" / "faults" / "scheduler_retry.py"

pytestmark = [pytest.mark.slow, pytest.mark.long]  # about 2 min: make test-long


def test_link_sigkilled_mid_transaction_is_retried_by_the_scheduler(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=900,
    )
    assert done.returncode in (0, 1), f"scheduler_retry.py failed:\n{done.stderr[-4000:]}"
    evidence = json.loads(done.stdout)
    print(done.stderr[-6000:])
    kill, tries = evidence["kill"], evidence["tries"]

    # the process killed is the task runner Airflow recorded, waiting inside link's
    # batch statement; its parent, the supervisor, lived on to report the exit
    assert kill["killed"]["pid"] == kill["ti_pid"]
    assert kill["killed"]["title"] == f"airflow worker -- {kill['ti_id']}", kill["killed"]
    assert "LocalExecutor" in kill["ancestry"][0]["title"], kill["ancestry"]
    assert kill["killed_exit_seen"] and kill["supervisor_alive_after"]
    assert "core.link_queue" in kill["waiting_query"]
    # the open batch had taken the chain events off the queue; the rollback put
    # them all back for try 2
    assert kill["queued_events_at_kill"] > 0
    assert kill["taken_at_kill"] == kill["queued_events_at_kill"] == kill["queued_events_after"]

    # Airflow's own retry: try 1 up_for_retry (archived as failed, Airflow's
    # task_instance_history keeps finished states only), try 2 success, same run
    assert kill["try_at_kill"] == 1
    assert [(t["try_number"], t["state"]) for t in tries["history"]] == [(1, "failed")]
    assert tries["history"][0]["pid"] == kill["killed"]["pid"]
    assert (tries["final"]["try_number"], tries["final"]["state"]) == (2, "success")
    assert tries["final"]["pid"] != kill["killed"]["pid"]
    assert "up_for_retry" in tries["states_seen"]
    assert evidence["retried_by_itself"]
    assert all("failed" not in states for states in evidence["dag_runs"].values())

    # the same traces and alerts as the undisturbed run
    counts = evidence["counts"]
    assert evidence["diff"] == [], "\n".join(evidence["diff"][:200])
    assert all(a == b for a, b in counts.values()), counts
    assert counts["alerts"][0] >= 1 and counts["lot_locations"][0] > 0
    assert counts["link_queue_left"] == [0, 0]
    assert evidence["same"]
    assert done.returncode == 0
