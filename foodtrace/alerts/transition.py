"""The one home of alert changes: every raise, upgrade, clear, note, acknowledge,
close and re-scope is a `Change` applied by `apply()`.

A change is the same sequence whatever caused it, inside the caller's
transaction: write the alert row from its new JSON, record the history row, keep
the alert's scope keys (core.alert_scope, which the lot graph's triggers use to
queue re-scoping), queue the outbox messages for its cities, NOTIFY listeners.
Callers decide WHAT changes (engine.py: lab results, rescope.py: late data,
lifecycle.py: operators); this module decides HOW a change is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import psycopg

from foodtrace.alerts import outbox, store
from foodtrace.alerts.cap_settings import CapSettings

Action = Literal["raised", "upgraded", "cleared", "noted", "acknowledged", "closed", "rescoped"]
# What the emergency offices are sent: nothing, the new version (Alert to cities
# hearing of it for the first time, Update to the others), or a Cancel.
Publish = Literal["none", "version", "cancel"]


@dataclass(frozen=True)
class AlertState:
    """An alert as stored: the columns a transition checks, and its JSON (spec 4)."""

    alert_id: UUID
    status: str  # open | acknowledged | closed
    severity: str  # warning | critical
    version: int
    payload: dict[str, Any]

    @property
    def lot_code(self) -> str:
        return str(self.payload["lot_code"])

    @property
    def closed(self) -> bool:
        return self.status == "closed"

    @classmethod
    def load(cls, conn: psycopg.Connection, alert_id: UUID, *, lock: bool = False) -> AlertState:
        row = store.get(conn, alert_id, lock=lock)
        return cls(row.alert_id, row.status, row.severity, row.version, row.payload)


@dataclass(frozen=True)
class Scope:
    """The keys an alert version was computed from (see core.alert_scope)."""

    lots: Sequence[str]
    locations: Sequence[str]
    products: Sequence[str] = ()


@dataclass(frozen=True)
class Change:
    action: Action
    actor: str  # 'engine' or the operator
    payload: Mapping[str, Any]  # the alert JSON after the change
    at: datetime
    publish: Publish = "none"
    scope: Scope | None = None  # None: the scope stays as it is
    lab_message_id: UUID | None = None
    note: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


def apply(conn: psycopg.Connection, before: AlertState | None, change: Change, *,
          cap_settings: CapSettings | None = None) -> AlertState:
    """Record `change` of the alert `before` (None: a new alert); returns it after.
    `cap_settings`: the entry point's CAP settings, for the outbox."""
    p = dict(change.payload)
    if change.action != "rescoped":
        p.pop("changes", None)  # what late data changed belongs to that version only
    alert_id = UUID(str(p["alert_id"]))
    if before is None:
        store.insert(conn, p)
    elif change.action != "noted":  # a note changes nothing but the history
        store.update(conn, p)
    store.add_history(
        conn,
        alert_id=alert_id,
        version=p["version"],
        actor=change.actor,
        action=change.action,
        from_status=before.status if before else None,
        to_status=p["status"],
        from_severity=before.severity if before else None,
        to_severity=p["severity"],
        at=change.at,
        lab_message_id=change.lab_message_id,
        note=change.note,
        detail=change.detail,
    )
    if p["status"] == "closed":
        store.clear_scope(conn, alert_id)  # a closed alert follows no data
    elif change.scope is not None:
        store.replace_scope(
            conn, alert_id, change.scope.lots, change.scope.locations, change.scope.products
        )
    if change.publish != "none":
        outbox.enqueue(conn, p, cancel=change.publish == "cancel", now=change.at,
                       settings=cap_settings)
        # withdrawal notices (spec 6) commit with the version that means them
        from foodtrace.withdrawals.issue import issue_safely

        issue_safely(conn, p, change.at)
    if change.action != "noted":
        store.notify(conn, p, change.action)
    return AlertState(alert_id, p["status"], p["severity"], p["version"], p)
