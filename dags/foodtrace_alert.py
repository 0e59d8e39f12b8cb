"""Raise, upgrade or clear alerts and publish them (pipeline step 3).

Scheduled on lot_graph (the linking DAG's outlet), and every 5 minutes as a sweep
that retries alert messages a broker outage left in the outbox. Publishes only
when FOODTRACE_MQTT_URL is set. Wiring only: the work is foodtrace.pipeline.
"""

from __future__ import annotations

from airflow.sdk import AssetOrTimeSchedule, dag, task

from foodtrace.pipeline.assets import ALERTS, DEFAULT_ARGS, LOT_GRAPH, SWEEP


@dag(
    dag_id="foodtrace_alert",
    schedule=AssetOrTimeSchedule(timetable=SWEEP, assets=LOT_GRAPH),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["foodtrace"],
    doc_md=__doc__,
)
def foodtrace_alert():
    @task(outlets=[ALERTS], multiple_outputs=False)
    def alert() -> dict:
        from foodtrace.pipeline import alert_step

        return alert_step().as_dict()

    alert()


foodtrace_alert()
