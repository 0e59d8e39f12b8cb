"""The DAG files: they import through Airflow's DagBag without errors, form no
cycles, parse fast without loading great_expectations or pandas, and wire the
assets and lanes as documented (the lab-result lane, the batch path's watcher and
asset chain announced through aliases, the sweep of its own)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pipeline_helpers import run_driver

from foodtrace.pipeline.airflow_run import ALL_DAG_IDS, dags_folder


@pytest.fixture(scope="module")
def parsed(airflow_home: Path) -> dict[str, Any]:
    return run_driver(airflow_home, "dags")


def test_every_dag_file_imports(parsed: dict[str, Any]) -> None:
    assert parsed["import_errors"] == {}
    # __init__.py makes dags/ the package foodtrace.dags; it defines no DAG
    files = {p.name for p in dags_folder().glob("*.py")} - {"__init__.py"}
    assert set(parsed["file_seconds"]) - {"__init__.py"} == files
    assert set(parsed["dags"]) == set(ALL_DAG_IDS)
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
    assert validate["timetable"] == "AssetTriggeredTimetable"
    assert validate["schedule_assets"] == [
        {
            "name": "foodtrace_landing",
            "uri": "postgres://foodtrace:5432/foodtrace/landing/validation_queue",
            "watchers": ["LandingNotifyTrigger"],
        }
    ]
    # the step tasks announce themselves, through aliases: no announce_* tasks
    assert list(validate["tasks"]) == ["validate"] and list(link["tasks"]) == ["link"]
    assert validate["tasks"]["validate"]["outlets"] == ["foodtrace_core_promoted_events"]
    assert [a["name"] for a in link["schedule_assets"]] == ["foodtrace_core_promoted"]
    assert link["tasks"]["link"]["outlets"] == ["foodtrace_lot_graph_events"]
    assert [a["name"] for a in alert["schedule_assets"]] == ["foodtrace_lot_graph"]
    assert alert["tasks"]["alert"]["outlets"] == ["foodtrace_alerts"]


def test_the_lanes(parsed: dict[str, Any]) -> None:
    """The lab-result lane runs continuously, its one task the three steps; the
    sweep every 5 minutes, validate >> link >> alert >> withdrawals; neither has assets (nothing
    else waits for them)."""
    lane, sweep = parsed["dags"]["foodtrace_lab_results"], parsed["dags"]["foodtrace_sweep"]
    assert lane["timetable"] == "ContinuousTimetable"
    assert list(lane["tasks"]) == ["lab_result_to_alert"]
    assert sweep["timetable"] == "CronTriggerTimetable" and "*/5 * * * *" in sweep["cron"]
    assert {t: d["upstream"] for t, d in sweep["tasks"].items()} == {
        "validate": [],
        "link": ["validate"],
        "alert": ["link"],
        "withdrawals": ["alert"],
    }
    for dag in (lane, sweep):
        assert dag["schedule_assets"] == []
        assert all(d["outlets"] == [] for d in dag["tasks"].values())


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
