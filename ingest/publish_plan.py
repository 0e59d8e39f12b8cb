"""Planning MQTT messages for `foodtrace publish`: contract messages -> (topic,
payload) with the topic from `topics.inbound_topic`, optionally batched into JSON
arrays per topic. No broker.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from foodtrace.ingest.publish_input import InputError
from foodtrace.ingest.topics import inbound_topic, valid_sender_id

# ---- topics --------------------------------------------------------------------


# The field of a message that names its sender, per kind (the registry names none).
SENDER_FIELDS = {"lab_result": "lab_id", "chain_event": "actor_id"}


def topic_for(kind: str, payload: dict[str, Any], sender: str | None = None) -> str:
    """The topic a sender publishes this message on (spec section 1): the sender is
    the message's lab_id / actor_id, else `sender`; EPCIS documents take `sender`."""
    if kind in SENDER_FIELDS:
        return inbound_topic(kind, _sender(payload, SENDER_FIELDS[kind], sender))  # type: ignore[arg-type]
    if kind == "epcis":
        if not valid_sender_id(sender):
            raise InputError("an EPCIS document names no sender: pass --sender ACTOR_ID")
        return inbound_topic("epcis", sender)
    if kind in ("location", "product"):
        return inbound_topic(kind)  # type: ignore[arg-type]
    raise ValueError(f"unknown message kind {kind!r}")


def _sender(payload: dict[str, Any], key: str, sender: str | None) -> str:
    value = payload.get(key) if isinstance(payload, dict) else None
    if valid_sender_id(value):
        return value
    if valid_sender_id(sender):
        return sender
    raise InputError(f"a message has no usable {key} ({value!r}): cannot choose its topic")


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
