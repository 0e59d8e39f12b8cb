"""The Airflow Assets that chain the DAGs (data-aware scheduling), and task defaults.

    landing (watched: NOTIFY)  --> foodtrace_validate --> core_promoted
    core_promoted              --> foodtrace_link     --> lot_graph
    lot_graph                  --> foodtrace_alert    --> alerts

URIs name the PostgreSQL tables each asset stands for, in the postgres provider's
form (postgres://host:port/database/schema/table); the host `foodtrace` is a
logical name, not a connection: the tasks connect with FOODTRACE_DATABASE_URL.
Imported by the DAG files at parse time: airflow.sdk only, nothing heavy.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Asset, AssetWatcher, CronTriggerTimetable

from foodtrace.pipeline.triggers import LandingNotifyTrigger

_URI = "postgres://foodtrace:5432/foodtrace/{schema}/{table}"

LANDING = Asset(
    name="foodtrace_landing",
    uri=_URI.format(schema="landing", table="validation_queue"),
    group="foodtrace",
    watchers=[AssetWatcher(name="foodtrace_landing_notify", trigger=LandingNotifyTrigger())],
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

# Safety net next to the event-driven path: held rows are re-checked, and alert
# messages a broker outage left in the outbox are retried, at least this often.
SWEEP = CronTriggerTimetable("*/5 * * * *", timezone="UTC")

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
