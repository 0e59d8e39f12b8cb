"""Withdrawal reports linked to their notice (pipeline; I/O around pure checks).

A landed report (landing.withdrawal_reports, the edge checked its schema and that
its actor_id is the topic's sender) is, in one transaction each:
- rejected when it answers no notice foodtrace issued (`unknown_notice`) or a
  notice sent to another business (`wrong_recipient`): quarantined (stage
  'validation') with its bytes and the sender told on foodtrace/v1/rejections/{actor};
- else stored in core.withdrawal_reports, the notice moved on (states.py), and
  findings recorded (core.findings, kind 'withdrawal_report'): more withdrawn than
  held (`over_withdrawal`), a lot the notice does not name (`lot_not_in_notice`),
  `not_held` while the graph says the business holds some (`not_held_contradicts_graph`).
  The sender is told of the findings too (spec 2.4: stored, with reasons).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from foodtrace.withdrawals import states
from foodtrace.withdrawals.issue import history

STAGE = "withdrawal"
UNKNOWN_NOTICE = "unknown_notice"
WRONG_RECIPIENT = "wrong_recipient"
_LOCK = 0x46_54_57_52  # "FTWR"

_PENDING = """
SELECT r.message_id, r.actor_id, r.topic, r.received_at, r.payload
FROM landing.withdrawal_reports r
WHERE NOT EXISTS (SELECT 1 FROM core.withdrawal_reports w WHERE w.message_id = r.message_id)
  AND NOT EXISTS (SELECT 1 FROM core.sender_notices s
                  WHERE s.message_id = r.message_id AND s.stage = 'withdrawal' AND NOT s.stored)
ORDER BY r.received_at, r.message_id
LIMIT %s
"""


@dataclass(frozen=True)
class Landed:
    """A landed report waiting to be linked (a _PENDING row)."""

    message_id: UUID
    actor_id: str
    topic: str
    received_at: datetime
    payload: dict[str, Any]


@dataclass(frozen=True)
class Notice:
    """The notice a report answers, as _link_one reads it (locked)."""

    notice_id: UUID
    actor_id: str
    state: str
    lots: list[dict[str, Any]]


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    message: str
    path: str | None = None
    detail: Mapping[str, Any] | None = None

    def reason(self) -> dict[str, Any]:
        return {"code": self.rule, "rule": self.rule, "severity": self.severity,
                "message": self.message, "path": self.path}


def _dec(v: Any) -> Decimal | None:
    return None if v is None else Decimal(str(v))


def check(report: Mapping[str, Any], notice_lots: Sequence[Mapping[str, Any]],
          already: Mapping[tuple[str, str], Decimal]) -> list[Finding]:
    """Findings of one report against its notice's lots (pure). `already`: (lot,
    unit) -> quantity withdrawn by earlier reports on this notice."""
    held = {(x["lot_code"], x.get("unit")): _dec(x.get("quantity_held")) for x in notice_lots}
    found: list[Finding] = []
    status = report["status"]
    if status == "not_held":
        holds = {k: q for k, q in held.items() if q is None or q > 0}
        if holds:
            found.append(Finding(
                "not_held_contradicts_graph", "warning",
                "the report says nothing is held, but the lot graph says the business holds "
                + ", ".join(f"{k[0]} {q if q is not None else '?'} {k[1] or ''}".strip()
                            for k, q in sorted(holds.items(), key=lambda kv: kv[0][0])),
                "/status", {"held": {k[0]: str(q) for k, q in holds.items()}}))
        return found
    for i, line in enumerate(report.get("lots") or []):
        key = (line["lot_code"], line.get("unit"))
        if key not in held:
            names = {k[0] for k in held}
            what = "in another unit" if line["lot_code"] in names else "not named by the notice"
            found.append(Finding("lot_not_in_notice", "warning",
                                 f"lot {line['lot_code']} ({line.get('unit')}) is {what}",
                                 f"/lots/{i}"))
            continue
        if status != "withdrawn":
            continue
        q_held = held[key]
        total = already.get(key, Decimal(0)) + Decimal(str(line["quantity"]))
        if q_held is not None and total > q_held:
            found.append(Finding(
                "over_withdrawal", "warning",
                f"{total} {key[1]} of lot {key[0]} reported withdrawn, but the graph says "
                f"{q_held} {key[1]} were held there: a shipment or receiving may be missing",
                f"/lots/{i}/quantity",
                {"lot_code": key[0], "withdrawn": str(total), "held": str(q_held)}))
    return found


def link_reports(conn: psycopg.Connection, *, now: datetime,
                 batch_size: int = 500) -> dict[str, int]:
    """Link every pending report (module doc); counts by outcome. Each report in a
    transaction block of its own: its own transaction when the caller has none
    open (the pipeline step), a savepoint of the caller's transaction otherwise."""
    counts = {"linked": 0, "rejected": 0, "findings": 0}
    while True:
        with conn.transaction(), conn.cursor(row_factory=class_row(Landed)) as cur:
            rows = cur.execute(_PENDING, (batch_size,)).fetchall()
        if not rows:
            return counts
        for row in rows:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
                outcome, n = _link_one(conn, row, now=now)
            counts[outcome] += 1
            counts["findings"] += n


