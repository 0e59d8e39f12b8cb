"""Notices written with the alert version (called by foodtrace.alerts.transition
inside the transaction that writes the version: they commit together). Every
function here runs in the caller's transaction; `reconcile` gives each alert a
transaction block of its own."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from foodtrace.withdrawals import states
from foodtrace.withdrawals.plan import Live, Planned, plan
from foodtrace.withdrawals.settings import RecallSettings, recall_settings

log = logging.getLogger(__name__)

# Who holds affected lots at a place: the business that recorded their receiving,
# packing or production there (the latest such event); failing that, whoever
# recorded any event of them there (a shop that only recorded its sales).
_HOLDERS = """
SELECT DISTINCT ON (e.location_id) e.location_id, e.actor_id
FROM core.events e
JOIN core.event_lots el ON el.message_id = e.message_id AND el.event_time = e.event_time
WHERE e.location_id = ANY(%(locations)s) AND el.lot_code = ANY(%(lots)s)
ORDER BY e.location_id,
         (e.event_type IN ('receiving', 'first_receiving', 'initial_packing', 'harvesting',
                           'transformation')) DESC,
         e.event_time DESC, e.message_id
"""


def holders(conn: psycopg.Connection, alert: Mapping[str, Any]) -> dict[str, str]:
    locations = [loc["location_id"] for loc in alert.get("affected_locations", [])]
    lots = [x["lot_code"] for x in alert.get("affected_lots", [])]
    if not locations or not lots:
        return {}
    rows = conn.execute(_HOLDERS, {"locations": locations, "lots": lots}).fetchall()
    return {r[0]: r[1] for r in rows}


def live_notices(conn: psycopg.Connection, alert_id: Any) -> list[Live]:
    with conn.cursor(row_factory=class_row(Live)) as cur:
        return cur.execute(
            "SELECT notice_id, location_id, actor_id, action, lots FROM core.withdrawal_notices "
            "WHERE alert_id = %s AND state <> 'superseded' FOR UPDATE",
            (str(alert_id),),
        ).fetchall()


def on_alert_version(
    conn: psycopg.Connection,
    alert: Mapping[str, Any],
    now: datetime,
    settings: RecallSettings | None = None,
) -> list[Planned]:
    """Issue the notices this alert version means (plan.py); returns them. An alert
    closed by an operator issues nothing (its notices stay as they are); one
    cleared by a confirmatory result releases every business."""
    if alert.get("status") == "closed" and alert.get("resolution") != "cleared_by_confirmatory":
        return []
    planned = plan(alert, holders(conn, alert), live_notices(conn, alert["alert_id"]),
                   settings or recall_settings(), now)
    for p in planned:
        if p.supersedes is not None:
            supersede(conn, p.supersedes, p.notice_id, now)
        conn.execute(
            """INSERT INTO core.withdrawal_notices (notice_id, alert_id, alert_version,
                   location_id, actor_id, city, action, recall_class, lots, issued_at, deadline,
                   supersedes, state, state_at, payload)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'issued', %s, %s)
               ON CONFLICT (alert_id, alert_version, location_id, actor_id) DO NOTHING""",
            (p.notice_id, str(alert["alert_id"]), int(alert["version"]), p.location_id,
             p.actor_id, p.city, p.action, p.recall_class, Jsonb(p.lots), p.issued_at,
             p.deadline, p.supersedes, now, Jsonb(p.payload)),
        )
        history(conn, p.notice_id, None, states.ISSUED, now, "engine",
                cause=f"alert version {alert['version']}")
        if p.supersedes is not None:
            conn.execute(
                "UPDATE core.withdrawal_notices SET superseded_by = %s WHERE notice_id = %s",
                (p.notice_id, p.supersedes),
            )
    return planned


def issue_safely(conn: psycopg.Connection, alert: Mapping[str, Any], now: datetime) -> None:
    """on_alert_version() in a savepoint: a failure here must never stop the alert
    itself (logged; the sweep's `reconcile` issues the notices on its next run)."""
    try:
        with conn.transaction():
            on_alert_version(conn, alert, now)
    except Exception:
        log.exception("withdrawal notices of alert %s v%s not issued now; the sweep retries",
                      alert.get("alert_id"), alert.get("version"))


def reconcile(conn: psycopg.Connection, now: datetime) -> int:
    """Issue what the current version of every alert that is not closed means and
    was not issued (a failed issue_safely); returns the notices issued. Each alert
    in a transaction block of its own (its own transaction when the caller has none
    open, as in the withdrawal step)."""
    issued = 0
    with conn.transaction():
        ids = [r[0] for r in conn.execute(
            "SELECT alert_id FROM core.alerts WHERE status <> 'closed' ORDER BY raised_at"
        ).fetchall()]
    for alert_id in ids:
        with conn.transaction():
            row = conn.execute("SELECT payload FROM core.alerts WHERE alert_id = %s FOR UPDATE",
                               (alert_id,)).fetchone()
            if row and row[0].get("status") != "closed":
                issued += len(on_alert_version(conn, row[0], now))
    return issued


def supersede(conn: psycopg.Connection, notice_id: Any, by: Any, now: datetime) -> None:
    row = conn.execute(
        "UPDATE core.withdrawal_notices n SET state = 'superseded', state_at = %s "
        "FROM core.withdrawal_notices old WHERE old.notice_id = n.notice_id "
        "AND n.notice_id = %s RETURNING old.state",
        (now, notice_id),
    ).fetchone()
    if row:
        history(conn, notice_id, row[0], states.SUPERSEDED, now, "engine", cause=str(by))


def history(conn: psycopg.Connection, notice_id: Any, from_state: str | None, to_state: str,
            at: datetime, actor: str, *, cause: str | None = None,
            note: str | None = None) -> None:
    conn.execute(
        "INSERT INTO core.withdrawal_notice_history (notice_id, at, from_state, to_state, "
        "actor, cause, note) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (notice_id, at, from_state, to_state, actor, cause, note),
    )
