"""Small helpers of the withdrawal tests."""

from __future__ import annotations

import psycopg


def live_notices(conn: psycopg.Connection, alert_id) -> dict[str, dict]:
    """actor_id -> its live notice (lots by lot code)."""
    conn.commit()
    rows = conn.execute(
        "SELECT actor_id, notice_id, action, state, lots, supersedes, deadline, issued_at, "
        "alert_version, payload FROM core.withdrawal_notices WHERE alert_id = %s "
        "AND state <> 'superseded'", (str(alert_id),)).fetchall()
    conn.commit()
    return {r[0]: {"notice_id": r[1], "action": r[2], "state": r[3],
                   "lots": {x["lot_code"]: x["quantity_held"] for x in r[4]},
                   "supersedes": r[5], "deadline": r[6], "issued_at": r[7],
                   "alert_version": r[8], "payload": r[9]} for r in rows}


def report(actor: str, notice_id, status: str, lots=(), disposition=None, mid=None) -> dict:
    import uuid

    body = {"schema": "foodtrace/withdrawal-report/v1",
            "message_id": str(mid or uuid.uuid4()), "actor_id": actor,
            "notice_id": str(notice_id), "status": status,
            "reported_at": "2026-11-28T10:00:00+08:00"}
    if lots:
        body["lots"] = [{"lot_code": lc, "quantity": q, "unit": "kg"} for lc, q in lots]
    if disposition:
        body["disposition"] = disposition
    return body
