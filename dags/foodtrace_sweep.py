"""Sweep: the whole pipeline over whatever is left, every 5 minutes.

    validate (every kind) >> link >> alert >> withdrawals

The safety net next to the event-driven paths: rows whose notification was lost,
alert messages a broker outage left in the outbox (alert retries delivery);
withdrawal reports linked to their notices, overdue notices escalated. A DAG
of its own, so no event-driven run is ever queued behind a sweep run. Wiring only:
the work is foodtrace.pipeline.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag, task

from foodtrace.pipeline.assets import DEFAULT_ARGS, SWEEP


@dag(
    dag_id="foodtrace_sweep",
    schedule=SWEEP,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["foodtrace"],
    doc_md=__doc__,
)
def foodtrace_sweep() -> None:
    @task(multiple_outputs=False)
    def validate() -> dict[str, Any]:
        from foodtrace.pipeline import dag_tasks

        return dag_tasks.validate()

    @task(multiple_outputs=False)
    def link() -> dict[str, Any]:
        from foodtrace.pipeline import dag_tasks

        return dag_tasks.link()

    @task(multiple_outputs=False)
    def alert() -> dict[str, Any]:
        from foodtrace.pipeline import dag_tasks

        return dag_tasks.alert()

    @task(multiple_outputs=False)
    def withdrawals() -> dict[str, Any]:
        from foodtrace.pipeline import dag_tasks

        return dag_tasks.withdrawals()

    validate() >> link() >> alert() >> withdrawals()


foodtrace_sweep()
