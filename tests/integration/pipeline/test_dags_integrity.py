"""The DAG files: they import through Airflow's DagBag without errors, form no
cycles, parse fast without loading great_expectations or pandas, and wire the
assets as documented (event-driven landing watcher, sweep, asset chain)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pipeline_helpers import run_driver

from foodtrace.pipeline.airflow_run import DAG_ORDER, dags_folder


@pytest.fixture(scope="module")
def parsed(airflow_home: Path) -> dict[str, Any]:
    return run_driver(airflow_home, "dags")


def test_every_dag_file_imports(parsed: dict[str, Any]) -> None:
    assert parsed["import_errors"] == {}
    files = {p.name for p in dags_folder().glob("*.py")}
    assert set(parsed["file_seconds"]) == files
    assert set(parsed["dags"]) == {dag_id for dag_id, _ in DAG_ORDER}
    assert all(d["cycle_error"] is None for d in parsed["dags"].values())


def test_parsing_is_light(parsed: dict[str, Any]) -> None:
    for name, seconds in parsed["file_seconds"].items():
        assert seconds < 2.0, (name, seconds)
    # nothing heavy at parse time: the tasks import it when they run
    assert parsed["heavy_modules_loaded"] == []


def test_assets_chain_the_dags(parsed: dict[str, Any]) -> None:
    dags = parsed["dags"]
    validate, link, alert = (
        dags["foodtrace_validate"],
        dags["foodtrace_link"],
        dags["foodtrace_alert"],
    )
    assert validate["timetable"] == "AssetOrTimeSchedule"
    assert validate["schedule_assets"] == [
        {
            "name": "foodtrace_landing",
            "uri": "postgres://foodtrace:5432/foodtrace/landing/validation_queue",
            "watchers": ["LandingNotifyTrigger"],
        }
    ]
    assert "*/5 * * * *" in validate["sweep"] and "*/5 * * * *" in alert["sweep"]
    assert validate["tasks"]["announce_promoted"]["outlets"] == ["foodtrace_core_promoted"]
    assert [a["name"] for a in link["schedule_assets"]] == ["foodtrace_core_promoted"]
    assert link["tasks"]["announce_linked"]["outlets"] == ["foodtrace_lot_graph"]
    assert [a["name"] for a in alert["schedule_assets"]] == ["foodtrace_lot_graph"]
    assert alert["tasks"]["alert"]["outlets"] == ["foodtrace_alerts"]


def test_tasks_retry_with_backoff_one_run_at_a_time(parsed: dict[str, Any]) -> None:
    for dag in parsed["dags"].values():
        assert dag["max_active_runs"] == 1 and dag["catchup"] is False
        for task in dag["tasks"].values():
            assert task["retries"] >= 3 and task["backoff"] >= 2


def test_dag_files_stay_thin() -> None:
    for path in dags_folder().glob("*.py"):
        code = [
            ln
            for ln in Path(path).read_text().splitlines()
            if ln.strip() and not ln.strip().startswith("#")
        ]
        assert len(code) < 60, path
        assert "psycopg" not in path.read_text() and "SELECT" not in path.read_text()
