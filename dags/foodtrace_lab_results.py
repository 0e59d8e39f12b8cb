"""Lab-result lane: a positive test to the emergency offices in one task.

    lab_result_to_alert: wait for a lab result, then validate (lab results) ->
                         link -> alert, the pipeline steps in that order

Continuous: one run at a time, the next created as soon as one ends. Its task is
already running, waiting (LISTEN), when a lab result lands, and runs the three
steps back to back: no trigger, no run creation and no task hand-off stand between
a lab's publish and the alert (two hand-offs cost ~1 s on the scheduler, which
is more than the steps; bench/e2e/README.md). The steps are the same idempotent
ones the batch path runs as a task each; a retry of this task redoes what is
left, and the sweep (foodtrace_sweep) covers anything a failed run leaves behind.
A run with no lab result in LAB_WAIT_S skips and the next one waits again.
Only lab results are validated here (foodtrace.validate.promote gives them a lock
of their own): a bulk of chain events on the batch path never holds them up.
Wiring only: the work is foodtrace.pipeline.dag_tasks.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag, task

from foodtrace.pipeline.assets import DEFAULT_ARGS, LAB_KINDS, LAB_WAIT_S, LANE_START_DATE


@dag(
    dag_id="foodtrace_lab_results",
    schedule="@continuous",
    start_date=LANE_START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["foodtrace"],
    doc_md=__doc__,
)
def foodtrace_lab_results() -> None:
    @task(multiple_outputs=False)
    def lab_result_to_alert(*, dag_run: Any = None, ti: Any = None) -> dict[str, Any]:
        from foodtrace.pipeline import dag_tasks

        return dag_tasks.lab_lane(kinds=LAB_KINDS, wait_s=LAB_WAIT_S, dag_run=dag_run, ti=ti)

    lab_result_to_alert()


foodtrace_lab_results()
