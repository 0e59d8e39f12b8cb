"""The ops.pipeline_runs row of a step run (pure): Airflow's task context when the
step runs in a task, 'direct' otherwise, the error of a failed step."""

from __future__ import annotations

import json

from foodtrace.pipeline.runs import run_row


def test_a_step_in_an_airflow_task_records_its_dag_run() -> None:
    env = {
        "AIRFLOW_CTX_DAG_ID": "foodtrace_sweep",
        "AIRFLOW_CTX_DAG_RUN_ID": "scheduled__2026-12-03T00:05:00+00:00",
        "AIRFLOW_CTX_TASK_ID": "run",
        "AIRFLOW_CTX_TRY_NUMBER": "2",
    }
    row = run_row("alert", 100.0, 101.5, error=None, summary={"alerts": []}, environ=env)
    assert (row["mode"], row["dag_id"], row["task_id"], row["try_number"]) == (
        "airflow", "foodtrace_sweep", "run", 2
    )
    assert row["state"] == "success" and row["error"] is None
    assert (row["finished_at"] - row["started_at"]).total_seconds() == 1.5
    assert json.loads(row["summary"]) == {"alerts": []}


def test_a_direct_failed_step() -> None:
    row = run_row("link", 0.0, 1.0, error=ValueError("bad lot"), summary=None, environ={})
    assert (row["mode"], row["dag_id"], row["try_number"], row["state"]) == (
        "direct", None, None, "failed"
    )
    assert row["error"] == "ValueError: bad lot" and json.loads(row["summary"]) == {}
