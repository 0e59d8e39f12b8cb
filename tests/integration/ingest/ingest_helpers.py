"""Helpers for the ingest consumer tests: message builders, real publishers, the
consumer in-process or as a real `foodtrace ingest` process, and polling the
database with a deadline (never fixed sleeps)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from devservices import REPO_ROOT
from foodtrace.ingest.mqtt_client import connect_and_wait, make_client, publish_properties

from foodtrace.config import parse_mqtt_url

INGEST_ROLE = "foodtrace_ingest"


def as_ingest_role(db_url: str) -> str:
    """The same database, with every session running as foodtrace_ingest."""
    return psycopg.conninfo.make_conninfo(db_url, options=f"-c role={INGEST_ROLE}")


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll until predicate() is truthy; return its value or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")
        time.sleep(interval)


def scalar(db_url: str, sql: str, params: tuple = ()) -> Any:
    with psycopg.connect(db_url, autocommit=True) as c:
        return c.execute(sql, params).fetchone()[0]


def landed(db_url: str) -> int:
    """Rows in the three landing tables of accepted elements."""
    return scalar(
        db_url,
        "SELECT (SELECT count(*) FROM landing.lab_results) + "
        "(SELECT count(*) FROM landing.chain_events) + (SELECT count(*) FROM landing.master_data)",
    )


# --- messages ---------------------------------------------------------------------


def _ts(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="seconds")


def lab_result(lab_id: str = "lab-gz-01", **fields: Any) -> dict[str, Any]:
    mid = uuid.uuid4()
    now = datetime.now(UTC).replace(microsecond=0)
    msg = {
        "schema": "foodtrace/lab-result/v1",
        "message_id": str(mid),
        "lab_id": lab_id,
        "sample_id": f"S-{mid.hex[:10]}",
        "lot_code": "LOT-GZ-20261128-001",
        "sampled_at": _ts(now - timedelta(hours=2)),
        "sampled_location_id": "MKT-GZ-JIANGNAN",
        "tested_at": _ts(now - timedelta(hours=1)),
        "test_kind": "rapid",
        "method": "colloidal gold strip",
        "analyte": "clenbuterol",
        "result": "negative",
    }
    msg.update(fields)
    return msg


def chain_event(actor_id: str = "farm-zq-01", **fields: Any) -> dict[str, Any]:
    mid = uuid.uuid4()
    msg = {
        "schema": "foodtrace/chain-event/v1",
        "message_id": str(mid),
        "actor_id": actor_id,
        "event_type": "harvesting",
        "event_time": _ts(datetime.now(UTC) - timedelta(hours=3)),
        "location_id": "FARM-ZQ-01",
        "lots": [
            {
                "lot_code": f"LOT-{mid.hex[:8]}",
                "product_code": "CHOY-SUM",
                "quantity": 120,
                "unit": "kg",
            }
        ],
        "tlc_source_location_id": "FARM-ZQ-01",
        "reference_document": {"type": "harvest_log", "number": f"H-{mid.hex[:6]}"},
    }
    msg.update(fields)
    return msg


def location(location_id: str = "FARM-ZQ-01", **fields: Any) -> dict[str, Any]:
    msg = {
        "schema": "foodtrace/location/v1",
        "message_id": str(uuid.uuid4()),
        "location_id": location_id,
        "name": "Zhaoqing choy sum farm",
        "kind": "farm",
        "city": "zhaoqing",
        "lat": 23.05,
        "lon": 112.47,
    }
    msg.update(fields)
    return msg


def product(product_code: str = "CHOY-SUM", **fields: Any) -> dict[str, Any]:
    msg = {
        "schema": "foodtrace/product/v1",
        "message_id": str(uuid.uuid4()),
        "product_code": product_code,
        "name": "Choy sum 菜心",
        "category": "leafy_vegetables",
    }
    msg.update(fields)
    return msg


def encode(payload: Any) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


# --- publishing ---------------------------------------------------------------------


class Publisher:
    """A sender's MQTT 5 client: QoS 1, waits for PUBACK, stamps `sent_at`."""

    def __init__(self, url: str) -> None:
        s = parse_mqtt_url(url)
        self.client = make_client(s, f"test-pub-{uuid.uuid4().hex[:8]}")
        self.received: list[mqtt.MQTTMessage] = []
        self._lock = threading.Lock()
        self.client.on_message = self._on_message
        connect_and_wait(self.client, s)

    def _on_message(self, client, userdata, message) -> None:
        with self._lock:
            self.received.append(message)

    def listen(self, topic_filter: str) -> None:
        """Subscribe (QoS 1) and wait until the broker granted it."""
        granted = threading.Event()
        self.client.on_subscribe = lambda *a, **k: granted.set()
        self.client.subscribe(topic_filter, qos=1)
        assert granted.wait(5), f"no SUBACK for {topic_filter}"

    def messages(self) -> list[mqtt.MQTTMessage]:
        with self._lock:
            return list(self.received)

    def send(self, topic: str, payload: Any, *, sent_at: datetime | None = None) -> None:
        props = publish_properties([("sent_at", _ts(sent_at or datetime.now(UTC)))])
        info = self.client.publish(topic, encode(payload), qos=1, properties=props)
        info.wait_for_publish(10)
        assert info.is_published(), f"broker did not acknowledge a publish to {topic}"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# --- the consumer as a real process -------------------------------------------------


