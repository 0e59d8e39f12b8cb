"""What the edge decides about one MQTT message: the contract between the pure
checks (edge.py, epcis.py) and the I/O (landing.py, consumer.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

Kind = Literal["lab_result", "chain_event", "location", "product"]


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


@dataclass
class EdgeResult:
    """Everything one MQTT message turned into."""

    topic: str
    sender_id: str | None
    accepted: list[Accepted] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    documents: list[EpcisDocument] = field(default_factory=list)
