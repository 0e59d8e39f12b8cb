"""deliver(): the outbox published to a real Mosquitto with the shipped ACLs,
received by the emergency office."""

from __future__ import annotations

import json
import threading
import time

import pytest
from alerts_helpers import Chain, run_pipeline
from foodtrace.ingest.mqtt_client import connect_and_wait, make_client
from foodtrace.ingest.topics import ALERTS_FILTER

from foodtrace.alerts import cap
from foodtrace.alerts.outbox import DeliveryError, deliver
from foodtrace.config import parse_mqtt_url


class Subscriber:
    """The emergency office: subscribed to foodtrace/v1/alerts/# before delivery."""

    def __init__(self, broker) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._ready = threading.Event()
        settings = parse_mqtt_url(broker.url("emergency-office"))
        self.client = make_client(settings, "emergency-office-test")
        self.client.on_subscribe = lambda *a: self._ready.set()
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload))
        self.client.on_connect = lambda c, *a: c.subscribe(ALERTS_FILTER, qos=1)
        connect_and_wait(self.client, settings)
        assert self._ready.wait(10), "subscription not acknowledged"

    def wait_for(self, count: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_one_json_and_one_cap_per_affected_city(chain: Chain, broker) -> None:
    c = chain
    c.lab_result(
        "A",
        kind="rapid",
        analyte="organophosphates_carbamates",
        minutes=400,
        value=62.5,
        unit="%",
        result="positive",
    )
    [alert_id] = run_pipeline(c.conn)
    cities = ["foshan", "guangzhou", "shenzhen", "zhaoqing"]
    office = Subscriber(broker)
    try:
        sent = deliver(c.conn, parse_mqtt_url(broker.url("foodtrace-pipeline")))
        assert sent == len(cities)
        office.wait_for(2 * len(cities))
        # nothing pending: a second run publishes nothing
        assert deliver(c.conn, parse_mqtt_url(broker.url("foodtrace-pipeline"))) == 0
        time.sleep(0.3)
    finally:
        office.stop()
    by_topic: dict[str, list[bytes]] = {}
    for topic, payload in office.messages:
        by_topic.setdefault(topic, []).append(payload)
    assert sorted(by_topic) == sorted(
        [f"foodtrace/v1/alerts/{city}" for city in cities]
        + [f"foodtrace/v1/alerts/{city}/cap" for city in cities]
    )
    for city in cities:
        [body] = by_topic[f"foodtrace/v1/alerts/{city}"]
        doc = json.loads(body)
        assert (doc["alert_id"], doc["version"], doc["city"], doc["msg_type"]) == (
            str(alert_id),
            1,
            city,
            "Alert",
        )
        assert doc["affected_cities"] == cities
        [xml] = by_topic[f"foodtrace/v1/alerts/{city}/cap"]
        cap.validate(xml.decode())
        assert f"<identifier>foodtrace-{alert_id}-v1-{city}</identifier>" in xml.decode()
    pending = c.conn.execute(
        "SELECT count(*) FROM core.alert_outbox WHERE sent_at IS NULL"
    ).fetchone()[0]
    assert pending == 0


def test_refused_publish_stays_queued(chain: Chain, broker) -> None:
    c = chain
    c.lab_result(
        "C",
        kind="rapid",
        analyte="organophosphates_carbamates",
        minutes=400,
        value=80,
        unit="%",
        result="positive",
    )
    run_pipeline(c.conn)
    # the emergency office may read alerts but not publish them: the broker refuses
    with pytest.raises(DeliveryError, match="not delivered"):
        deliver(c.conn, parse_mqtt_url(broker.url("emergency-office")), timeout=5)
    rows = c.conn.execute("SELECT sent_at, attempts, last_error FROM core.alert_outbox").fetchall()
    c.conn.commit()
    assert rows and all(sent is None for sent, _n, _err in rows)
    assert "broker refused the message: Not authorized" in {err for _s, _n, err in rows}
    # the pipeline's own user delivers them afterwards
    assert deliver(c.conn, parse_mqtt_url(broker.url("foodtrace-pipeline"))) == len(rows)


def test_delivery_to_the_embedded_demo_broker_over_mqtt_311(chain: Chain) -> None:
    from foodtrace.embedded import embedded_broker

    c = chain
    c.lab_result(
        "A",
        kind="rapid",
        analyte="organophosphates_carbamates",
        minutes=400,
        value=62.5,
        unit="%",
        result="positive",
    )
    run_pipeline(c.conn)
    with embedded_broker() as demo:
        assert deliver(c.conn, demo.settings) == 4
    assert (
        c.conn.execute("SELECT count(*) FROM core.alert_outbox WHERE sent_at IS NULL").fetchone()[0]
        == 0
    )