class ConsumerProcess:
    """`python -m foodtrace.cli.main ingest ...` with its stderr collected."""

    def __init__(self, env: dict[str, str], args: list[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "foodtrace.cli.main", "ingest", "--json", *args],
            env=env,
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stderr_lines: list[str] = []
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        self.stdout = ""

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_lines.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self.stderr_lines)

    def wait_log(self, text: str, timeout: float = 10.0, count: int = 1) -> None:
        def seen() -> bool:
            if self.proc.poll() is not None and self.stderr.count(text) < count:
                raise AssertionError(f"consumer exited ({self.proc.returncode}):\n{self.stderr}")
            return self.stderr.count(text) >= count

        try:
            wait_until(seen, timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- consumer stderr ---\n{self.stderr}") from None

    def wait_until(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """wait_until, with this consumer's log in the failure message."""
        try:
            return wait_until(predicate, timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- consumer stderr ---\n{self.stderr}") from None

    def wait_ready(self, timeout: float = 10.0) -> ConsumerProcess:
        self.wait_log("subscribed:", timeout)
        return self

    def finish(self, timeout: float = 30.0) -> tuple[int, dict[str, Any] | None]:
        """Wait for exit; return (exit code, parsed --json summary or None)."""
        # stderr belongs to the reader thread; stdout is only the short --json summary.
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            self._reader.join(5)
            raise AssertionError(
                f"consumer did not exit within {timeout:g}s\n--- consumer stderr ---\n"
                f"{self.stderr}"
            ) from None
        assert self.proc.stdout is not None
        out = self.proc.stdout.read()
        self._reader.join(5)
        self.stdout = out
        return self.proc.returncode, (json.loads(out) if out.strip() else None)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


# --- the consumer in-process (a thread), as the demo runs it ------------------------


class RunningConsumer:
    """IngestConsumer.start_in_thread, as the demo uses it."""

    def __init__(self, config) -> None:
        from foodtrace.ingest.consumer import IngestConsumer

        self.consumer = IngestConsumer(config)
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> RunningConsumer:
        self.thread = self.consumer.start_in_thread(self.stop_event)
        return self

    @property
    def result(self):
        return getattr(self.consumer, "result", None)

    def stop(self, timeout: float = 15.0):
        self.stop_event.set()
        assert self.thread is not None
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "consumer did not stop"
        if self.consumer.error is not None:
            raise self.consumer.error
        return self.consumer.result


def epcis_document(actor_id: str = "packer-gz-01") -> dict[str, Any]:
    """A GS1 EPCIS 2.0 document: a packer packs a lot, then ships it to a market."""
    now = datetime.now(UTC).replace(microsecond=0)
    lot = f"urn:epc:class:lgtin:4012345.012345.{uuid.uuid4().hex[:8].upper()}"
    location_id = "urn:epc:id:sgln:4012345.00001.0"
    quantity = [{"epcClass": lot, "quantity": 200, "uom": "KGM"}]
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": _ts(now),
        "epcisBody": {
            "eventList": [
                {
                    "type": "ObjectEvent",
                    "eventID": f"ni:///sha-256;{uuid.uuid4().hex}?ver=CBV2.0",
                    "eventTime": _ts(now - timedelta(hours=2)),
                    "eventTimeZoneOffset": "+08:00",
                    "action": "ADD",
                    "bizStep": "packing",
                    "quantityList": quantity,
                    "bizLocation": {"id": location_id},
                    "bizTransactionList": [{"type": "po", "bizTransaction": "PO-2026-118"}],
                },
                {
                    "type": "ObjectEvent",
                    "eventID": f"ni:///sha-256;{uuid.uuid4().hex}?ver=CBV2.0",
                    "eventTime": _ts(now - timedelta(hours=1)),
                    "eventTimeZoneOffset": "+08:00",
                    "action": "OBSERVE",
                    "bizStep": "shipping",
                    "quantityList": quantity,
                    "bizLocation": {"id": location_id},
                    "destinationList": [
                        {"type": "location", "destination": "urn:epc:id:sgln:4012345.00099.0"}
                    ],
                    "bizTransactionList": [{"type": "bol", "bizTransaction": "BOL-88123"}],
                },
            ]
        },
    }
