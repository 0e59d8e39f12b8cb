"""The Airflow Assets, schedules and task defaults of the pipeline DAGs (dags/).

    lab results   foodtrace_lab_results (continuous): one task that waits for the
                  next lab result, then validates, links and alerts (no trigger,
                  no run to create, no task to start when a positive test lands)
    batch path    landing (watched: NOTIFY of master data / chain events)
                  --> foodtrace_validate --> core_promoted (only when something was)
                  --> foodtrace_link     --> lot_graph     (only when something was)
                  --> foodtrace_alert    --> alerts
    sweep         foodtrace_sweep (every 5 minutes): validate -> link -> alert over
                  everything (lost notifications, outbox messages a broker outage
                  left), a DAG of its own so no event-driven run waits behind it

URIs name the PostgreSQL tables each asset stands for, in the postgres provider's
form (postgres://host:port/database/schema/table); the host `foodtrace` is a
logical name, not a connection: the tasks connect with FOODTRACE_DATABASE_URL.
The batch path's validate and link tasks announce through an AssetAlias, so they
emit an asset event only when they promoted / linked something (a plain Asset
outlet is an event on every success), without a second task to decide it.
Imported by the DAG files at parse time: airflow.sdk only, nothing heavy.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Asset, AssetAlias, AssetWatcher, CronTriggerTimetable

from foodtrace.pipeline.triggers import LandingNotifyTrigger

_URI = "postgres://foodtrace:5432/foodtrace/{schema}/{table}"

# What the batch path's watcher wakes up for; lab results have their own lane.
BATCH_KINDS = ("master_data", "chain_event")
LAB_KINDS = ("lab_result",)

LANDING = Asset(
    name="foodtrace_landing",
    uri=_URI.format(schema="landing", table="validation_queue"),
    group="foodtrace",
    watchers=[
        AssetWatcher(
            name="foodtrace_landing_notify", trigger=LandingNotifyTrigger(kinds=BATCH_KINDS)
        )
    ],
)
CORE_PROMOTED = Asset(
    name="foodtrace_core_promoted",
    uri=_URI.format(schema="core", table="events"),
    group="foodtrace",
)
LOT_GRAPH = Asset(
    name="foodtrace_lot_graph",
    uri=_URI.format(schema="core", table="lot_edges"),
    group="foodtrace",
)
ALERTS = Asset(
    name="foodtrace_alerts",
    uri=_URI.format(schema="core", table="alerts"),
    group="foodtrace",
)
# The outlets of the batch path's validate and link tasks: an event of
# CORE_PROMOTED / LOT_GRAPH is added through these only when there is something.
PROMOTED_EVENTS = AssetAlias(name="foodtrace_core_promoted_events", group="foodtrace")
LINKED_EVENTS = AssetAlias(name="foodtrace_lot_graph_events", group="foodtrace")

# Safety net next to the event-driven paths: rows whose notification was lost are
# validated, and alert messages a broker outage left in the outbox are retried, at
# least this often.
SWEEP = CronTriggerTimetable("*/5 * * * *", timezone="UTC")

# The lab-result lane's start date. Needed: without one, Airflow 3.3's
# ContinuousTimetable gives the first run a zero-length data interval and every
# later run the same logical date, so the scheduler finds that run "already
# exists" and never creates a second one (seen: one run, then none).
LANE_START_DATE = datetime(2026, 1, 1, tzinfo=UTC)

# The lab-result lane's task waits this long for a lab result; then it skips and
# the next run waits again.
LAB_WAIT_S = 600.0

# Every task is idempotent (the steps are), so retries are safe; back off so a
# database or broker restart is waited out rather than hammered.
DEFAULT_ARGS = {
    "owner": "foodtrace",
    "retries": 4,
    "retry_delay": timedelta(seconds=10),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=5),
    "execution_timeout": timedelta(minutes=30),
}
