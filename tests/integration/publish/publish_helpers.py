"""A real subscriber that records what reached the broker (for the publish tests)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

from foodtrace.ingest.mqtt_client import connect_and_wait, make_client

from foodtrace.config import parse_mqtt_url

# What the ingest account may read (deploy/mosquitto/acl).
INBOUND = (
    "foodtrace/v1/labs/+/results",
    "foodtrace/v1/chain/+/events",
    "foodtrace/v1/epcis/+",
    "foodtrace/v1/registry/+",
)


class Recorder:
    def __init__(self, url: str) -> None:
        self.settings = parse_mqtt_url(url)
        self.received: list[tuple[str, Any, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = make_client(self.settings, f"publish-test-{uuid.uuid4().hex[:8]}")
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self._subscribed.set()

    def __enter__(self) -> Recorder:
        connect_and_wait(self.client, self.settings)
        self.client.subscribe([(t, 1) for t in INBOUND])
        assert self._subscribed.wait(5), "no SUBACK"
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_message(self, client, userdata, message) -> None:
        props = dict(getattr(message.properties, "UserProperty", None) or [])
        with self._lock:
            self.received.append((message.topic, json.loads(message.payload), props))

    def wait_for(
        self, count: int, timeout: float = 10.0, *, unpack: bool = False
    ) -> list[tuple[str, Any, dict[str, str]]]:
        """Until `count` MQTT messages (or, with unpack, contract messages) arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                have = len(elements(self.received)) if unpack else len(self.received)
                if have >= count:
                    break
            time.sleep(0.02)
        time.sleep(0.1)  # anything beyond `count` would show up now
        with self._lock:
            return list(self.received)


def elements(received: list[tuple[str, Any, dict[str, str]]]) -> list[tuple[str, dict]]:
    """(topic, object) for every contract message, unpacking arrays."""
    out = []
    for topic, body, _ in received:
        for item in body if isinstance(body, list) else [body]:
            out.append((topic, item))
    return out
