"""SQL for alerts shared by the engine and the operator commands (ack, close):
rows, history, NOTIFY. Every function runs inside the caller's transaction."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row, dict_row
from psycopg.types.json import Jsonb

NOTIFY_CHANNEL = "foodtrace_alert"


class AlertNotFound(LookupError):
    def __init__(self, text: str, detail: str | None = None) -> None:
        super().__init__(
            detail or f"no alert {text}: list them with `foodtrace alerts list --status open`"
        )


@dataclass(frozen=True)
class AlertRow:
    alert_id: UUID
    status: str
    severity: str
    version: int
    payload: dict[str, Any]


def get(conn: psycopg.Connection, alert_id: UUID, *, lock: bool = False) -> AlertRow:
    sql = "SELECT alert_id, status, severity, version, payload FROM core.alerts WHERE alert_id = %s"
    with conn.cursor(row_factory=class_row(AlertRow)) as cur:
        row = cur.execute(sql + (" FOR UPDATE" if lock else ""), (alert_id,)).fetchone()
    if row is None:
        raise AlertNotFound(str(alert_id))
    return row


def resolve_id(conn: psycopg.Connection, text: str) -> UUID:
    """A full alert id, or an unambiguous prefix of at least 6 characters."""
    text = text.strip().lower()
    try:
        alert_id = UUID(text)
    except ValueError:
        if len(text) < 6 or any(c not in "0123456789abcdef-" for c in text):
            raise AlertNotFound(text) from None
        rows = conn.execute(
            "SELECT alert_id FROM core.alerts WHERE alert_id::text LIKE %s ORDER BY raised_at LIMIT 3",
            (text + "%",),
        ).fetchall()
        if len(rows) == 1:
            found: UUID = rows[0][0]
            return found
        if not rows:
            raise AlertNotFound(text) from None
        raise AlertNotFound(
            text, f"alert id prefix {text} is ambiguous: give more characters"
        ) from None
    if conn.execute("SELECT 1 FROM core.alerts WHERE alert_id = %s", (alert_id,)).fetchone():
        return alert_id
    raise AlertNotFound(text)


def _columns(p: Mapping[str, Any]) -> dict[str, Any]:
    """The core.alerts columns written from an alert's JSON (spec 4), by column name;
    the keys every version has are required (KeyError), the others may be absent."""
    return {
        "alert_id": p["alert_id"],
        "analyte": p["analyte"],
        "screen_analyte": p.get("screen_analyte"),
        "status": p["status"],
        "severity": p["severity"],
        "classification": p["classification"],
        "risk_decision": p["risk_decision"],
        "version": p["version"],
        "updated_at": p["updated_at"],
        "message_id": p["message_id"],
        "tested_at": p["tested_at"],
        "test_kind": p["test_kind"],
        "lab_id": p["lab_id"],
        "sample_id": p["sample_id"],
        "value": p.get("value"),
        "unit": p.get("unit"),
        "value_mg_per_kg": p.get("value_mg_per_kg"),
        "limit_value": p.get("limit"),
        "limit_unit": p.get("limit_unit"),
        "limit_verified": p.get("limit_verified"),
        "payload": Jsonb(dict(p)),
    }


def insert(conn: psycopg.Connection, payload: Mapping[str, Any]) -> None:
    p = payload
    conn.execute(
        """INSERT INTO core.alerts (alert_id, lot_code, analyte, screen_analyte, product_code,
               category, status, severity, classification, risk_decision, version, raised_at,
               updated_at, message_id, tested_at, test_kind, lab_id, sample_id, value, unit,
               value_mg_per_kg, limit_value, limit_unit, limit_verified, payload)
           VALUES (%(alert_id)s, %(lot_code)s, %(analyte)s, %(screen_analyte)s,
                   %(product_code)s, %(category)s, %(status)s, %(severity)s,
                   %(classification)s, %(risk_decision)s, %(version)s, %(raised_at)s,
                   %(updated_at)s, %(message_id)s, %(tested_at)s, %(test_kind)s, %(lab_id)s,
                   %(sample_id)s, %(value)s, %(unit)s, %(value_mg_per_kg)s, %(limit_value)s,
                   %(limit_unit)s, %(limit_verified)s, %(payload)s)""",
        {
            **_columns(p),
            "lot_code": p["lot_code"],
            "product_code": p.get("product_code"),
            "category": p.get("category"),
            "raised_at": p["raised_at"],
        },
    )


def update(conn: psycopg.Connection, payload: Mapping[str, Any]) -> None:
    """Write the alert's columns from its (new) payload."""
    p = payload
    conn.execute(
        """UPDATE core.alerts SET analyte = %(analyte)s, screen_analyte = %(screen_analyte)s,
               status = %(status)s, severity = %(severity)s,
               classification = %(classification)s, risk_decision = %(risk_decision)s,
               version = %(version)s, updated_at = %(updated_at)s, message_id = %(message_id)s,
               tested_at = %(tested_at)s, test_kind = %(test_kind)s, lab_id = %(lab_id)s,
               sample_id = %(sample_id)s, value = %(value)s, unit = %(unit)s,
               value_mg_per_kg = %(value_mg_per_kg)s, limit_value = %(limit_value)s,
               limit_unit = %(limit_unit)s, limit_verified = %(limit_verified)s,
               acknowledged_by = %(acknowledged_by)s, acknowledged_at = %(acknowledged_at)s,
               closed_by = %(closed_by)s, closed_at = %(closed_at)s,
               resolution = %(resolution)s, payload = %(payload)s
           WHERE alert_id = %(alert_id)s""",
        {
            **_columns(p),
            "acknowledged_by": p.get("acknowledged_by"),
            "acknowledged_at": p.get("acknowledged_at"),
            "closed_by": p.get("closed_by"),
            "closed_at": p.get("closed_at"),
            "resolution": p.get("resolution"),
        },
    )


