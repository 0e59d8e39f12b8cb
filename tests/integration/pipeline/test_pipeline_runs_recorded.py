"""Every pipeline step records its run in ops.pipeline_runs (the pipeline panel of
the ingest dashboard reads it): under Airflow with the DAG, run and task the step
ran in (the DAGs really run, in a subprocess), directly with mode 'direct', and a
failing step as 'failed' with its error."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from pipeline_helpers import land_day, run_driver, simulated_day
from psycopg.rows import dict_row

from foodtrace.db import connect
from foodtrace.pipeline.steps import link_step, run_once


def _runs(url: str) -> list[dict]:
    with psycopg.connect(url) as conn, conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT step, mode, dag_id, dag_run_id, task_id, try_number, state, error, summary,"
            " started_at, finished_at FROM ops.pipeline_runs ORDER BY started_at"
        ).fetchall()


def test_airflow_tasks_record_their_dag_run(fresh_db_url: str, airflow_home: Path) -> None:
    with connect(fresh_db_url) as conn:
        land_day(conn, simulated_day(scale=0.3, seed=11, incident=None))
    runs = run_driver(
        airflow_home, "run", "foodtrace_validate", "foodtrace_link", database_url=fresh_db_url
    )
    assert [r["state"] for r in runs] == ["success", "success"]
    rows = _runs(fresh_db_url)
    assert [(r["step"], r["mode"], r["dag_id"], r["task_id"], r["state"]) for r in rows] == [
        ("validate", "airflow", "foodtrace_validate", "validate", "success"),
        ("link", "airflow", "foodtrace_link", "link", "success"),
    ]
    assert all(r["dag_run_id"] and r["finished_at"] >= r["started_at"] for r in rows)
    assert rows[0]["summary"]["promoted"] > 0  # the step's own result, as its XCom


def test_direct_runs_and_failures_are_recorded(
    fresh_db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("FOODTRACE_MQTT_URL", raising=False)
    monkeypatch.delenv("AIRFLOW_CTX_DAG_ID", raising=False)
    run_once(fresh_db_url, report_dir=tmp_path)
    rows = _runs(fresh_db_url)
    assert [(r["step"], r["mode"], r["dag_id"], r["state"]) for r in rows] == [
        ("validate", "direct", None, "success"),
        ("link", "direct", None, "success"),
        ("alert", "direct", None, "success"),
        ("withdrawals", "direct", None, "success"),
    ]

    def broken(conn):
        raise RuntimeError("lot graph unavailable")

    monkeypatch.setattr("foodtrace.trace.link.link", broken)
    with pytest.raises(RuntimeError):
        link_step(fresh_db_url)
    failed = _runs(fresh_db_url)[-1]
    assert (failed["step"], failed["state"]) == ("link", "failed")
    assert failed["error"] == "RuntimeError: lot graph unavailable"
