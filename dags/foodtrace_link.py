"""Derive the lot graph for what was promoted (pipeline step 2).

Scheduled on core_promoted (the validation DAG's outlet); emits lot_graph when
anything was linked. Wiring only: the work is foodtrace.pipeline.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from foodtrace.pipeline.assets import CORE_PROMOTED, DEFAULT_ARGS, LOT_GRAPH


@dag(
    dag_id="foodtrace_link",
    schedule=[CORE_PROMOTED],
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["foodtrace"],
    doc_md=__doc__,
)
def foodtrace_link():
    @task(multiple_outputs=False)
    def link() -> dict:
        from foodtrace.pipeline import link_step

        return link_step().as_dict()

    @task(outlets=[LOT_GRAPH], multiple_outputs=False)
    def announce_linked(result: dict) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        if not (result["events"] or result["lab_results"] or result.get("rescope_queued")):
            raise AirflowSkipException("nothing linked: the alerting DAG need not run")
        return result

    announce_linked(link())


foodtrace_link()
