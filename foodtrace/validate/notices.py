"""Delivery of sender notices (spec 2.4) from the core.sender_notices outbox.

Validation writes one row per (message, stage) in the transaction that decides the
message (UNIQUE (message_id, stage): a re-run or a redelivery adds nothing).
`deliver_notices()` publishes the pending rows at QoS 1 to
foodtrace/v1/rejections/{sender} and marks a row sent only after the broker's
PUBACK, so a sender hears once per message (at-least-once on a crash between the
PUBACK and the UPDATE; the message_id lets the sender dedupe).

The body is a superset of the edge's rejection notice (ingest/consumer.py
`rejection_notices`): {message_id, stage, stored, topic, element_index, received_at,
reasons, ...}.

Transactions: delivery is a loop over batches that owns the transactions of the
connection it is given. It marks each batch sent in its own commit, so a crash
re-sends at most the batch it was in; it ends every read before it publishes, so
no transaction stays open while it waits for the broker; and it holds its
deliverer lock at session level across those commits. It ends whatever
transaction the caller left open before it starts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row

from foodtrace.config import MqttSettings
from foodtrace.db.rows import one
from foodtrace.ingest.topics import REGISTRY_SENDER, parse_topic, rejection_topic
from foodtrace.mqtt_publish import Acks, DeliveryError, ack_error, client_id, connect

_DELIVER_LOCK = 0x46_54_53_4E  # "FTSN": one deliverer at a time keeps notice_id order

# Topic and arrival time come from the landing row when the notice does not carry them.
_PENDING = """
SELECT n.notice_id, n.kind, n.message_id, n.stage, n.sender_id,
       COALESCE(n.topic, l.topic) AS topic, n.stored, n.body, l.received_at
