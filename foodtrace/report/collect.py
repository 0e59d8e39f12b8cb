"""What the report shows, read from the database (the I/O edge of the report).

The trace comes from foodtrace.trace.api (the SQL functions of 0004_lot_graph.sql,
the one home of trace logic); the alert, its history and its CAP messages from the
alert tables. Everything runs read-only in one transaction, so the page shows one
consistent moment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg

from foodtrace.alerts import store
from foodtrace.trace.api import LotNotFound, Trace, TraceFinding, trace


@dataclass(frozen=True)
class CapMessage:
    """One row of core.alert_outbox: a CAP document for one city and version."""

    version: int
    city: str
    msg_type: str
    identifier: str
    cap_sent: str
    created_at: datetime
    sent_at: datetime | None
    attempts: int
    last_error: str | None
    cap_xml: str
    affected_cities: list[str]  # of that version, from the JSON sent with it


@dataclass(frozen=True)
class ReportData:
    alert: dict[str, Any]  # the alert JSON of its current version (spec 4)
    history: list[dict[str, Any]]
    trace: Trace | None  # None: the lot is not in the lot graph (yet)
    findings: list[TraceFinding]
    messages: list[CapMessage]
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))


_OUTBOX_SQL = """
SELECT version, city, msg_type, cap_identifier, cap_sent, created_at, sent_at, attempts,
       last_error, cap_xml, json_payload -> 'affected_cities'
FROM core.alert_outbox WHERE alert_id = %s ORDER BY version, city, outbox_id
"""


def _cap_message(row: tuple[Any, ...]) -> CapMessage:
    """A row of _OUTBOX_SQL (its columns in CapMessage's order)."""
    (version, city, msg_type, identifier, cap_sent, created_at, sent_at, attempts,
     last_error, cap_xml, cities) = row
    return CapMessage(version, city, msg_type, identifier, cap_sent, created_at, sent_at,
                      attempts, last_error, cap_xml, affected_cities=list(cities or []))


def gather(conn: psycopg.Connection, alert_text: str) -> ReportData:
    """Everything the report of one alert shows. `alert_text`: the alert id or an
    unambiguous prefix (raises store.AlertNotFound)."""
    fresh = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with conn.transaction():
        if fresh:  # a transaction of our own: make it one snapshot (else: the caller's)
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        alert_id: UUID = store.resolve_id(conn, alert_text)
        row = store.get(conn, alert_id)
        history = store.history(conn, alert_id)
        try:
            lot_trace: Trace | None = trace(conn, row.payload["lot_code"], "both")
        except LotNotFound:
            lot_trace = None
        messages = [
            _cap_message(r) for r in conn.execute(_OUTBOX_SQL, (alert_id,)).fetchall()
        ]
    return ReportData(
        alert=row.payload,
        history=history,
        trace=lot_trace,
        findings=list(lot_trace.findings) if lot_trace else [],
        messages=messages,
    )
