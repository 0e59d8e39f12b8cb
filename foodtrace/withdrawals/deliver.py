"""Publish pending notices (foodtrace/v1/notices/{actor_id}) and overdue
escalations (foodtrace/v1/alerts/{city}/cap) at QoS 1; a row is marked sent only
after the broker's PUBACK, so every notice version goes out once (at-least-once
on a crash between the PUBACK and the UPDATE: businesses dedupe on notice_id,
offices on the CAP identifier). One deliverer at a time (advisory lock).

A delivery loop owns the transactions of the connection it is given, by design:
see `deliver`."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from foodtrace.config import MqttSettings
from foodtrace.db.rows import one
from foodtrace.ingest.topics import alert_cap_topic, notice_topic
from foodtrace.mqtt_publish import Acks, DeliveryError, ack_error, client_id, connect

if TYPE_CHECKING:
    from paho.mqtt.client import MQTTMessageInfo

_LOCK = 0x46_54_57_44  # "FTWD"
WINDOW = 200  # messages in flight before their rows are marked sent

# (table, key column, row id, what to send: () -> (topic, body)); the topic is built
# when sent, so a row whose topic cannot be built is recorded as failed, not dropped.
Job = tuple[str, str, Any, Callable[[], tuple[str, bytes]]]

_NOTICES = ("SELECT notice_id, actor_id, payload FROM core.withdrawal_notices "
            "WHERE sent_at IS NULL ORDER BY issued_at, notice_id LIMIT %s")
_ESCALATIONS = ("SELECT escalation_id, city, cap_xml FROM core.withdrawal_escalations "
                "WHERE sent_at IS NULL ORDER BY escalation_id LIMIT %s")


def deliver(conn: psycopg.Connection, mqtt: MqttSettings, *, batch_size: int = 1000,
            timeout: float = 10.0) -> int:
    """Publish what is pending; the number of messages acknowledged. Refused or
    unacknowledged ones stay pending (DeliveryError after the rest were tried).

    Owns the transactions of `conn` (a delivery loop): it commits what is open
    when it is called, holds its session lock across transactions and commits the
    rows of each window marked sent after their PUBACKs, so a crash resends at most
    one window. Call it with nothing of your own left uncommitted."""
    conn.commit()
    if not one(conn.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK,)))[0]:
        conn.commit()
        return 0
    conn.commit()
    try:
        notices = conn.execute(_NOTICES, (batch_size,)).fetchall()
        escalations = conn.execute(_ESCALATIONS, (batch_size,)).fetchall()
        conn.commit()
        if not notices and not escalations:
            return 0
        jobs: list[Job] = []
        for nid, actor, payload in notices:
            jobs.append(("withdrawal_notices", "notice_id", nid,
                         _topic_body(notice_topic, actor, json.dumps(payload, ensure_ascii=False))))
        for eid, city, xml in escalations:
            jobs.append(("withdrawal_escalations", "escalation_id", eid,
                         _topic_body(alert_cap_topic, city, xml)))
        return _publish(conn, mqtt, jobs, timeout)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK,))
        conn.commit()


def _topic_body(topic_of: Callable[[str], str], key: str,
                text: str) -> Callable[[], tuple[str, bytes]]:
    def make() -> tuple[str, bytes]:
        return topic_of(key), text.encode()
    return make


def _publish(conn: psycopg.Connection, settings: MqttSettings,
             jobs: Sequence[Job], timeout: float) -> int:
    """Publish in windows of WINDOW messages: each window's PUBACKs are awaited
    together and its acknowledged rows marked sent in one UPDATE (a commit per
    row capped the outbox at a few hundred notices a second; bench/withdrawals)."""
    acks = Acks()
    client = connect(settings, acks, client_id("withdrawals"))
    sent = 0
    failures: list[str] = []
    try:
        for start in range(0, len(jobs), WINDOW):
            inflight: list[tuple[str, str, Any, MQTTMessageInfo]] = []
            broken = False
            for table, key, ident, make in jobs[start:start + WINDOW]:
                try:
                    topic, body = make()
                except ValueError as exc:
                    _record(conn, table, key, ident, str(exc))
                    failures.append(f"{table} {ident}: {exc}")
                    continue
                info = client.publish(topic, body, qos=1)
                if info.rc != 0:
                    error: str | None = f"publish failed (rc {info.rc})"
                    _record(conn, table, key, ident, error)
                    failures.append(f"{table} {ident}: {error}")
                    broken = True
                    break
                inflight.append((table, key, ident, info))
            got = acks.wait([info.mid for *_, info in inflight], timeout)
            acked: dict[tuple[str, str], list[Any]] = {}
            for table, key, ident, info in inflight:
                error = ack_error([info], got, timeout)
                if error is None:
                    acked.setdefault((table, key), []).append(ident)
                else:
                    _record(conn, table, key, ident, error)
                    failures.append(f"{table} {ident}: {error}")
            for (table, key), idents in acked.items():
                _record_sent(conn, table, key, idents)
                sent += len(idents)
            if broken:
                break
    finally:
        client.disconnect()
        client.loop_stop()
    if failures:
        raise DeliveryError(f"{len(failures)} withdrawal message(s) not delivered (they stay "
                            "queued): " + "; ".join(failures[:5]))
    return sent


def _record_sent(conn: psycopg.Connection, table: str, key: str, idents: list[Any]) -> None:
    conn.execute(
        sql.SQL("UPDATE {} SET sent_at = now(), attempts = attempts + 1, last_error = NULL "
                "WHERE {} = ANY(%s)").format(sql.Identifier("core", table), sql.Identifier(key)),
        (idents,))
    conn.commit()


def _record(conn: psycopg.Connection, table: str, key: str, ident: Any, error: str | None) -> None:
    names = {"table": sql.Identifier("core", table), "key": sql.Identifier(key)}
    if error is None:
        conn.execute(sql.SQL("UPDATE {table} SET sent_at = now(), attempts = attempts + 1, "
                             "last_error = NULL WHERE {key} = %s").format(**names), (ident,))
    else:
        conn.execute(sql.SQL("UPDATE {table} SET attempts = attempts + 1, last_error = %s "
                             "WHERE {key} = %s").format(**names), (error, ident))
    conn.commit()
