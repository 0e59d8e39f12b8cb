"""Operator actions on an alert: acknowledge and close (open -> acknowledged -> closed).

Acknowledging records who took charge; nothing is published. Closing is final,
bumps the version and queues a CAP Cancel (and the closed alert JSON) to every
city that was told about the alert. Both are recorded in core.alert_history.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg

from foodtrace.alerts import outbox, store


class TransitionError(ValueError):
    """The alert is not in a state that allows the action; the message says why."""


def acknowledge(
    conn: psycopg.Connection, alert_id: UUID, by: str, note: str | None = None
) -> dict[str, Any]:
    """open -> acknowledged; returns the alert JSON."""
    _check_actor(by)
    now = datetime.now(UTC)
    conn.commit()  # commits its own work, like every pipeline step
    with conn.transaction():
        row = store.get(conn, alert_id, lock=True)
        if row.status == "acknowledged":
            raise TransitionError(
                f"alert {alert_id} was already acknowledged by {row.payload.get('acknowledged_by')}"
            )
        if row.status == "closed":
            raise TransitionError(f"alert {alert_id} is closed; closed alerts stay closed")
        payload = {
            **row.payload,
            "status": "acknowledged",
            "acknowledged_by": by,
            "acknowledged_at": now.isoformat(),
            "acknowledge_note": note,
            "updated_at": now.isoformat(),
        }
        store.update(conn, payload)
        store.add_history(
            conn,
            alert_id=alert_id,
            version=row.version,
            actor=by,
            action="acknowledged",
            from_status=row.status,
            to_status="acknowledged",
            from_severity=row.severity,
            to_severity=row.severity,
            at=now,
            note=note,
        )
        store.notify(conn, payload, "acknowledged")
    return payload


def close(
    conn: psycopg.Connection, alert_id: UUID, by: str, note: str | None = None
) -> dict[str, Any]:
    """open|acknowledged -> closed (resolution closed_by_operator); returns the alert JSON."""
    _check_actor(by)
    now = datetime.now(UTC)
    conn.commit()  # commits its own work, like every pipeline step
    with conn.transaction():
        row = store.get(conn, alert_id, lock=True)
        if row.status == "closed":
            raise TransitionError(
                f"alert {alert_id} is already closed ({row.payload.get('resolution')})"
            )
        payload = {
            **row.payload,
            "version": row.version + 1,
            "status": "closed",
            "closed_by": by,
            "closed_at": now.isoformat(),
            "resolution": "closed_by_operator",
            "close_note": note,
            "updated_at": now.isoformat(),
        }
        store.update(conn, payload)
        store.add_history(
            conn,
            alert_id=alert_id,
            version=payload["version"],
            actor=by,
            action="closed",
            from_status=row.status,
            to_status="closed",
            from_severity=row.severity,
            to_severity=row.severity,
            at=now,
            note=note,
        )
        outbox.enqueue(conn, payload, cancel=True, now=now)
        store.notify(conn, payload, "closed")
    return payload


def _check_actor(by: str) -> None:
    if not by or not by.strip():
        raise TransitionError("say who is acting: --by NAME")
