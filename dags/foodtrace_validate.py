"""Validate what landed and promote it to core (pipeline step 1).

Runs when the landing asset gets an event: the LISTEN/NOTIFY watcher fires within
seconds of an ingest commit (event-driven), and every 5 minutes as a sweep for
held rows. Emits core_promoted only when something was promoted, so the linking
DAG does not run for nothing. Wiring only: the work is foodtrace.pipeline.
"""

from __future__ import annotations

from airflow.sdk import AssetOrTimeSchedule, dag, task

from foodtrace.pipeline.assets import CORE_PROMOTED, DEFAULT_ARGS, LANDING, SWEEP


@dag(
    dag_id="foodtrace_validate",
    schedule=AssetOrTimeSchedule(timetable=SWEEP, assets=LANDING),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["foodtrace"],
    doc_md=__doc__,
)
def foodtrace_validate():
    @task(multiple_outputs=False)
    def validate() -> dict:
        from foodtrace.pipeline import validate_step

        return validate_step().as_dict()

    @task(outlets=[CORE_PROMOTED], multiple_outputs=False)
    def announce_promoted(result: dict) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        if not result["promoted"]:
            raise AirflowSkipException("nothing promoted: the linking DAG need not run")
        return result

    announce_promoted(validate())


foodtrace_validate()