FROM core.sender_notices n
LEFT JOIN LATERAL (
    SELECT topic, received_at FROM landing.lab_results
     WHERE n.kind = 'lab_result' AND message_id = n.message_id
    UNION ALL
    SELECT topic, received_at FROM landing.chain_events
     WHERE n.kind = 'chain_event' AND message_id = n.message_id
    UNION ALL
    SELECT topic, received_at FROM landing.master_data
     WHERE n.kind = 'master_data' AND message_id = n.message_id
    LIMIT 1
) l ON true
WHERE n.sent_at IS NULL AND n.notice_id > %s
ORDER BY n.notice_id
LIMIT %s
"""


@dataclass(frozen=True)
class PendingNotice:
    notice_id: int
    kind: str
    message_id: UUID
    stage: str
    sender_id: str | None
    topic: str | None  # the topic the message came on
    stored: bool
    body: dict[str, Any]
    received_at: datetime | None = None


def notice_sender(notice: PendingNotice) -> str | None:
    """Who hears of it: the lab / actor, else the sender its topic names (the
    registry for master data), else None (topics.rejection_topic: .../unknown)."""
    if notice.sender_id is not None:
        return notice.sender_id
    parsed = parse_topic(notice.topic)
    if parsed is not None:
        return parsed[1]
    return REGISTRY_SENDER if notice.kind == "master_data" else None


def notice_topic(notice: PendingNotice) -> str:
    return rejection_topic(notice_sender(notice))


def notice_body(notice: PendingNotice) -> dict[str, Any]:
    """The JSON published: the row's columns win for the identity fields (they are
    what the outbox is unique on); whatever else validation put in `body` is kept."""
    extra = dict(notice.body)
    for key in ("message_id", "stage", "stored"):
        extra.pop(key, None)
    shaped: dict[str, Any] = {
        "message_id": str(notice.message_id),
        "stage": notice.stage,
        "stored": notice.stored,
        "topic": extra.pop("topic", None) or notice.topic,
        # Not kept past the edge; null as for a message that was not an array.
        "element_index": extra.pop("element_index", None),
    }
    received_at = extra.pop("received_at", None)
    if received_at is None and notice.received_at is not None:
        received_at = notice.received_at.astimezone(UTC).isoformat()
    if received_at is not None:
        shaped["received_at"] = received_at
    shaped["reasons"] = extra.pop("reasons", None) or []
    return {**shaped, **extra}


def deliver_notices(
    conn: psycopg.Connection,
    mqtt: MqttSettings,
    *,
    batch_size: int = 500,
    timeout: float = 10.0,
) -> int:
    """Publish every pending notice; return how many were acknowledged (PUBACK).
    Commits on `conn` batch by batch (module doc: Transactions).

    Connects only when something is pending. A notice the broker refuses (MQTT 5
    reason code, e.g. an ACL's "Not authorized") or does not acknowledge within
    `timeout` stays pending with `last_error` and one more attempt; a DeliveryError
    names them after the rest were tried. Returns 0 when another deliverer holds
    the lock.
    """
    conn.commit()
    got = one(conn.execute("SELECT pg_try_advisory_lock(%s)", (_DELIVER_LOCK,)))[0]
    conn.commit()
    if not got:
        return 0
    try:
        return _deliver_locked(conn, mqtt, batch_size, timeout)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_DELIVER_LOCK,))
        conn.commit()


def _pending(conn: psycopg.Connection, after: int, batch_size: int) -> list[PendingNotice]:
    """The next pending notices, the read ended (committed) before any is published."""
    with conn.cursor(row_factory=class_row(PendingNotice)) as cur:
        notices = cur.execute(_PENDING, (after, batch_size)).fetchall()
    conn.commit()
    return notices


def _deliver_locked(
    conn: psycopg.Connection, settings: MqttSettings, batch_size: int, timeout: float
) -> int:
    batch = _pending(conn, 0, batch_size)
    if not batch:
        return 0
    acks = Acks()
    client = connect(settings, acks, client_id("notices"))
    sent = 0
    failures: list[str] = []
    try:
        while batch:
            done, failed, connected = _publish_batch(client, acks, batch, timeout)
            _record(conn, done, failed)
            sent += len(done)
            failures += [f"notice {i}: {err}" for i, err in failed]
            if not connected:  # the broker dropped us: the rest waits for the next run
                break
            # Keyset paging: refused rows stay pending but are not retried in this run.
            batch = _pending(conn, batch[-1].notice_id, batch_size)
    finally:
        client.disconnect()
        client.loop_stop()
    if failures:
        raise DeliveryError(
            f"{len(failures)} sender notice(s) not delivered (they stay queued): "
            + "; ".join(failures[:5])
        )
    return sent


def _publish_batch(
    client: Any, acks: Acks, batch: Sequence[PendingNotice], timeout: float
) -> tuple[list[int], list[tuple[int, str]], bool]:
    """Publish the whole batch, then wait for its PUBACKs (paho keeps the in-flight
    window): (acknowledged ids, (id, error) refused, still connected)."""
    published = []
    failed: list[tuple[int, str]] = []
    connected = True
    for notice in batch:
        if not connected:
            failed.append((notice.notice_id, "not published: connection lost"))
            continue
        payload = json.dumps(notice_body(notice), ensure_ascii=False).encode()
        info = client.publish(notice_topic(notice), payload, qos=1)
        if info.rc != 0:
            connected = False
            failed.append((notice.notice_id, f"publish failed (rc {info.rc})"))
        else:
            published.append((notice.notice_id, info))
    got = acks.wait([info.mid for _, info in published], timeout)
    done = []
    for notice_id, info in published:
        error = ack_error([info], got, timeout)
        if error is None:
            done.append(notice_id)
        else:
            failed.append((notice_id, error))
    return done, failed, connected


def _record(conn: psycopg.Connection, done: list[int], failed: list[tuple[int, str]]) -> None:
    """Mark a published batch, and commit: what the broker acknowledged is not sent again."""
    if done:
        conn.execute(
            "UPDATE core.sender_notices SET sent_at = now(), attempts = attempts + 1, "
            "last_error = NULL WHERE notice_id = ANY(%s)",
            (done,),
        )
    if failed:
        with conn.cursor() as cur:
            cur.executemany(
                "UPDATE core.sender_notices SET attempts = attempts + 1, last_error = %s "
                "WHERE notice_id = %s",
                [(err, notice_id) for notice_id, err in failed],
            )
    conn.commit()
