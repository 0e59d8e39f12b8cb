"""deliver_notices(): core.sender_notices published to a real Mosquitto with the
shipped ACLs, received by each sender on its own rejections topic."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from psycopg.types.json import Jsonb

from foodtrace.config import MqttSettings, parse_mqtt_url
from foodtrace.db import connect
from foodtrace.mqtt_publish import DeliveryError
from foodtrace.validate.notices import _DELIVER_LOCK, deliver_notices

REJECTIONS = "foodtrace/v1/rejections"
LAB_TOPIC = "foodtrace/v1/labs/lab-gz-01/results"
CHAIN_TOPIC = "foodtrace/v1/chain/farm-zq-01/events"
KDE_GAP = {
    "rule": "kde_harvest_location",
    "code": "kde_missing",
    "severity": "warning",
    "cfr_section": "1.1325(a)",
    "message": "harvest location missing",
}


class Listener:
    """One MQTT user subscribed (QoS 1) to one filter before delivery."""

    def __init__(self, broker: Any, user: str, topic_filter: str) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.granted: list[Any] = []
        self._ready = threading.Event()
        settings = parse_mqtt_url(broker.url(user))
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"{user}-notices-{uuid.uuid4().hex[:6]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.username_pw_set(settings.username, settings.password)
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = lambda c, u, m: self.messages.append(
            (m.topic, json.loads(m.payload))
        )
        self.client.on_connect = lambda c, *a: c.subscribe(topic_filter, qos=1)
        self.client.connect(settings.host, settings.port)
        self.client.loop_start()
        assert self._ready.wait(10), "subscription not acknowledged"
        # the ACL must let this user read the filter (MQTT 5 SUBACK reason code)
        assert not any(code.is_failure for code in self.granted), (user, self.granted)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        self.granted = list(reason_codes)
        self._ready.set()

    def wait_for(self, count: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def nconn(fresh_db_url: str) -> Iterator[psycopg.Connection]:
    with connect(fresh_db_url) as c:
        yield c


@pytest.fixture
def listeners(broker) -> Iterator[dict[str, Listener]]:
    made = {
        "lab-gz-01": Listener(broker, "lab-gz-01", f"{REJECTIONS}/lab-gz-01"),
        "farm-zq-01": Listener(broker, "farm-zq-01", f"{REJECTIONS}/farm-zq-01"),
        "registry": Listener(broker, "foodtrace-registry", f"{REJECTIONS}/registry"),
        # sees every notice: nothing may go anywhere else, nor twice
        "all": Listener(broker, "foodtrace-simulator", f"{REJECTIONS}/#"),
    }
    yield made
    for listener in made.values():
        listener.stop()


def pipeline(broker) -> MqttSettings:
    return parse_mqtt_url(broker.url("foodtrace-pipeline"))


def add_notice(
    conn: psycopg.Connection,
    *,
    kind: str,
    sender_id: str | None,
    topic: str | None,
    stored: bool,
    reasons: list[dict[str, Any]],
) -> uuid.UUID:
    """A row as validation writes it."""
    mid = uuid.uuid4()
    body = {"message_id": str(mid), "stage": "validation", "stored": stored, "reasons": reasons}
    conn.execute(
        "INSERT INTO core.sender_notices (kind, message_id, sender_id, topic, stored, body) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        (kind, mid, sender_id, topic, stored, Jsonb(body)),
    )
    conn.commit()
    return mid


def rows(conn: psycopg.Connection) -> list[tuple[Any, ...]]:
    got = conn.execute(
        "SELECT message_id, sent_at IS NOT NULL, attempts, last_error "
        "FROM core.sender_notices ORDER BY notice_id"
    ).fetchall()
    conn.commit()
    return got


def test_one_notice_per_row_to_its_sender_and_never_again(
    nconn: psycopg.Connection, broker, listeners: dict[str, Listener]
) -> None:
    received = datetime(2026, 11, 28, 1, 30, tzinfo=UTC)
    lab_mid = add_notice(
        nconn,
        kind="lab_result",
        sender_id="lab-gz-01",
        topic=None,  # taken from the landing row, with its arrival time
        stored=False,
        reasons=[{"code": "unit", "message": "unit mg/L is not allowed for this analyte"}],
    )
    nconn.execute(
        "INSERT INTO landing.lab_results (message_id, lab_id, topic, received_at, payload) "
        "VALUES (%s, 'lab-gz-01', %s, %s, '{}')",
        (lab_mid, LAB_TOPIC, received),
    )
    nconn.commit()
    chain_mid = add_notice(
        nconn,
        kind="chain_event",
        sender_id="farm-zq-01",
        topic=CHAIN_TOPIC,
        stored=True,
        reasons=[KDE_GAP],
    )

    assert deliver_notices(nconn, pipeline(broker)) == 2
    listeners["all"].wait_for(2)
    listeners["lab-gz-01"].wait_for(1)
    listeners["farm-zq-01"].wait_for(1)
    # nothing pending: a second run publishes nothing
    assert deliver_notices(nconn, pipeline(broker)) == 0
    time.sleep(0.3)

    assert listeners["lab-gz-01"].messages == [
        (
            f"{REJECTIONS}/lab-gz-01",
            {
                "message_id": str(lab_mid),
                "stage": "validation",
                "stored": False,
                "topic": LAB_TOPIC,
                "element_index": None,
                "received_at": "2026-11-28T01:30:00+00:00",
                "reasons": [
                    {"code": "unit", "message": "unit mg/L is not allowed for this analyte"}
                ],
            },
        )
    ]
    assert listeners["farm-zq-01"].messages == [
        (
            f"{REJECTIONS}/farm-zq-01",
            {
                "message_id": str(chain_mid),
                "stage": "validation",
                "stored": True,
                "topic": CHAIN_TOPIC,
                "element_index": None,
                "reasons": [KDE_GAP],
            },
        )
    ]
    assert sorted(t for t, _ in listeners["all"].messages) == [
        f"{REJECTIONS}/farm-zq-01",
        f"{REJECTIONS}/lab-gz-01",
    ]
    assert listeners["registry"].messages == []
    assert rows(nconn) == [(lab_mid, True, 1, None), (chain_mid, True, 1, None)]


def test_master_data_notice_goes_to_the_registry(
    nconn: psycopg.Connection, broker, listeners: dict[str, Listener]
) -> None:
    mid = add_notice(
        nconn,
        kind="master_data",
        sender_id=None,
        topic="foodtrace/v1/registry/locations",
        stored=True,
        reasons=[{"code": "reference", "message": "city 'macau' is not a PRD city"}],
    )
    assert deliver_notices(nconn, pipeline(broker)) == 1
    listeners["registry"].wait_for(1)
    listeners["all"].wait_for(1)
    time.sleep(0.2)
    [(topic, body)] = listeners["registry"].messages
    assert topic == f"{REJECTIONS}/registry"
    assert (body["message_id"], body["stored"]) == (str(mid), True)
    assert body["topic"] == "foodtrace/v1/registry/locations"
    assert [t for t, _ in listeners["all"].messages] == [f"{REJECTIONS}/registry"]


def test_refused_publish_stays_pending(
    nconn: psycopg.Connection, broker, listeners: dict[str, Listener]
) -> None:
    mid = add_notice(
        nconn, kind="lab_result", sender_id="lab-gz-01", topic=LAB_TOPIC, stored=False, reasons=[]
    )
    # a lab may read its rejections but not write them: the broker refuses (PUBACK 0x87)
    lab = parse_mqtt_url(broker.url("lab-gz-01"))
    with pytest.raises(DeliveryError, match="1 sender notice"):
        deliver_notices(nconn, lab, timeout=5)
    [(got_mid, sent, attempts, error)] = rows(nconn)
    assert (got_mid, sent, attempts) == (mid, False, 1)
    assert error == "broker refused the message: Not authorized"
    time.sleep(0.2)
    assert listeners["lab-gz-01"].messages == []
    # the pipeline's own user delivers it afterwards, once
    assert deliver_notices(nconn, pipeline(broker)) == 1
    listeners["lab-gz-01"].wait_for(1)
    time.sleep(0.2)
    assert [b["message_id"] for _, b in listeners["lab-gz-01"].messages] == [str(mid)]
    assert rows(nconn) == [(mid, True, 2, None)]


def test_many_rows_in_several_batches(nconn: psycopg.Connection, broker, listeners) -> None:
    mids = [
        add_notice(
            nconn,
            kind="chain_event",
            sender_id="farm-zq-01",
            topic=CHAIN_TOPIC,
            stored=True,
            reasons=[KDE_GAP],
        )
        for _ in range(45)
    ]
    assert deliver_notices(nconn, pipeline(broker), batch_size=20) == 45
    listeners["farm-zq-01"].wait_for(45)
    time.sleep(0.2)
    # in notice_id order, each once
    assert [b["message_id"] for _, b in listeners["farm-zq-01"].messages] == [str(m) for m in mids]


def test_nothing_pending_needs_no_broker(nconn: psycopg.Connection) -> None:
    nowhere = MqttSettings(host="127.0.0.1", port=1)
    assert deliver_notices(nconn, nowhere) == 0


def test_one_deliverer_at_a_time(nconn: psycopg.Connection, fresh_db_url: str, broker) -> None:
    add_notice(
        nconn, kind="lab_result", sender_id="lab-gz-01", topic=LAB_TOPIC, stored=False, reasons=[]
    )
    with connect(fresh_db_url) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (_DELIVER_LOCK,))
        assert deliver_notices(nconn, pipeline(broker)) == 0
        other.execute("SELECT pg_advisory_unlock(%s)", (_DELIVER_LOCK,))
    assert deliver_notices(nconn, pipeline(broker)) == 1


def test_delivery_to_the_embedded_demo_broker_over_mqtt_311(nconn: psycopg.Connection) -> None:
    from foodtrace.embedded import embedded_broker

    add_notice(
        nconn, kind="lab_result", sender_id="lab-gz-01", topic=LAB_TOPIC, stored=False, reasons=[]
    )
    with embedded_broker() as demo:
        assert deliver_notices(nconn, demo.settings) == 1
    assert [sent for _m, sent, _n, _e in rows(nconn)] == [True]
