"""Publish messages as a lab or supply-chain actor would: QoS 1, every PUBACK
awaited, refusals reported.

Input files (`read_records`): JSON (one object or an array), JSON lines, or CSV.
CSV columns are message fields; nested fields are either a JSON cell (`lots`,
`inputs`, `outputs`, `reference_document`, `kdes`) or dotted columns
(`reference_document.type`, `lots.0.lot_code`); `quantity`, `value`, `lat`, `lon`
are parsed as numbers; empty cells are left out. A CSV row without `schema` or
`message_id` gets them: the contract's schema name and a UUID derived from the row's
content (so publishing the same file twice is still stored once).

Publishing (`Publisher`): publishes are pipelined (a bounded window of messages
awaiting their PUBACK, at most the broker's Receive Maximum), each carries the MQTT 5
user property `sent_at` (RFC 3339, UTC, microseconds) so ingest can measure lag,
and a PUBACK with a failure reason code (e.g. 0x87 Not authorized: the ACL lets a
sender publish only under its own id) becomes a `RefusedError` naming how many
messages were refused and why.
"""

from __future__ import annotations

import csv
import io
import json
import os
import queue
import re
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from foodtrace.ingest.topics import PREFIX, valid_sender_id

from foodtrace.config import MQTT_URL_ENV, MqttSettings

SENT_AT_PROPERTY = "sent_at"

# CLI names of the kinds -> internal kind
KIND_NAMES: dict[str, str] = {
    "lab-result": "lab_result",
    "chain-event": "chain_event",
    "epcis": "epcis",
    "locations": "location",
    "products": "product",
}
SCHEMA_NAMES = {
    "lab_result": "foodtrace/lab-result/v1",
    "chain_event": "foodtrace/chain-event/v1",
    "location": "foodtrace/location/v1",
    "product": "foodtrace/product/v1",
}
JSON_CELL_FIELDS = frozenset({"lots", "inputs", "outputs", "reference_document", "kdes"})
NUMERIC_FIELDS = frozenset({"quantity", "value", "lat", "lon"})
# Namespace of message ids derived from CSV rows (uuid5 of the row's canonical JSON).
CSV_ROW_NAMESPACE = uuid.UUID("6f1c1d2e-5b0a-4c36-9d0e-2a4f7b8c9d10")


class PublishError(Exception):
    """Something the user must fix; the message says what."""


class InputError(PublishError):
    """The input file cannot be read as messages."""


class RefusedError(PublishError):
    """The broker refused some publishes (PUBACK reason code >= 0x80)."""

    def __init__(self, message: str, stats: PublishStats) -> None:
        super().__init__(message)
        self.stats = stats


# ---- topics --------------------------------------------------------------------


def topic_for(kind: str, payload: dict[str, Any], sender: str | None = None) -> str:
    """The topic a sender publishes this message on (spec section 1)."""
    if kind == "lab_result":
        return f"{PREFIX}/labs/{_sender(payload, 'lab_id', sender)}/results"
    if kind == "chain_event":
        return f"{PREFIX}/chain/{_sender(payload, 'actor_id', sender)}/events"
    if kind == "epcis":
        if not valid_sender_id(sender):
            raise InputError("an EPCIS document names no sender: pass --sender ACTOR_ID")
        return f"{PREFIX}/epcis/{sender}"
    if kind == "location":
        return f"{PREFIX}/registry/locations"
    if kind == "product":
        return f"{PREFIX}/registry/products"
    raise ValueError(f"unknown message kind {kind!r}")


def _sender(payload: dict[str, Any], key: str, sender: str | None) -> str:
    value = payload.get(key) if isinstance(payload, dict) else None
    if valid_sender_id(value):
        return value
    if valid_sender_id(sender):
        return sender
    raise InputError(f"a message has no usable {key} ({value!r}): cannot choose its topic")


# ---- reading files -------------------------------------------------------------


def read_records(path: str | Path, kind: str) -> list[dict[str, Any]]:
    """The messages in a JSON, JSON-lines or CSV file (`-` reads stdin)."""
    name = str(path)
    if name == "-":
        text = sys.stdin.read()
        suffix = ""
    else:
        p = Path(path)
        if not p.exists():
            raise InputError(f"{name}: no such file")
        if p.is_dir():
            raise InputError(f"{name}: is a directory, expected a JSON, JSON-lines or CSV file")
        try:
            text = p.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
        suffix = p.suffix.lower()
    if suffix == ".csv":
        if kind == "epcis":
            raise InputError(f"{name}: EPCIS documents are JSON, not CSV")
        return parse_csv(text, kind, name)
    if suffix in (".jsonl", ".ndjson"):
        return parse_json_lines(text, name)
    return parse_json(text, name)


