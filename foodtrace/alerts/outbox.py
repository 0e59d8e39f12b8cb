"""The transactional outbox of alert messages, and its delivery to MQTT.

`enqueue()` runs inside the transaction that changes an alert, so an alert change
and the messages announcing it commit together or not at all. `deliver()` (pipeline
step 3b) publishes what is pending:

    foodtrace/v1/alerts/{city}       the alert JSON (spec 4) plus city, msg_type, version
    foodtrace/v1/alerts/{city}/cap   the same alert as a CAP 1.2 document

at QoS 1, and marks a row sent only after the broker acknowledged (PUBACK) both
messages. Delivery is therefore at-least-once: a crash between the PUBACK and the
UPDATE republishes the row. Consumers dedupe on (alert_id, version) for JSON and
on the CAP <identifier> (unique per alert, version and city).

The CAP settings (cap_settings.CapSettings) are built once by the entry point (the
pipeline step, the CLI) and passed down; a caller that passes none gets them read
from the environment once per `enqueue()`, never once per message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from foodtrace.alerts import cap, cap_serial
from foodtrace.alerts.cap_settings import CapSettings
from foodtrace.config import MqttSettings
from foodtrace.db.rows import one
from foodtrace.ingest.topics import alert_cap_topic, alert_topic
from foodtrace.mqtt_publish import Acks, DeliveryError, ack_error, client_id, connect

_DELIVER_LOCK = 0x46_54_4F_42  # "FTOB": one deliverer at a time keeps the order per city


def topics(city: str) -> tuple[str, str]:
    """(JSON topic, CAP topic) of a city (ingest/topics.py); ValueError for a city
    that is not one of foodtrace.reference.CITY_CODES."""
    return alert_topic(city), alert_cap_topic(city)


def prior_messages(conn: psycopg.Connection, alert_id: Any,
                   sender: str) -> dict[str, list[cap.CapRef]]:
    """city -> the CAP messages already enqueued for this alert, oldest first
    (`sender`: this deployment's CAP sender, which <references> name)."""
    rows = conn.execute(
        "SELECT city, cap_identifier, cap_sent FROM core.alert_outbox WHERE alert_id = %s "
        "ORDER BY version, outbox_id",
        (alert_id,),
    ).fetchall()
    prior: dict[str, list[cap.CapRef]] = {}
    for city, ident, sent in rows:
        prior.setdefault(city, []).append(cap.CapRef(sender, ident, sent))
    return prior


def enqueue(
    conn: psycopg.Connection,
    payload: Mapping[str, Any],
    *,
    cancel: bool = False,
    now: datetime | None = None,
    settings: CapSettings | None = None,
) -> list[str]:
    """Queue one JSON + CAP message per city for this alert version; returns the cities.

    A change goes to every affected city (msgType Alert for a city hearing of the
    alert for the first time, Update for one that heard before) and also to cities
    told earlier; a cancellation goes only to the cities that were told.
    """
    conf = settings or CapSettings.from_env()
    at = now or datetime.now(UTC)
    prior = prior_messages(conn, payload["alert_id"], conf.sender)
    if cancel:
        targets = sorted(prior)
    else:
        targets = sorted(set(payload.get("affected_cities", [])) | set(prior))
    for city in targets:
        refs = prior.get(city, [])
        msg_type = "Cancel" if cancel else ("Update" if refs else "Alert")
        # N of a GB/T 35965.1 identifier: free in this second for this city's unit
        sent, serial = cap_serial.claim(conn, conf, city, at)
        doc = cap.build(payload, city=city, msg_type=msg_type, sent=sent, references=refs,
                        settings=conf, sequence=serial)
        message = {**payload, "city": city, "msg_type": msg_type, "cap_identifier": doc.identifier}
        conn.execute(
            """INSERT INTO core.alert_outbox (alert_id, version, city, msg_type, cap_identifier,
                   cap_sent, json_payload, cap_xml)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (alert_id, version, city) DO NOTHING""",
            (
                payload["alert_id"],
                payload["version"],
                city,
                msg_type,
                doc.identifier,
                doc.sent,
                Jsonb(message),
                doc.xml,
            ),
        )
    return targets


@dataclass(frozen=True)
class Pending:
    outbox_id: int
    city: str
    json_payload: dict[str, Any]
    cap_xml: str


def deliver(
    conn: psycopg.Connection,
    mqtt: MqttSettings,
    *,
    batch_size: int = 500,
    timeout: float = 10.0,
) -> int:
    """Publish pending outbox rows; return how many rows were sent (both messages acked).

    Rows the broker refuses (e.g. an ACL: PUBACK reason code "not authorized") or does
    not acknowledge within `timeout` stay pending, with the error recorded, and a
    DeliveryError is raised after the rest were tried. Returns 0 when another
    deliverer holds the lock.

    Owns the transactions of `conn` (a delivery loop, unlike `enqueue`): it commits
    what is open when it is called, holds its session lock across transactions and
    commits each row as sent right after its PUBACKs, so a crash resends at most
    the row in flight. Call it with nothing of your own left uncommitted.
    """
    conn.commit()
    got = one(conn.execute("SELECT pg_try_advisory_lock(%s)", (_DELIVER_LOCK,)))[0]
    conn.commit()
    if not got:
        return 0
    try:
        pending = _pending(conn, batch_size)
        if not pending:
            return 0
        return _publish_all(conn, mqtt, pending, timeout)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_DELIVER_LOCK,))
        conn.commit()


