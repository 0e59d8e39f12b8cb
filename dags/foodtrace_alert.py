"""Batch path, step 3: raise, upgrade, clear or re-scope alerts and publish them.

Scheduled on foodtrace_lot_graph (the linking DAG's announcement). Publishes only
when FOODTRACE_MQTT_URL is set. Wiring only: the work is foodtrace.pipeline.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag, task

from foodtrace.pipeline.assets import ALERTS, DEFAULT_ARGS, LOT_GRAPH


@dag(
    dag_id="foodtrace_alert",
    schedule=[LOT_GRAPH],
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["foodtrace"],
    doc_md=__doc__,
)
def foodtrace_alert() -> None:
    @task(outlets=[ALERTS], multiple_outputs=False)
    def alert() -> dict[str, Any]:
        from foodtrace.pipeline import dag_tasks

        return dag_tasks.alert()

    alert()


foodtrace_alert()
