"""Overdue detection (the sweep): notices past their deadline without a
withdrawal move to `overdue`, and each city with newly overdue notices of an
alert gets one CAP Update listing every overdue business of that alert there.
A notice issued before its place's master data arrived has no city; the place's
city, once known, stands in (late data updates the answer).

The CAP settings come from the entry point (the withdrawal step), built once."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from foodtrace.alerts import cap, cap_serial
from foodtrace.alerts.cap_settings import CapSettings
from foodtrace.alerts.store import get as get_alert
from foodtrace.db.rows import one
from foodtrace.withdrawals import escalation, states
from foodtrace.withdrawals.issue import history

_DUE = """
SELECT n.notice_id, n.alert_id, coalesce(n.city, l.city), n.state, n.deadline
FROM core.withdrawal_notices n JOIN core.alerts a ON a.alert_id = n.alert_id
LEFT JOIN core.locations l ON l.location_id = n.location_id
WHERE n.state IN ('issued', 'acknowledged') AND n.deadline < %s AND a.status <> 'closed'
ORDER BY n.alert_id, n.city, n.notice_id
FOR UPDATE OF n
"""

_OVERDUE_IN_CITY = """
SELECT n.notice_id, n.actor_id, n.location_id, l.name, NULL::text AS phone, n.lots, n.deadline, n.state
FROM core.withdrawal_notices n LEFT JOIN core.locations l ON l.location_id = n.location_id
WHERE n.alert_id = %s AND coalesce(n.city, l.city) IS NOT DISTINCT FROM %s
  AND n.state = 'overdue'
ORDER BY n.actor_id, n.location_id
"""


def sweep(conn: psycopg.Connection, *, now: datetime,
          settings: CapSettings | None = None) -> dict[str, Any]:
    """Mark overdue notices and queue the escalations; one transaction. `settings`:
    read from the environment once here when the caller passes none."""
    conf = settings or CapSettings.from_env()
    with conn.transaction():
        due = conn.execute(_DUE, (now,)).fetchall()
        groups: dict[tuple[Any, str | None], list[Any]] = defaultdict(list)
        for notice_id, alert_id, city, state, deadline in due:
            if not states.is_overdue(state, deadline, now):
                continue
            conn.execute("UPDATE core.withdrawal_notices SET state = 'overdue', state_at = %s "
                         "WHERE notice_id = %s", (now, notice_id))
            history(conn, notice_id, state, states.OVERDUE, now, "sweep",
                    note=f"deadline {deadline.isoformat()} passed")
            groups[(alert_id, city)].append(notice_id)
        escalations = [_escalate(conn, alert_id, city, now, conf) for (alert_id, city) in groups
                       if city is not None]
    return {"overdue": sum(len(v) for v in groups.values()),
            "escalations": [e for e in escalations if e]}


def _escalate(conn: psycopg.Connection, alert_id: Any, city: str, now: datetime,
              conf: CapSettings) -> str | None:
    alert = get_alert(conn, alert_id).payload
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_OVERDUE_IN_CITY, (alert_id, city)).fetchall()
    overdue = [{**r, "deadline": r["deadline"].isoformat()} for r in rows]
    who = conf.sender
    refs = [cap.CapRef(who, i, s) for i, s in conn.execute(
        "SELECT cap_identifier, cap_sent FROM core.alert_outbox WHERE alert_id = %s AND city = %s "
        "UNION ALL SELECT cap_identifier, cap_sent FROM core.withdrawal_escalations "
        "WHERE alert_id = %s AND city = %s", (alert_id, city, alert_id, city)).fetchall()]
    n = one(conn.execute("SELECT count(*) FROM core.withdrawal_escalations WHERE alert_id = %s "
                         "AND city = %s", (alert_id, city)))[0] + 1
    sent, serial = cap_serial.claim(conn, conf, city, now)  # GB/T 35965.1 N, under a lock
    doc = escalation.build(alert, city, overdue, n=n, sent=sent, sender=who, references=refs,
                           settings=conf, sequence=serial)
    conn.execute(
        "INSERT INTO core.withdrawal_escalations (alert_id, city, notice_ids, cap_identifier, "
        "cap_sent, cap_xml, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (alert_id, city, [o["notice_id"] for o in overdue], doc.identifier, doc.sent, doc.xml,
         now))
    return doc.identifier
