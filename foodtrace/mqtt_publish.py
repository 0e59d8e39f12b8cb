"""Publishing outbox rows to MQTT and knowing the broker took them (PUBACK).

Shared by the alert outbox (foodtrace.alerts.outbox) and the sender notices
(foodtrace.validate.notices): both publish at QoS 1 and mark a row sent only after
its PUBACK, whose MQTT 5 reason code says whether the broker refused it (an ACL
answers "Not authorized"; MQTT 3.1.1 would acknowledge such a message silently).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from foodtrace.config import MqttSettings

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt
    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode


class DeliveryError(RuntimeError):
    """Some rows could not be published; they stay pending for the next run."""


class Acks:
    """PUBACKs by message id, with their reason codes (MQTT 5)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._done: dict[int, Any] = {}

    def on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason_code: ReasonCode | None = None,
        properties: Properties | None = None,
    ) -> None:
        with self._cond:
            self._done[mid] = reason_code
            self._cond.notify_all()

    def wait(self, mids: Sequence[int], timeout: float) -> dict[int, Any]:
        with self._cond:
            self._cond.wait_for(lambda: all(m in self._done for m in mids), timeout)
            return {m: self._done[m] for m in mids if m in self._done}


def ack_error(infos: Sequence[Any], got: Mapping[int, Any], timeout: float) -> str | None:
    """Why these publishes (paho MQTTMessageInfo) were not all accepted, or None."""
    for info in infos:
        if info.mid not in got:
            return f"no PUBACK within {timeout:g}s"
        code = got[info.mid]
        if code is not None and getattr(code, "is_failure", False):
            return f"broker refused the message: {code}"
    return None


def client_id(role: str) -> str:
    """A unique id per run: two deliverers must never take over each other's session."""
    return f"foodtrace-{role}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def connect(settings: MqttSettings, acks: Acks, client_id: str) -> Any:
    """A connected client (ingest/mqtt_client.py: MQTT 5, or 3.1.1 for the embedded
    demo broker, the same TLS and authentication as every other client) whose network
    loop runs and whose PUBACKs go to `acks`. Raises MqttConnectError."""
    from foodtrace.ingest.mqtt_client import connect_and_wait, make_client

    client = make_client(settings, client_id)
    client.on_publish = acks.on_publish
    connect_and_wait(client, settings)
    return client
