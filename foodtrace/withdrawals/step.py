"""The withdrawal step of the pipeline (run by the sweep DAG after `alert`, and by
`foodtrace pipeline run`): link landed reports to their notices, mark overdue
notices and queue the escalations, publish what is pending. The CAP settings of the
escalations are the entry point's (built once per run)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import psycopg

from foodtrace.alerts.cap_settings import CapSettings
from foodtrace.config import MqttSettings
from foodtrace.withdrawals import deliver, issue, overdue, reports

log = logging.getLogger(__name__)


def run(conn: psycopg.Connection, mqtt: MqttSettings | None, *,
        now: datetime | None = None, cap_settings: CapSettings | None = None) -> dict[str, Any]:
    clock = now or datetime.now(UTC)
    reissued = issue.reconcile(conn, clock)
    linked = reports.link_reports(conn, now=clock)
    swept = overdue.sweep(conn, now=clock, settings=cap_settings or CapSettings.from_env())
    delivered = None
    if mqtt is not None:
        delivered = deliver_pending(conn, mqtt)
    return {**linked, "reissued": reissued, "overdue": swept["overdue"], "escalations": swept["escalations"],
            "delivered": delivered}


def deliver_pending(conn: psycopg.Connection, mqtt: MqttSettings) -> int:
    """Publish pending notices and escalations; a refusing broker leaves them queued
    for the next run (logged), it must not stop the alert path."""
    from foodtrace.mqtt_publish import DeliveryError

    try:
        return deliver.deliver(conn, mqtt)
    except DeliveryError as exc:
        log.warning("%s", exc)
        return 0
