"""The MQTT topic contract (spec/interfaces.md section 1), in one place.

Inbound: what senders publish and the ingest workers subscribe to. Outbound: where
rejection notices and alerts go. Everything that builds or reads a topic uses these
functions, so a topic cannot drift between the publisher, the consumer and alerts.
"""

from __future__ import annotations

import re
from typing import Literal, TypeGuard

from foodtrace.reference import CITY_CODES

PREFIX = "foodtrace/v1"
# MQTT 5 shared subscription group: the ingest workers split the inbound load.
SHARE_GROUP = "foodtrace-ingest"
# Sender of the registry topics: master data names no sender in its topic, and the
# edge does not know the MQTT user name, so the registry's rejections go to
# foodtrace/v1/rejections/registry (deploy/mosquitto/acl lets the registry read it).
REGISTRY_SENDER = "registry"
# Where rejections go when the sender cannot be told from the topic.
UNKNOWN_SENDER = "unknown"
MAX_SENDER_ID_LENGTH = 128

TopicKind = Literal[
    "lab_result", "chain_event", "epcis", "location", "product", "withdrawal_report"
]

INBOUND_FILTERS: tuple[str, ...] = (
    f"{PREFIX}/labs/+/results",
    f"{PREFIX}/chain/+/events",
    f"{PREFIX}/epcis/+",
    f"{PREFIX}/registry/locations",
    f"{PREFIX}/registry/products",
    f"{PREFIX}/chain/+/withdrawals",
)
# What a sender may publish on, for error messages (one line each).
INBOUND_TOPICS_HELP: tuple[str, ...] = (
    f"{PREFIX}/labs/{{lab_id}}/results",
    f"{PREFIX}/chain/{{actor_id}}/events",
    f"{PREFIX}/epcis/{{actor_id}}",
    f"{PREFIX}/registry/locations",
    f"{PREFIX}/registry/products",
    f"{PREFIX}/chain/{{actor_id}}/withdrawals",
)

_REGISTRY_KINDS: dict[str, TopicKind] = {"locations": "location", "products": "product"}
_REGISTRY_LEVELS: dict[str, str] = {kind: level for level, kind in _REGISTRY_KINDS.items()}
# A sender id is one topic level: no MQTT wildcards or level separator, no control
# characters, no white space (the JSON Schemas' sender_id pattern says the same).
_SENDER_ID = re.compile(rf"[^\s/+#\x00-\x1f\x7f]{{1,{MAX_SENDER_ID_LENGTH}}}")


def subscription_filters(shared: bool = True) -> list[str]:
    """The filters an ingest worker subscribes to (QoS 1). With `shared` (MQTT 5),
    as the `$share/foodtrace-ingest/...` group so that workers split the load;
    without (MQTT 3.1.1 brokers such as the embedded demo broker), plain filters."""
    if shared:
        return [f"$share/{SHARE_GROUP}/{f}" for f in INBOUND_FILTERS]
    return list(INBOUND_FILTERS)


def inbound_topic(kind: TopicKind, sender: str | None = None) -> str:
    """The topic a sender publishes a message of this kind on (the inverse of
    `parse_topic`); the registry topics name no sender. ValueError for a sender id
    that cannot stand as one topic level, or an unknown kind."""
    if kind in _REGISTRY_LEVELS:
        return f"{PREFIX}/registry/{_REGISTRY_LEVELS[kind]}"
    if kind not in _SENDER_TOPICS:
        raise ValueError(f"unknown message kind {kind!r}")
    if not valid_sender_id(sender):
        raise ValueError(f"{sender!r} is not a sender id that can stand in a topic")
    return _SENDER_TOPICS[kind].format(prefix=PREFIX, sender=sender)


_SENDER_TOPICS: dict[str, str] = {
    "lab_result": "{prefix}/labs/{sender}/results",
    "chain_event": "{prefix}/chain/{sender}/events",
    "epcis": "{prefix}/epcis/{sender}",
    "withdrawal_report": "{prefix}/chain/{sender}/withdrawals",
}


def valid_sender_id(sender_id: object) -> TypeGuard[str]:
    """A sender id that can stand as one topic level (and be named in an ACL)."""
    return isinstance(sender_id, str) and _SENDER_ID.fullmatch(sender_id) is not None


def parse_topic(topic: object) -> tuple[TopicKind, str] | None:
    """(kind, sender_id) of an inbound topic, or None when it is not one.

    labs/{id}/results -> lab_result, chain/{id}/events -> chain_event,
    epcis/{id} -> epcis, registry/locations -> location, registry/products -> product
    (the registry's sender id is REGISTRY_SENDER).
    """
    if not isinstance(topic, str) or not topic.startswith(PREFIX + "/"):
        return None
    levels = topic[len(PREFIX) + 1 :].split("/")
    match levels:
        case ["labs", sender, "results"] if valid_sender_id(sender):
            return "lab_result", sender
        case ["chain", sender, "events"] if valid_sender_id(sender):
            return "chain_event", sender
        case ["chain", sender, "withdrawals"] if valid_sender_id(sender):
            return "withdrawal_report", sender
        case ["epcis", sender] if valid_sender_id(sender):
            return "epcis", sender
        case ["registry", which] if which in _REGISTRY_KINDS:
            return _REGISTRY_KINDS[which], REGISTRY_SENDER
    return None


def rejection_topic(sender: str | None) -> str:
    """Where a sender hears why its message was quarantined; `.../unknown` when the
    topic named no (usable) sender."""
    return f"{PREFIX}/rejections/{sender if valid_sender_id(sender) else UNKNOWN_SENDER}"


def _city(city: str) -> str:
    if city not in CITY_CODES:
        raise ValueError(f"unknown city {city!r}: expected one of {', '.join(CITY_CODES)}")
    return city


def alert_topic(city: str) -> str:
    """Alert JSON for one affected city."""
    return f"{PREFIX}/alerts/{_city(city)}"


def alert_cap_topic(city: str) -> str:
    """The same alert as OASIS CAP 1.2 XML."""
    return f"{PREFIX}/alerts/{_city(city)}/cap"


# What an emergency office subscribes to: every city's alerts, JSON and CAP.
ALERTS_FILTER = f"{PREFIX}/alerts/#"


def notice_topic(actor_id: str) -> str:
    """A withdrawal notice to one business (spec 6; foodtrace.withdrawals)."""
    if not valid_sender_id(actor_id):
        raise ValueError(f"{actor_id!r} cannot stand as a topic level")
    return f"{PREFIX}/notices/{actor_id}"


def withdrawal_report_topic(actor_id: str) -> str:
    """Where a business answers its withdrawal notices (spec 6)."""
    if not valid_sender_id(actor_id):
        raise ValueError(f"{actor_id!r} cannot stand as a topic level")
    return f"{PREFIX}/chain/{actor_id}/withdrawals"
