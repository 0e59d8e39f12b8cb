"""Publish messages as a lab or supply-chain actor would: QoS 1, every PUBACK
awaited, refusals reported.

The concerns live apart: `publish_input` reads files into contract messages,
`publish_plan` turns them into MQTT messages (topics, batches), and this module
sends them (`Publisher`) and reports. The names of the first two are re-exported
here, as before.

Publishing (`Publisher`): publishes are pipelined (a bounded window of messages
awaiting their PUBACK, at most the broker's Receive Maximum), each carries the MQTT 5
user property `sent_at` (RFC 3339, UTC, microseconds) so ingest can measure lag,
and a PUBACK with a failure reason code (e.g. 0x87 Not authorized: the ACL lets a
sender publish only under its own id) becomes a `RefusedError` naming how many
messages were refused and why.
"""

from __future__ import annotations

import enum
import os
import queue
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from foodtrace.ingest.publish_input import (
    CSV_ROW_NAMESPACE,
    JSON_CELL_FIELDS,
    KIND_NAMES,
    NUMERIC_FIELDS,
    SCHEMA_NAMES,
    InputError,
    PublishError,
    parse_csv,
    parse_json,
    parse_json_lines,
    read_records,
)
from foodtrace.ingest.publish_plan import Outgoing, encode, plan, topic_for

from foodtrace.config import MQTT_URL_ENV, MqttSettings

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt
    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode

__all__ = [
    "CSV_ROW_NAMESPACE",
    "JSON_CELL_FIELDS",
    "KIND_NAMES",
    "NUMERIC_FIELDS",
    "SCHEMA_NAMES",
    "SENT_AT_PROPERTY",
    "InputError",
    "Outgoing",
    "PublishError",
    "PublishStats",
    "Publisher",
    "RefusedError",
    "encode",
    "parse_csv",
    "parse_json",
    "parse_json_lines",
    "plan",
    "progress_bar",
    "publish_file",
    "publish_records",
    "read_records",
    "refusal_message",
    "sent_at_now",
    "topic_for",
]

SENT_AT_PROPERTY = "sent_at"


class RefusedError(PublishError):
    """The broker refused some publishes (PUBACK reason code >= 0x80)."""

    def __init__(self, message: str, stats: PublishStats) -> None:
        super().__init__(message)
        self.stats = stats


@dataclass
class PublishStats:
    elements: int = 0  # contract messages published and acknowledged
    messages: int = 0  # MQTT messages
    refused_messages: int = 0
    refused_elements: int = 0
    unconfirmed_messages: int = 0  # not sent, or sent without an answer, after a refusal
    unconfirmed_elements: int = 0
    seconds: float = 0.0
    refusals: Counter[str] = field(default_factory=Counter)  # reason -> MQTT messages
    refused_topics: list[str] = field(default_factory=list)  # first few
    dropped_after_refusal: bool = False  # the broker closed the connection on refusing
    no_subscribers: list[Outgoing] = field(default_factory=list)  # PUBACK 0x10: to resend

    @property
    def rate(self) -> float:
        return self.elements / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "published": self.elements,
            "messages": self.messages,
            "refused": self.refused_elements,
            "refused_messages": self.refused_messages,
            "unconfirmed": self.unconfirmed_elements,
            "refusal_reasons": dict(self.refusals),
            "seconds": round(self.seconds, 3),
            "per_second": round(self.rate, 1),
        }


def sent_at_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


_NO_MATCHING_SUBSCRIBERS = 0x10  # MQTT 5 PUBACK: accepted, but nobody will get it


class _Signal(enum.Enum):
    """Put on the ack queue in place of a message id (an enum: a type checker narrows it)."""

    DISCONNECTED = "disconnected"  # wakes up a publisher waiting for PUBACKs


_DISCONNECTED: Final = _Signal.DISCONNECTED
PROBED_TOPICS = 16
# Disconnects in a row, with messages in flight and no PUBACK in between, before giving up.
MAX_FRUITLESS_DISCONNECTS = 3


