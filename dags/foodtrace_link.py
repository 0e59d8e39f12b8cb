"""Batch path, step 2: derive the lot graph for what was promoted.

Scheduled on foodtrace_core_promoted; announces foodtrace_lot_graph (through an
asset alias) only when anything was linked or an open alert was queued for
re-scoping. Wiring only: the work is foodtrace.pipeline.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag, task

from foodtrace.pipeline.assets import CORE_PROMOTED, DEFAULT_ARGS, LINKED_EVENTS


@dag(
    dag_id="foodtrace_link",
    schedule=[CORE_PROMOTED],
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["foodtrace"],
    doc_md=__doc__,
)
def foodtrace_link() -> None:
    @task(outlets=[LINKED_EVENTS], multiple_outputs=False)
    def link(*, outlet_events: Any = None) -> dict[str, Any]:
        from foodtrace.pipeline import dag_tasks

        return dag_tasks.link(outlet_events=outlet_events)

    link()


foodtrace_link()
