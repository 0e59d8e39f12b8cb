"""Batch path, step 1: validate what landed and promote it to core.

Runs when the landing asset gets an event: its LISTEN/NOTIFY watcher fires within
a second or two of an ingest commit of master data or chain events. Validates
every kind (a manual run, e.g. `foodtrace pipeline run`, is the whole pipeline
once); lab results normally go through foodtrace_lab_results first. Announces
foodtrace_core_promoted (through an asset alias) only when something was promoted,
so the linking DAG does not run for nothing. Wiring only: foodtrace.pipeline.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag, task

from foodtrace.pipeline.assets import DEFAULT_ARGS, LANDING, PROMOTED_EVENTS


@dag(
    dag_id="foodtrace_validate",
    schedule=[LANDING],
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["foodtrace"],
    doc_md=__doc__,
)
def foodtrace_validate() -> None:
    @task(outlets=[PROMOTED_EVENTS], multiple_outputs=False)
    def validate(*, outlet_events: Any = None) -> dict[str, Any]:
        from foodtrace.pipeline import dag_tasks

        return dag_tasks.validate(outlet_events=outlet_events)

    validate()


foodtrace_validate()
