"""Operator actions on an alert: acknowledge and close (open -> acknowledged -> closed).

Acknowledging records who took charge; nothing is published. Closing is final,
bumps the version and queues a CAP Cancel (and the closed alert JSON) to every
city that was told about the alert. Both are recorded in core.alert_history.

Each action is one transaction block on the locked alert: its own transaction on
a connection with none open (the CLI's), a savepoint of the caller's otherwise.
The CAP settings of the Cancel are the entry point's (`cap_settings`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg

from foodtrace.alerts import transition
from foodtrace.alerts.cap_settings import CapSettings
from foodtrace.alerts.transition import AlertState, Change


class TransitionError(ValueError):
    """The alert is not in a state that allows the action; the message says why."""


def acknowledge(
    conn: psycopg.Connection, alert_id: UUID, by: str, note: str | None = None, *,
    cap_settings: CapSettings | None = None,
) -> dict[str, Any]:
    """open -> acknowledged; returns the alert JSON. Nothing is published."""

    def change(a: AlertState, now: datetime) -> Change:
        if a.status == "acknowledged":
            raise TransitionError(
                f"alert {alert_id} was already acknowledged by {a.payload.get('acknowledged_by')}"
            )
        if a.closed:
            raise TransitionError(f"alert {alert_id} is closed; closed alerts stay closed")
        payload = {
            **a.payload,
            "status": "acknowledged",
            "acknowledged_by": by,
            "acknowledged_at": now.isoformat(),
            "acknowledge_note": note,
            "updated_at": now.isoformat(),
        }
        return Change("acknowledged", by, payload, now, note=note)

    return _operate(conn, alert_id, by, change, cap_settings)


def close(
    conn: psycopg.Connection, alert_id: UUID, by: str, note: str | None = None, *,
    cap_settings: CapSettings | None = None,
) -> dict[str, Any]:
    """open|acknowledged -> closed (resolution closed_by_operator); returns the alert JSON.
    A new version: every city that was told gets a CAP Cancel."""

    def change(a: AlertState, now: datetime) -> Change:
        if a.closed:
            raise TransitionError(
                f"alert {alert_id} is already closed ({a.payload.get('resolution')})"
            )
        payload = {
            **a.payload,
            "version": a.version + 1,
            "status": "closed",
            "closed_by": by,
            "closed_at": now.isoformat(),
            "resolution": "closed_by_operator",
            "close_note": note,
            "updated_at": now.isoformat(),
        }
        return Change("closed", by, payload, now, publish="cancel", note=note)

    return _operate(conn, alert_id, by, change, cap_settings)


def _operate(
    conn: psycopg.Connection,
    alert_id: UUID,
    by: str,
    change: Callable[[AlertState, datetime], Change],
    cap_settings: CapSettings | None,
) -> dict[str, Any]:
    """One operator action in a transaction block (module doc), on the locked alert.
    `cap_settings`: None reads them from the environment (outbox.enqueue)."""
    if not by or not by.strip():
        raise TransitionError("say who is acting: --by NAME")
    now = datetime.now(UTC)
    with conn.transaction():
        before = AlertState.load(conn, alert_id, lock=True)
        after = transition.apply(conn, before, change(before, now), cap_settings=cap_settings)
        return after.payload
