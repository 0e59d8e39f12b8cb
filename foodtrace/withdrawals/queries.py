"""Reads for the CLI and tests: notices with their withdrawn quantities, progress
(the SQL views, foodtrace/withdrawals/progress.py), and the inspector's
verification (the one write here)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row

from foodtrace.withdrawals import progress, states
from foodtrace.withdrawals.issue import history

_ROWS = """
SELECT n.notice_id::text AS notice_id, n.alert_id::text AS alert_id,
       coalesce(n.city, loc.city) AS city, n.actor_id, n.location_id, n.action,
       n.state, n.deadline, n.lots,
       coalesce((SELECT jsonb_agg(jsonb_build_array(l->>'lot_code', l->>'unit', l->'quantity'))
                 FROM core.withdrawal_reports r CROSS JOIN LATERAL jsonb_array_elements(r.lots) l
                 WHERE r.notice_id = n.notice_id AND r.status = 'withdrawn'), '[]'::jsonb)
         AS withdrawn,
       n.issued_at, n.supersedes::text AS supersedes, n.sent_at,
       (SELECT r.status FROM core.withdrawal_reports r WHERE r.notice_id = n.notice_id
        ORDER BY r.reported_at DESC LIMIT 1) AS last_report
FROM core.withdrawal_notices n
LEFT JOIN core.locations loc ON loc.location_id = n.location_id  -- city known only later
WHERE (%(alert)s::uuid IS NULL OR n.alert_id = %(alert)s::uuid)
  AND (%(city)s::text IS NULL OR coalesce(n.city, loc.city) = %(city)s::text)
  AND (%(all)s OR n.state <> 'superseded')
ORDER BY n.alert_id, n.city, n.actor_id, n.issued_at
"""


def notices(conn: psycopg.Connection, alert_id: str | None = None, city: str | None = None,
            *, include_superseded: bool = False) -> list[dict[str, Any]]:
    out = []
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_ROWS, {"alert": alert_id, "city": city,
                                   "all": include_superseded}).fetchall()
    for r in rows:
        withdrawn: dict[tuple[str, str], Decimal] = {}
        for lot, unit, q in r["withdrawn"]:
            withdrawn[(lot, unit)] = withdrawn.get((lot, unit), Decimal(0)) + Decimal(str(q))
        out.append({
            "notice_id": r["notice_id"], "alert_id": r["alert_id"], "city": r["city"],
            "actor_id": r["actor_id"], "location_id": r["location_id"], "action": r["action"],
            "state": r["state"],
            "deadline": r["deadline"].isoformat() if r["deadline"] else None, "lots": r["lots"],
            "withdrawn": [{"lot_code": k[0], "unit": k[1], "quantity": float(v)}
                          for k, v in sorted(withdrawn.items())],
            "issued_at": r["issued_at"].isoformat(), "supersedes": r["supersedes"],
            "sent": r["sent_at"] is not None, "last_report": r["last_report"],
        })
    return out


def report(conn: psycopg.Connection, alert_id: str | None = None, city: str | None = None,
           *, overdue_only: bool = False) -> dict[str, Any]:
    """Progress per alert and per city (from the views), with the notices."""
    rows = notices(conn, alert_id, city)
    alerts: dict[str, list[dict[str, Any]]] = {}
    for n in rows:
        alerts.setdefault(n["alert_id"], []).append(n)
    per_alert, per_city = progress.read(conn, list(alerts), city)
    out = []
    for aid, ns in alerts.items():
        shown = [n for n in ns if n["state"] == states.OVERDUE] if overdue_only else ns
        cities = sorted({n["city"] or "other" for n in ns})
        out.append({
            "alert_id": aid,
            "progress": per_alert.get((aid, None)) or progress.empty(),
            "cities": {c: per_city.get((aid, c)) or progress.empty() for c in cities},
            "notices": [{k: v for k, v in n.items() if not k.startswith("_")} for n in shown],
        })
    if overdue_only:
        out = [a for a in out if a["notices"]]
    return {"alerts": out}


def verify(conn: psycopg.Connection, notice_id: str, by: str, now: datetime) -> dict[str, Any]:
    """An inspector's check: the notice -> verified. TransitionError / LookupError."""
    with conn.transaction():
        row = conn.execute("SELECT state FROM core.withdrawal_notices WHERE notice_id = %s "
                           "FOR UPDATE", (notice_id,)).fetchone()
        if row is None:
            raise LookupError(f"no withdrawal notice {notice_id}")
        new = states.on_verify(row[0])
        conn.execute("UPDATE core.withdrawal_notices SET state = %s, state_at = %s, "
                     "verified_by = %s, verified_at = %s WHERE notice_id = %s",
                     (new, now, by, now, notice_id))
        history(conn, notice_id, row[0], new, now, by, note="inspector's check")
    return {"notice_id": notice_id, "from_state": row[0], "state": new, "verified_by": by,
            "verified_at": now.isoformat()}