class Publisher:
    """A connected QoS 1 publisher. Use as a context manager.

    `window` bounds the publishes awaiting a PUBACK (never more than the broker's
    Receive Maximum); `ack_timeout` is how long to wait without any PUBACK before
    giving up on the rest.

    Refusals: an MQTT 5 broker answers a publish it does not allow with a PUBACK
    reason code (0x87 Not authorized). Mosquitto 2.0 also closes the connection right
    after such a PUBACK, dropping whatever was still in flight; resending would only
    be refused and dropped again. So after a refusal followed by a disconnect the
    publisher stops, and reports what was refused and what stayed unconfirmed. To get
    that PUBACK at all, the first message on each new topic is sent alone (with more
    in flight, the broker's close becomes a TCP reset that loses the PUBACK), until
    PROBED_TOPICS topics were allowed: a user allowed that widely is a simulator or
    the registry, and a later refusal still ends in a clear error.
    """

    def __init__(
        self,
        settings: MqttSettings,
        *,
        client_id: str | None = None,
        window: int = 1000,
        ack_timeout: float = 30.0,
        connect_timeout: float = 10.0,
    ) -> None:
        self.settings = settings
        self.client_id = client_id or f"foodtrace-publish-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.requested_window = window
        self.ack_timeout = ack_timeout
        self.connect_timeout = connect_timeout
        self._acks: queue.SimpleQueue[tuple[int | _Signal, Any]] = queue.SimpleQueue()
        self._client: Any = None
        self._disconnects = 0
        self.window = window

    def __enter__(self) -> Publisher:
        from foodtrace.ingest.mqtt_client import MqttConnectError, connect_and_wait, make_client

        client = make_client(self.settings, self.client_id)
        client.on_publish = self._on_publish
        client.on_disconnect = self._on_disconnect
        # No paho limit (0): with one, paho rescans every unacknowledged message on each
        # PUBACK (O(window) per message). Our window (below) bounds what is in flight.
        client.max_inflight_messages_set(0)
        try:
            props = connect_and_wait(client, self.settings, timeout=self.connect_timeout)
        except MqttConnectError as exc:
            raise PublishError(str(exc)) from exc
        self._client = client
        receive_max = getattr(props, "ReceiveMaximum", 65535) if props is not None else 65535
        self.window = max(1, min(self.requested_window, int(receive_max)))
        return self

    def __exit__(self, *exc: object) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.disconnect()
            finally:
                client.loop_stop()

    # Both run in paho's network thread: hand over, never block.
    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason_code: ReasonCode,
        properties: Properties,
    ) -> None:
        self._acks.put((mid, reason_code))

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode, properties: Properties | None,
    ) -> None:
        self._disconnects += 1
        self._acks.put((_DISCONNECTED, reason_code))

    def publish(
        self,
        messages: Iterable[Outgoing],
        *,
        rate: float | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> PublishStats:
        """Publish all, wait for every PUBACK. `rate` caps contract messages per
        second; `progress(n)` is called with newly answered elements.
        Raises RefusedError if any PUBACK carried a failure reason code.

        A PUBACK of 0x10 (no matching subscribers) means the broker dropped the
        message: no ingest worker was subscribed (Mosquitto 2.0 loses shared
        subscriptions over a restart until the workers reconnect). Those are sent
        again with backoff for up to `ack_timeout`; message_id makes that safe.
        """
        stats = self._publish_once(messages, rate=rate, progress=progress)
        deadline = time.monotonic() + self.ack_timeout
        delay = 0.5
        while stats.no_subscribers and time.monotonic() < deadline:
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
            again, stats.no_subscribers = stats.no_subscribers, []
            retry = self._publish_once(again, rate=rate, progress=progress)
            stats.elements += retry.elements
            stats.messages += retry.messages
            stats.seconds += retry.seconds
            stats.no_subscribers = retry.no_subscribers
        if stats.no_subscribers:
            stats.unconfirmed_messages += len(stats.no_subscribers)
            stats.unconfirmed_elements += sum(m.elements for m in stats.no_subscribers)
            raise PublishError(
                f"{stats.unconfirmed_elements} message(s) found no subscriber at the broker "
                f"for {self.ack_timeout:g}s and were dropped by it: is `foodtrace ingest` "
                "running and subscribed? Publish them again (stored once by message_id)."
            )
        return stats

    def _publish_once(
        self,
        messages: Iterable[Outgoing],
        *,
        rate: float | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> PublishStats:
        if self._client is None:
            raise RuntimeError("Publisher is not connected: use it as a context manager")
        stats = _Round(self, rate, progress).run(iter(messages))
        if stats.refused_messages:
            raise RefusedError(refusal_message(stats, self.settings), stats)
        return stats


class _Round:
    """One pass of `Publisher.publish` over its messages: the send loop, the PUBACKs
    in flight (`outstanding`) and the stats of this pass."""

    def __init__(
        self,
        publisher: Publisher,
        rate: float | None,
        progress: Callable[[int], None] | None,
    ) -> None:
        import paho.mqtt.client as mqtt
        from foodtrace.ingest.mqtt_client import publish_properties

        self._mqtt = mqtt
        self._queued = (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN)
        self._publish_properties = publish_properties
        self.pub = publisher
        self.client = publisher._client
        self.acks = publisher._acks
        self.rate = rate
        self.progress = progress
        self.stats = PublishStats()
        self.outstanding: dict[int, Outgoing] = {}
        self.started = time.monotonic()
        self.sent_elements = 0
        self.disconnects_before = publisher._disconnects
        self.fruitless = 0  # disconnects since the last PUBACK

    def run(self, pending: Iterator[Outgoing]) -> PublishStats:
        stats = self.stats
        unsent: list[Outgoing] = []
        allowed: set[str] = set()
        # Locals: this loop runs once per message.
        outstanding, window = self.outstanding, self.pub.window
        send, settle, refused_and_dropped = self.send, self.settle, self.refused_and_dropped
        for msg in pending:
            if msg.topic not in allowed and len(allowed) < PROBED_TOPICS:
                # First message on a topic goes alone: if the ACL denies it, Mosquitto
                # closes the connection right after its PUBACK, and anything else in
                # flight would make that close a reset that loses the PUBACK itself.
                # After PROBED_TOPICS allowed topics the user evidently may publish
                # widely (simulator, registry): stop paying a round trip per topic.
                refused_before = stats.refused_messages
                if not self.drain():
                    unsent = [msg, *pending]
                    break
                self.send(msg)
                if not self.drain():
                    unsent = [*pending]
                    break
                if stats.refused_messages == refused_before:
                    allowed.add(msg.topic)
                elif refused_before == 0 and self.dropped_soon():
                    unsent = [*pending]
                    break
                continue
            while len(outstanding) >= window and not refused_and_dropped():
                settle(block=True)
            if refused_and_dropped():
                unsent = [msg, *pending]
                break
            send(msg)
            settle(block=False)
        self.drain()
        self.settle(block=False)  # answers that raced the disconnect still count
        stats.seconds = time.monotonic() - self.started
        left = list(self.outstanding.values()) + unsent
        stats.unconfirmed_messages = len(left)
        stats.unconfirmed_elements = sum(m.elements for m in left)
        return stats

    def refused_and_dropped(self) -> bool:
        dropped = (
            self.stats.refused_messages > 0 and self.pub._disconnects > self.disconnects_before
        )
        self.stats.dropped_after_refusal = dropped
        return dropped

    def send(self, msg: Outgoing) -> None:
        if self.rate:
            ahead = self.started + self.sent_elements / self.rate - time.monotonic()
            if ahead > 0:
                self.settle(block=False)
                time.sleep(ahead)
        props = self._publish_properties([(SENT_AT_PROPERTY, sent_at_now())])
        info = self.client.publish(msg.topic, msg.payload, qos=1, properties=props)
        # NO_CONN: paho keeps QoS 1 messages and sends them after reconnecting.
        if info.rc not in self._queued:
            raise PublishError(
                f"could not publish to {msg.topic}: {self._mqtt.error_string(info.rc)}"
            )
        self.outstanding[info.mid] = msg
        self.sent_elements += msg.elements

    def settle(self, block: bool) -> None:
        """Take PUBACKs off the queue: all that are there, or (block) wait for one."""
        deadline = time.monotonic() + self.pub.ack_timeout
        while self.outstanding:
            try:
                if block:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise PublishError(
                            f"the broker at {self.pub.settings.url} stopped acknowledging: "
                            f"{len(self.outstanding)} messages unconfirmed after "
                            f"{self.pub.ack_timeout:g}s"
                        )
                    mid, reason = self.acks.get(timeout=min(remaining, 1.0))
                else:
                    mid, reason = self.acks.get_nowait()
            except queue.Empty:
                if block:
                    continue
                return
            if mid is _Signal.DISCONNECTED:
                self.fruitless += 1
                if self.fruitless >= MAX_FRUITLESS_DISCONNECTS:
                    raise PublishError(
                        f"the broker at {self.pub.settings.url} closed the connection "
                        f"{self.fruitless} times while {len(self.outstanding)} messages were "
                        "in flight, without acknowledging them. Mosquitto does this when "
                        "the user may not publish on a topic (ACL) or a message is too "
                        f"large: check the user in {MQTT_URL_ENV} and the messages' "
                        "lab_id / actor_id"
                    )
                if block and self.refused_and_dropped():
                    return
                continue
            self.fruitless = 0
            msg = self.outstanding.pop(mid, None)
            if msg is None:
                continue
            stats = self.stats
            if reason.value == _NO_MATCHING_SUBSCRIBERS:
                stats.no_subscribers.append(msg)
            elif reason.is_failure:
                stats.refused_messages += 1
                stats.refused_elements += msg.elements
                stats.refusals[f"{reason.getName()} (0x{reason.value:02X})"] += 1
                if len(stats.refused_topics) < 5 and msg.topic not in stats.refused_topics:
                    stats.refused_topics.append(msg.topic)
            else:
                stats.elements += msg.elements
                stats.messages += 1
            if self.progress is not None:
                self.progress(msg.elements)
            if block:
                return

    def drain(self) -> bool:
        """Wait for every outstanding PUBACK; False if the broker dropped us after a
        refusal (then waiting longer is pointless)."""
        while self.outstanding and not self.refused_and_dropped():
            self.settle(block=True)
        return not self.refused_and_dropped()

    def dropped_soon(self, wait: float = 1.0) -> bool:
        """After a first refusal: does the broker close the connection (Mosquitto)?"""
        deadline = time.monotonic() + wait
        while not self.refused_and_dropped() and time.monotonic() < deadline:
            try:
                self.acks.get(timeout=0.05)  # nothing else is in flight after a drain
            except queue.Empty:
                continue
        return self.refused_and_dropped()


def refusal_message(stats: PublishStats, settings: MqttSettings) -> str:
    reasons = ", ".join(f"{r} x{n}" for r, n in stats.refusals.most_common())
    topics = ", ".join(stats.refused_topics)
    # with a client certificate (no user in the URL) the broker's user is its CN
    who = repr(settings.username) if settings.username else (
        "the client certificate's CN (FOODTRACE_MQTT_CERT_FILE)"
        if settings.tls_files_or_env().cert_file else "'(anonymous)'"
    )
    text = (
        f"the broker refused {stats.refused_elements} message(s) in "
        f"{stats.refused_messages} MQTT message(s) ({reasons}) on {topics}"
    )
    if stats.dropped_after_refusal:
        text += (
            f" and closed the connection, so publishing stopped: {stats.elements} published, "
            f"{stats.unconfirmed_elements} not sent or not confirmed"
        )
    else:
        text += f"; {stats.elements} published"
    text += "."
    if any("0x87" in r for r in stats.refusals):
        text += (
            f" User {who} may not publish there: a lab or actor may publish only under "
            "its own id (check lab_id / actor_id in the messages, or the user in "
            f"{MQTT_URL_ENV})."
        )
    return text


def progress_bar(total: int, *, quiet: bool = False, desc: str = "publishing") -> Any:
    """A tqdm bar on stderr, only for people watching a terminal."""
    from tqdm import tqdm

    return tqdm(
        total=total,
        unit="msg",
        desc=desc,
        file=sys.stderr,
        leave=False,
        disable=quiet or not sys.stderr.isatty(),
        mininterval=0.5,
    )


def publish_records(
    settings: MqttSettings,
    kind: str,
    records: Sequence[dict[str, Any]],
    *,
    batch: int = 1,
    sender: str | None = None,
    rate: float | None = None,
    quiet: bool = True,
) -> PublishStats:
    """Publish contract messages of one kind (topics from their lab_id / actor_id)."""
    outgoing = list(plan(((kind, r) for r in records), batch, sender))
    with progress_bar(len(records), quiet=quiet) as bar, Publisher(settings) as pub:
        return pub.publish(outgoing, rate=rate, progress=bar.update)


def publish_file(
    settings: MqttSettings,
    kind_name: str,
    path: str | Path,
    *,
    batch: int = 1,
    sender: str | None = None,
    rate: float | None = None,
    quiet: bool = True,
) -> PublishStats:
    """`foodtrace publish KIND FILE`: read the file, publish every message."""
    if kind_name not in KIND_NAMES:
        raise InputError(f"unknown kind {kind_name!r}; choose one of {', '.join(KIND_NAMES)}")
    kind = KIND_NAMES[kind_name]
    records = read_records(path, kind)
    if kind == "epcis" and sender is None:
        sender = settings.username
    return publish_records(
        settings, kind, records, batch=batch, sender=sender, rate=rate, quiet=quiet
    )
