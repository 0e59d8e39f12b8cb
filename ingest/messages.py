"""What the edge decides about one MQTT message: the contract between the pure
checks (edge.py, epcis.py) and the I/O (landing.py, consumer.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

# epcis_declaration: an EPCIS errorDeclaration (landing.epcis_declarations, epcis.py)
Kind = Literal["lab_result", "chain_event", "location", "product", "epcis_declaration"]

# Reason codes of the edge (stable: senders, quarantine queries and dashboards key
# on them). Every `Reason.code` the edge or the consumer writes is one of these.
UNKNOWN_TOPIC = "unknown_topic"  # not an inbound foodtrace topic
OVERSIZE = "oversize"  # over the byte limit (FOODTRACE_MAX_MESSAGE_BYTES)
NOT_JSON = "not_json"  # not UTF-8, not JSON, NaN/Infinity, nested too deep
DUPLICATE_KEY = "duplicate_key"  # an object names the same key twice (ambiguous)
EMPTY_ARRAY = "empty_array"
TOO_MANY_ELEMENTS = "too_many_elements"
SCHEMA = "schema"  # breaks the JSON Schema of its kind (one reason per error)
SENDER_MISMATCH = "sender_mismatch"  # payload lab_id/actor_id is not the topic's
INVALID_TEXT = "invalid_text"  # NUL or unpaired surrogate: cannot be stored
TIME_ORDER = "time_order"  # tested_at before sampled_at
FUTURE_TIME = "future_time"  # beyond the allowed clock skew
DUPLICATE_MESSAGE_ID = "duplicate_message_id"  # same id, other content, same array
NOT_EPCIS = "not_epcis"  # the body on an epcis topic is no EPCISDocument
EPCIS_UNSUPPORTED = "epcis_unsupported"  # an EPCIS event with no chain-event mapping
EPCIS_INCOMPLETE = "epcis_incomplete"  # an EPCIS event lacking a KDE the mapping needs
INTERNAL_ERROR = "internal_error"  # a bug in a check; the message is quarantined
EDGE_REASON_CODES: frozenset[str] = frozenset({
    UNKNOWN_TOPIC, OVERSIZE, NOT_JSON, DUPLICATE_KEY, EMPTY_ARRAY, TOO_MANY_ELEMENTS,
    SCHEMA, SENDER_MISMATCH, INVALID_TEXT, TIME_ORDER, FUTURE_TIME, DUPLICATE_MESSAGE_ID,
    NOT_EPCIS, EPCIS_UNSUPPORTED, EPCIS_INCOMPLETE, INTERNAL_ERROR,
})


@dataclass(frozen=True)
class Reason:
    """Why something was rejected: a stable code for machines, a sentence for people."""

    code: str  # e.g. not_json, schema, sender_mismatch, oversize, unknown_topic
    message: str
    path: str | None = None  # JSON pointer-ish path of the offending field, when known

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "path": self.path}


@dataclass(frozen=True)
class Accepted:
    """One message (an element of an array payload, or the whole object) to land."""

    kind: Kind
    message_id: UUID
    sender_id: str
    payload: dict[str, Any]
    element_index: int | None = None
    natural_key: str | None = None  # location_id / product_code for master data
    document_id: UUID | None = None  # the EPCIS document a chain event was mapped from
    # The payload's JSON text exactly as received, when the message was this one
    # object: landing stores it without encoding the payload again (hot path).
    json_text: str | None = None


@dataclass(frozen=True)
class Rejected:
    reasons: list[Reason]
    raw: bytes  # the bytes that were rejected (element or whole)
    message_id: UUID | None = None
    element_index: int | None = None


@dataclass(frozen=True)
class EpcisDocument:
    document_id: UUID
    actor_id: str
    raw: bytes
    document: dict[str, Any]
    # events that are no Critical Tracking Event: {index, event_id, message_id, reason}
    not_used: list[dict[str, Any]] = field(default_factory=list)
    # what its AggregationEvents put into pallets (landing.epcis_containment, 0016)
    containment: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class EdgeResult:
    """Everything one MQTT message turned into."""

    topic: str
    sender_id: str | None
    accepted: list[Accepted] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    documents: list[EpcisDocument] = field(default_factory=list)