def add_history(
    conn: psycopg.Connection,
    *,
    alert_id: UUID | str,
    version: int,
    actor: str,
    action: str,
    from_status: str | None,
    to_status: str,
    from_severity: str | None,
    to_severity: str,
    at: datetime,
    lab_message_id: UUID | None = None,
    note: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    conn.execute(
        """INSERT INTO core.alert_history (alert_id, version, at, actor, action, from_status,
               to_status, from_severity, to_severity, lab_message_id, note, detail)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (
            alert_id,
            version,
            at,
            actor,
            action,
            from_status,
            to_status,
            from_severity,
            to_severity,
            lab_message_id,
            note,
            Jsonb(dict(detail or {})),
        ),
    )


def history(conn: psycopg.Connection, alert_id: UUID) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            """SELECT version, at, actor, action, from_status, to_status, from_severity,
                      to_severity, lab_message_id, note, detail
               FROM core.alert_history WHERE alert_id = %s ORDER BY history_id""",
            (alert_id,),
        ).fetchall()
    out = []
    for item in rows:
        item["at"] = item["at"].isoformat()
        item["lab_message_id"] = str(item["lab_message_id"]) if item["lab_message_id"] else None
        out.append(item)
    return out


def notify(conn: psycopg.Connection, payload: Mapping[str, Any], action: str) -> None:
    """NOTIFY foodtrace_alert (delivered to listeners when the transaction commits)."""
    message = {
        "alert_id": str(payload["alert_id"]),
        "version": payload["version"],
        "action": action,
        "status": payload["status"],
        "severity": payload["severity"],
        "lot_code": payload["lot_code"],
        "analyte": payload["analyte"],
        "affected_cities": payload.get("affected_cities", []),
    }
    conn.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, json.dumps(message)))


def list_alerts(
    conn: psycopg.Connection,
    *,
    status: str | None = None,
    city: str | None = None,
    severity: str | None = None,
    lot_code: str | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Alert JSON documents, newest first, filtered (None = any)."""
    rows = conn.execute(
        """SELECT payload FROM core.alerts
           WHERE (%(status)s::text IS NULL OR status = %(status)s)
             AND (%(severity)s::text IS NULL OR severity = %(severity)s)
             AND (%(lot)s::text IS NULL OR lot_code = %(lot)s)
             AND (%(city)s::text IS NULL OR payload -> 'affected_cities' ? %(city)s)
           ORDER BY raised_at DESC, alert_id
           LIMIT %(limit)s""",
        {"status": status, "severity": severity, "lot": lot_code, "city": city, "limit": limit},
    ).fetchall()
    return [r[0] for r in rows]


def replace_scope(
    conn: psycopg.Connection,
    alert_id: UUID,
    lots: Sequence[str],
    locations: Sequence[str],
    products: Sequence[str] = (),
) -> None:
    """The alert's scope keys become exactly `lots`, `locations` and `products`."""
    clear_scope(conn, alert_id)
    conn.execute(
        "INSERT INTO core.alert_scope (key_kind, key, alert_id) "
        "SELECT k.kind, k.key, %s FROM ("
        "  SELECT 'lot' AS kind, unnest(%s::text[]) AS key"
        "  UNION SELECT 'location', unnest(%s::text[])"
        "  UNION SELECT 'product', unnest(%s::text[])) k "
        "ON CONFLICT DO NOTHING",
        (alert_id, list(lots), list(locations), list(products)),
    )


def clear_scope(conn: psycopg.Connection, alert_id: UUID) -> None:
    conn.execute("DELETE FROM core.alert_scope WHERE alert_id = %s", (alert_id,))