def parse_json(text: str, name: str = "<input>") -> list[dict[str, Any]]:
    """One object, an array of objects, or (detected) JSON lines."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # several documents: JSON lines
            return parse_json_lines(text, name)
        raise InputError(
            f"{name}: bad JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
    return _objects(doc, name)


def parse_json_lines(text: str, name: str = "<input>") -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{name}: bad JSON at line {lineno}, column {exc.colno}: {exc.msg}"
            ) from exc
        records.extend(_objects(doc, f"{name}: line {lineno}"))
    if not records:
        raise InputError(f"{name}: no messages in the file")
    return records


def _objects(doc: Any, where: str) -> list[dict[str, Any]]:
    items = doc if isinstance(doc, list) else [doc]
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise InputError(
                f"{where}: element {i} is a {type(item).__name__}, expected a JSON object"
            )
    return items


_INT = re.compile(r"[+-]?\d+")


def parse_csv(text: str, kind: str, name: str = "<input>") -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise InputError(f"{name}: empty CSV (no header row)")
    records = []
    for row in reader:
        line = reader.line_num
        if None in row:
            raise InputError(f"{name}: line {line} has more cells than the header has columns")
        record: dict[str, Any] = {}
        for column, cell in row.items():
            if cell is None or not cell.strip():
                continue
            keys = column.strip().split(".")
            _set_path(
                record,
                keys,
                _cell_value(keys, cell.strip(), name, line, column),
                name,
                line,
                column,
            )
        if not record:
            continue
        if kind in SCHEMA_NAMES:
            record.setdefault("schema", SCHEMA_NAMES[kind])
        if "message_id" not in record:
            canonical = json.dumps(record, sort_keys=True, ensure_ascii=False)
            record = {"message_id": str(uuid.uuid5(CSV_ROW_NAMESPACE, canonical)), **record}
        records.append(record)
    if not records:
        raise InputError(f"{name}: no rows after the header")
    return records


def _cell_value(keys: list[str], cell: str, name: str, line: int, column: str) -> Any:
    if len(keys) == 1 and keys[0] in JSON_CELL_FIELDS:
        try:
            return json.loads(cell)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{name}: line {line}, column {column!r}: not valid JSON ({exc.msg}); "
                "nested fields go in as JSON, e.g. "
                '[{"lot_code": "...", "product_code": "...", "quantity": 10, "unit": "kg"}]'
            ) from exc
    if keys[-1] in NUMERIC_FIELDS:
        try:
            return int(cell) if _INT.fullmatch(cell) else float(cell)
        except ValueError:
            raise InputError(
                f"{name}: line {line}, column {column!r}: {cell!r} is not a number"
            ) from None
    return cell


def _set_path(
    record: dict[str, Any], keys: list[str], value: Any, name: str, line: int, column: str
) -> None:
    """record[a][b]... = value; numeric keys index lists (lots.0.lot_code)."""
    node: Any = record
    for key, nxt in zip(keys, [*keys[1:], None], strict=True):
        slot: Any = int(key) if key.isdigit() else key
        if isinstance(node, list):
            if not isinstance(slot, int):
                raise InputError(f"{name}: line {line}, column {column!r}: expected an index")
            while len(node) <= slot:
                node.append(None)
        elif isinstance(slot, int):
            raise InputError(f"{name}: line {line}, column {column!r}: unexpected index {key}")
        if nxt is None:
            node[slot] = value
            return
        child = node[slot] if (isinstance(node, list) or slot in node) else None
        if child is None:
            child = [] if nxt.isdigit() else {}
            node[slot] = child
        node = child


# ---- planning MQTT messages ----------------------------------------------------


@dataclass(frozen=True)
class Outgoing:
    topic: str
    payload: bytes
    elements: int  # messages of the contract inside (1, or the array's length)


def encode(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def plan(
    items: Iterable[tuple[str, dict[str, Any]]],
    batch: int = 1,
    sender: str | None = None,
    window: int = 100,
) -> Iterator[Outgoing]:
    """(kind, payload) -> MQTT messages, one per payload when `batch` is 1.

    With batch > 1, payloads for one topic are gathered into JSON arrays of up to
    `batch`: each topic keeps its order, and payloads of different topics are
    reordered only within about `window` batches' worth (everything pending is sent
    when that much is waiting). Kinds are never mixed: all pending messages of one
    kind go before the first of the next (master data before chain events before
    lab results). EPCIS documents are never batched (a document is one message).
    """
    if batch < 1:
        raise ValueError("batch must be >= 1")
    buffers: dict[str, list[dict[str, Any]]] = {}
    pending = 0
    current_kind: str | None = None

    def flush_all() -> Iterator[Outgoing]:
        nonlocal pending
        for topic, buf in buffers.items():
            yield Outgoing(topic, encode(buf), len(buf))
        buffers.clear()
        pending = 0

    for kind, payload in items:
        topic = topic_for(kind, payload, sender)
        if batch == 1 or kind == "epcis":
            yield Outgoing(topic, encode(payload), 1)
            continue
        if kind != current_kind:
            yield from flush_all()
            current_kind = kind
        buf = buffers.setdefault(topic, [])
        buf.append(payload)
        pending += 1
        if len(buf) >= batch:
            del buffers[topic]
            pending -= len(buf)
            yield Outgoing(topic, encode(buf), len(buf))
        elif pending >= batch * window:
            yield from flush_all()
    yield from flush_all()


# ---- publishing ----------------------------------------------------------------


@dataclass
class PublishStats:
    elements: int = 0  # contract messages published and acknowledged
    messages: int = 0  # MQTT messages
    refused_messages: int = 0
    refused_elements: int = 0
    unconfirmed_messages: int = 0  # not sent, or sent without an answer, after a refusal
    unconfirmed_elements: int = 0
    seconds: float = 0.0
    refusals: Counter = field(default_factory=Counter)  # reason -> MQTT messages
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


class SentAtProperties:
    """PUBLISH properties carrying the `sent_at` user property, packed directly.

    paho's generic `Properties` costs ~70 us per message to build and pack, more than
    the rest of a publish; paho only calls `pack()` on what it is given.
    """

    __slots__ = ("sent_at",)
    _USER_PROPERTY = 0x26

    def __init__(self, sent_at: str) -> None:
        self.sent_at = sent_at

    @property
    def UserProperty(self) -> list[tuple[str, str]]:
        return [(SENT_AT_PROPERTY, self.sent_at)]

    def pack(self) -> bytes:
        key, value = SENT_AT_PROPERTY.encode(), self.sent_at.encode()
        body = (
            bytes([self._USER_PROPERTY])
            + len(key).to_bytes(2, "big")
            + key
            + len(value).to_bytes(2, "big")
            + value
        )
        return _variable_byte_integer(len(body)) + body

    def __str__(self) -> str:
        return f"[UserProperty : {self.UserProperty}]"


def _variable_byte_integer(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


_NO_MATCHING_SUBSCRIBERS = 0x10  # MQTT 5 PUBACK: accepted, but nobody will get it
_DISCONNECTED = object()  # wakes up a publisher waiting for PUBACKs
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
        self._acks: queue.SimpleQueue = queue.SimpleQueue()
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
    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self._acks.put((mid, reason_code))

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
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
        import paho.mqtt.client as mqtt

        client = self._client
        if client is None:
            raise RuntimeError("Publisher is not connected: use it as a context manager")
        stats = PublishStats()
        outstanding: dict[int, Outgoing] = {}
        started = time.monotonic()
        sent_elements = 0
        disconnects_before = self._disconnects
        fruitless = [0]  # disconnects since the last PUBACK

        def refused_and_dropped() -> bool:
            dropped = stats.refused_messages > 0 and self._disconnects > disconnects_before
            stats.dropped_after_refusal = dropped
            return dropped

        def settle(block: bool) -> None:
            """Take PUBACKs off the queue: all that are there, or (block) wait for one."""
            deadline = time.monotonic() + self.ack_timeout
            while outstanding:
                try:
                    if block:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            raise PublishError(
                                f"the broker at {self.settings.url} stopped acknowledging: "
                                f"{len(outstanding)} messages unconfirmed after "
                                f"{self.ack_timeout:g}s"
                            )
                        mid, reason = self._acks.get(timeout=min(remaining, 1.0))
                    else:
                        mid, reason = self._acks.get_nowait()
                except queue.Empty:
                    if block:
                        continue
                    return
                if mid is _DISCONNECTED:
                    fruitless[0] += 1
                    if fruitless[0] >= MAX_FRUITLESS_DISCONNECTS:
                        raise PublishError(
                            f"the broker at {self.settings.url} closed the connection "
                            f"{fruitless[0]} times while {len(outstanding)} messages were in "
                            "flight, without acknowledging them. Mosquitto does this when "
                            "the user may not publish on a topic (ACL) or a message is too "
                            f"large: check the user in {MQTT_URL_ENV} and the messages' "
                            "lab_id / actor_id"
                        )
                    if block and refused_and_dropped():
                        return
                    continue
                fruitless[0] = 0
                msg = outstanding.pop(mid, None)
                if msg is None:
                    continue
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
                if progress is not None:
                    progress(msg.elements)
                if block:
                    return

        def drain() -> bool:
            """Wait for every outstanding PUBACK; False if the broker dropped us after a
            refusal (then waiting longer is pointless)."""
            while outstanding and not refused_and_dropped():
                settle(block=True)
            return not refused_and_dropped()

        def dropped_soon(wait: float = 1.0) -> bool:
            """After a first refusal: does the broker close the connection (Mosquitto)?"""
            deadline = time.monotonic() + wait
            while not refused_and_dropped() and time.monotonic() < deadline:
                try:
                    mid, _ = self._acks.get(timeout=0.05)
                except queue.Empty:
                    continue
                if mid is not _DISCONNECTED:  # nothing else is in flight after a drain
                    continue
            return refused_and_dropped()

        def send(msg: Outgoing) -> None:
            nonlocal sent_elements
            if rate:
                ahead = started + sent_elements / rate - time.monotonic()
                if ahead > 0:
                    settle(block=False)
                    time.sleep(ahead)
            info = client.publish(
                msg.topic, msg.payload, qos=1, properties=SentAtProperties(sent_at_now())
            )  # type: ignore[arg-type]
            # NO_CONN: paho keeps QoS 1 messages and sends them after reconnecting.
            if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                raise PublishError(
                    f"could not publish to {msg.topic}: {mqtt.error_string(info.rc)}"
                )
            outstanding[info.mid] = msg
            sent_elements += msg.elements

        unsent: list[Outgoing] = []
        allowed: set[str] = set()
        pending = iter(messages)
        for msg in pending:
            if msg.topic not in allowed and len(allowed) < PROBED_TOPICS:
                # First message on a topic goes alone: if the ACL denies it, Mosquitto
                # closes the connection right after its PUBACK, and anything else in
                # flight would make that close a reset that loses the PUBACK itself.
                # After PROBED_TOPICS allowed topics the user evidently may publish
                # widely (simulator, registry): stop paying a round trip per topic.
                refused_before = stats.refused_messages
                if not drain():
                    unsent = [msg, *pending]
                    break
                send(msg)
                if not drain():
                    unsent = [*pending]
                    break
                if stats.refused_messages == refused_before:
                    allowed.add(msg.topic)
                elif refused_before == 0 and dropped_soon():
                    unsent = [*pending]
                    break
                continue
            while len(outstanding) >= self.window and not refused_and_dropped():
                settle(block=True)
            if refused_and_dropped():
                unsent = [msg, *pending]
                break
            send(msg)
            settle(block=False)
        drain()
        settle(block=False)  # answers that raced the disconnect still count
        stats.seconds = time.monotonic() - started
        left = list(outstanding.values()) + unsent
        stats.unconfirmed_messages = len(left)
        stats.unconfirmed_elements = sum(m.elements for m in left)
        if stats.refused_messages:
            raise RefusedError(refusal_message(stats, self.settings), stats)
        return stats


def refusal_message(stats: PublishStats, settings: MqttSettings) -> str:
    reasons = ", ".join(f"{r} x{n}" for r, n in stats.refusals.most_common())
    topics = ", ".join(stats.refused_topics)
    who = settings.username or "(anonymous)"
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
            f" User {who!r} may not publish there: a lab or actor may publish only under "
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