def _link_one(conn: psycopg.Connection, report: Landed, *, now: datetime) -> tuple[str, int]:
    message_id, actor, topic = report.message_id, report.actor_id, report.topic
    received_at, payload = report.received_at, report.payload
    if conn.execute("SELECT 1 FROM core.withdrawal_reports WHERE message_id = %s",
                    (message_id,)).fetchone():
        return "linked", 0
    with conn.cursor(row_factory=class_row(Notice)) as cur:
        notice = cur.execute(
            "SELECT notice_id, actor_id, state, lots FROM core.withdrawal_notices "
            "WHERE notice_id = %s FOR UPDATE", (payload["notice_id"],)).fetchone()
    if notice is None:
        _reject(conn, message_id, actor, topic, received_at, payload, UNKNOWN_NOTICE,
                f"no withdrawal notice {payload['notice_id']} was issued: answer the notice_id "
                "of a notice received on foodtrace/v1/notices/" + actor)
        return "rejected", 0
    notice_id, recipient, state, lots = notice.notice_id, notice.actor_id, notice.state, notice.lots
    if recipient != actor:
        _reject(conn, message_id, actor, topic, received_at, payload, WRONG_RECIPIENT,
                f"notice {notice_id} was sent to another business: {actor} cannot answer it")
        return "rejected", 0
    already = _withdrawn_so_far(conn, notice_id)
    found = check(payload, lots, already)
    graph_holds = any(x.get("quantity_held") is None or x["quantity_held"] > 0 for x in lots)
    new_state = states.on_report(state, payload["status"], graph_holds)
    applied = state not in states.FINAL
    reported_at = datetime.fromisoformat(payload["reported_at"])
    conn.execute(
        """INSERT INTO core.withdrawal_reports (message_id, notice_id, actor_id, status, lots,
               disposition, reported_at, note, received_at, applied, payload)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (message_id, notice_id, actor, payload["status"], Jsonb(payload.get("lots") or []),
         payload.get("disposition"), reported_at, payload.get("note"), received_at, applied,
         Jsonb(payload)))
    if new_state != state:
        conn.execute("UPDATE core.withdrawal_notices SET state = %s, state_at = %s "
                     "WHERE notice_id = %s", (new_state, now, notice_id))
        history(conn, notice_id, state, new_state, now, actor, cause=str(message_id),
                note=payload.get("note"))
    for f in found:
        conn.execute(
            """INSERT INTO core.findings (kind, message_id, sender_id, event_type, event_time,
                   rule, code, severity, message, path, detail)
               VALUES ('withdrawal_report', %s, %s, 'withdrawal_report', %s, %s, %s, %s, %s,
                       %s, %s) ON CONFLICT (message_id, rule) DO NOTHING""",
            (message_id, actor, reported_at, f.rule, f.rule, f.severity, f.message, f.path,
             Jsonb(dict(f.detail or {}))))
    if found:
        _tell(conn, message_id, actor, topic, received_at, True, [f.reason() for f in found])
    return "linked", len(found)


def _withdrawn_so_far(conn: psycopg.Connection, notice_id: UUID) -> dict[tuple[str, str], Decimal]:
    rows = conn.execute(
        "SELECT l->>'lot_code', l->>'unit', sum((l->>'quantity')::numeric) "
        "FROM core.withdrawal_reports r CROSS JOIN LATERAL jsonb_array_elements(r.lots) l "
        "WHERE r.notice_id = %s AND r.status = 'withdrawn' GROUP BY 1, 2", (notice_id,)
    ).fetchall()
    return {(r[0], r[1]): r[2] for r in rows}


def _reject(conn: psycopg.Connection, message_id: UUID, actor: str, topic: str,
            received_at: datetime, payload: dict[str, Any], code: str, text: str) -> None:
    import json

    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    reasons = [{"code": code, "message": text, "path": "/notice_id"}]
    key = hashlib.sha256(f"{STAGE}:withdrawal_report:{message_id}".encode()).digest()
    conn.execute(
        """INSERT INTO landing.quarantine (dedup_key, stage, received_at, topic, sender_id,
               message_id, element_index, raw, reasons)
           VALUES (%s, 'validation', %s, %s, %s, %s, NULL, %s, %s) ON CONFLICT DO NOTHING""",
        (key, received_at, topic, actor, message_id, raw, Jsonb(reasons)))
    _tell(conn, message_id, actor, topic, received_at, False, reasons)


def _tell(conn: psycopg.Connection, message_id: UUID, actor: str, topic: str,
          received_at: datetime, stored: bool, reasons: list[dict[str, Any]]) -> None:
    body = {"message_id": str(message_id), "stage": STAGE, "stored": stored, "reasons": reasons,
            "topic": topic, "received_at": received_at.isoformat()}
    conn.execute(
        """INSERT INTO core.sender_notices (kind, message_id, stage, sender_id, topic, stored, body)
           VALUES ('withdrawal_report', %s, %s, %s, %s, %s, %s)
           ON CONFLICT (message_id, stage) DO NOTHING""",
        (message_id, STAGE, actor, topic, stored, Jsonb(body)))
