"""Run in a subprocess by the pipeline tests: Airflow configures logging and global
state when imported, so it never loads into the pytest process itself.

    python airflow_driver.py HOME dags      # parse dags/ and describe them (JSON)
    python airflow_driver.py HOME run DAG_ID[:TASK] ...   # dag.test() each, in order (JSON)
    python airflow_driver.py HOME trigger   # LandingNotifyTrigger: time to first event

The database URL comes from FOODTRACE_DATABASE_URL. JSON goes to stdout, alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from pathlib import Path

RESULT_TASK = {
    "foodtrace_validate": "validate",
    "foodtrace_link": "link",
    "foodtrace_alert": "alert",
    # the lab-result lane: one task, the three steps; the sweep: its alert step
    "foodtrace_lab_results": "lab_result_to_alert",
    "foodtrace_sweep": "alert",
}


def describe_dags() -> dict:
    before = set(sys.modules)
    started = time.perf_counter()
    from airflow.dag_processing.dagbag import DagBag

    from foodtrace.pipeline.airflow_run import dags_folder

    imported_airflow = time.perf_counter()
    bag = DagBag(dag_folder=str(dags_folder()))
    parsed = time.perf_counter()
    from airflow.sdk.definitions.asset import Asset, AssetAlias

    def assets(condition) -> list[dict]:
        found = []
        stack = [] if condition is None else [condition]
        while stack:
            obj = stack.pop()
            stack.extend(getattr(obj, "objects", ()))
            if isinstance(obj, Asset):
                found.append(
                    {
                        "name": obj.name,
                        "uri": obj.uri,
                        "watchers": [type(w.trigger).__name__ for w in obj.watchers],
                    }
                )
        return found

    dags = {}
    for dag_id, dag in bag.dags.items():
        from airflow.sdk.definitions._internal.abstractoperator import AbstractOperator

        cycle = None
        try:
            dag.check_cycle()
        except Exception as exc:
            cycle = f"{type(exc).__name__}: {exc}"
        timetable = dag.timetable
        sweep = getattr(timetable, "timetable", None)
        dags[dag_id] = {
            "fileloc": Path(dag.fileloc).name,
            "timetable": type(timetable).__name__,
            "schedule_assets": assets(getattr(timetable, "asset_condition", None)),
            "sweep": None if sweep is None else getattr(sweep, "_expression", repr(sweep)),
            "cron": getattr(timetable, "_expression", None) or repr(timetable),
            "max_active_runs": dag.max_active_runs,
            "catchup": dag.catchup,
            "cycle_error": cycle,
            "tasks": {
                t.task_id: {
                    "retries": t.retries,
                    "backoff": t.retry_exponential_backoff,
                    "outlets": [o.name for o in t.outlets if isinstance(o, Asset | AssetAlias)],
                    "upstream": sorted(t.upstream_task_ids),
                }
                for t in dag.tasks
                if isinstance(t, AbstractOperator)
            },
        }
    new = set(sys.modules) - before
    return {
        "import_errors": {k: v.splitlines()[-1] for k, v in bag.import_errors.items()},
        "file_seconds": {Path(s.file).name: s.duration.total_seconds() for s in bag.dagbag_stats},
        "airflow_import_seconds": imported_airflow - started,
        "parse_seconds": parsed - imported_airflow,
        "heavy_modules_loaded": sorted(
            m
            for m in new
            if m.split(".")[0] in ("pandas", "great_expectations", "numpy")
            or m.startswith(("foodtrace.validate", "foodtrace.alerts", "foodtrace.trace"))
        ),
        "dags": dags,
    }


def run(specs: list[str]) -> list[dict]:
    from foodtrace.pipeline.airflow_run import _quiet, ensure_metadata_db, execute_dag, load_dags

    with _quiet():
        ensure_metadata_db(Path(os.environ["AIRFLOW_HOME"]))
        dags = load_dags()
        out = []
        for spec in specs:
            dag_id, _, task = spec.partition(":")
            o = execute_dag(dags[dag_id], task or RESULT_TASK[dag_id])
            out.append(
                {
                    "dag_id": o.dag_id,
                    "state": o.state,
                    "tasks": o.task_states,
                    "result": o.result,
                    "asset_events": _asset_events(o.dag_id, o.run_id),
                }
            )
    return out


def _asset_events(dag_id: str, run_id: str) -> list[str]:
    """The names of the assets this run emitted an event for."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(AssetModel.name)
            .join(AssetEvent, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetEvent.source_dag_id == dag_id, AssetEvent.source_run_id == run_id)
            .all()
        )
    return sorted(r[0] for r in rows)


async def _first_event(timeout: float) -> dict:
    import psycopg

    from foodtrace.pipeline.triggers import LandingNotifyTrigger

    trigger = LandingNotifyTrigger(debounce_s=1.0)
    classpath, kwargs = trigger.serialize()
    events = trigger.run()

    async def land_later() -> float:
        await asyncio.sleep(1.0)
        first_commit = None
        async with await psycopg.AsyncConnection.connect(os.environ["FOODTRACE_DATABASE_URL"]) as c:
            for i in range(3):  # three commits in a burst: one event
                await c.execute(
                    "INSERT INTO landing.lab_results (message_id, lab_id, topic, payload) "
                    "VALUES (gen_random_uuid(), 'lab-x', 'foodtrace/v1/labs/lab-x/results', "
                    "%s::jsonb)",
                    (json.dumps({"n": i}),),
                )
                await c.commit()
                first_commit = first_commit or time.perf_counter()
        return first_commit

    lander = asyncio.create_task(land_later())
    first = await asyncio.wait_for(anext(events), timeout)
    got_at = time.perf_counter()
    committed_at = await lander
    try:
        second = await asyncio.wait_for(anext(events), 1.5)
    except TimeoutError:
        second = None
    await events.aclose()
    return {
        "classpath": classpath,
        "kwargs": kwargs,
        "event": first.payload,
        "latency_s": got_at - committed_at,
        "second_event": getattr(second, "payload", None),
    }


def main(argv: list[str]) -> None:
    home, command, *rest = argv
    os.environ["AIRFLOW_HOME"] = home
    from foodtrace.pipeline.airflow_run import configure_airflow

    configure_airflow(Path(home))
    real_stdout = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):  # Airflow's own output must not mix in
        if command == "dags":
            out = describe_dags()
        elif command == "run":
            out = run(rest)
        elif command == "trigger":
            out = asyncio.run(_first_event(15))
        else:
            raise SystemExit(f"unknown command {command}")
    real_stdout.write(json.dumps(out, default=str) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