def _pending(conn: psycopg.Connection, batch_size: int) -> list[Pending]:
    with conn.cursor(row_factory=class_row(Pending)) as cur:
        rows = cur.execute(
            "SELECT outbox_id, city, json_payload, cap_xml FROM core.alert_outbox "
            "WHERE sent_at IS NULL ORDER BY outbox_id LIMIT %s",
            (batch_size,),
        ).fetchall()
    conn.commit()
    return rows


def _publish_all(
    conn: psycopg.Connection, settings: MqttSettings, pending: list[Pending], timeout: float
) -> int:
    acks = Acks()
    client = connect(settings, acks, client_id("alerts"))
    sent = 0
    failures: list[str] = []
    try:
        for row in pending:
            try:
                json_topic, cap_topic = topics(row.city)
            except ValueError as exc:  # not a city of the contract: stays queued, named
                _record(conn, row.outbox_id, str(exc))
                failures.append(f"outbox {row.outbox_id} ({row.city}): {exc}")
                continue
            body = json.dumps(row.json_payload, ensure_ascii=False).encode()
            infos = [
                client.publish(json_topic, body, qos=1),
                client.publish(cap_topic, row.cap_xml.encode(), qos=1),
            ]
            error = next((f"publish failed (rc {i.rc})" for i in infos if i.rc != 0), None)
            lost_connection = error is not None
            if error is None:
                got = acks.wait([i.mid for i in infos], timeout)
                error = ack_error(infos, got, timeout)
            _record(conn, row.outbox_id, error)
            if error is None:
                sent += 1
            else:
                failures.append(f"outbox {row.outbox_id} ({row.city}): {error}")
            if lost_connection:  # the broker dropped us (e.g. after a refusal): stop here
                break
    finally:
        client.disconnect()
        client.loop_stop()
    if failures:
        raise DeliveryError(
            f"{len(failures)} alert message(s) not delivered (they stay queued): "
            + "; ".join(failures[:5])
        )
    return sent


def _record(conn: psycopg.Connection, outbox_id: int, error: str | None) -> None:
    if error is None:
        conn.execute(
            "UPDATE core.alert_outbox SET sent_at = now(), attempts = attempts + 1, "
            "last_error = NULL WHERE outbox_id = %s",
            (outbox_id,),
        )
    else:
        conn.execute(
            "UPDATE core.alert_outbox SET attempts = attempts + 1, last_error = %s "
            "WHERE outbox_id = %s",
            (error, outbox_id),
        )
    conn.commit()
