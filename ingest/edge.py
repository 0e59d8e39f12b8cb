"""The edge checks: what one MQTT message turns into, decided without any I/O.

`check_message(topic, payload)` never raises, whatever the bytes and the topic.
In order:
1. the topic must be an inbound topic (`unknown_topic`, sender unknown);
2. the payload must fit the byte limit (`oversize`; the caller reads the limit from
   FOODTRACE_MAX_MESSAGE_BYTES);
3. it must be UTF-8 JSON (`not_json`, with the position; NaN/Infinity and numbers
   that overflow a double are refused too, as PostgreSQL's jsonb cannot hold them),
   without a key named twice in one object (`duplicate_key`: which one would count?);
4. a JSON object is one message, an array is one message per element (checked one
   by one, `element_index` set; an empty array is `empty_array`, a non-object
   element fails the schema);
5. each message must pass the JSON Schema of its kind (`schema`, one reason per
   error, every error listed), its `lab_id` / `actor_id` must be the topic's sender
   (`sender_mismatch`), its text must be storable (`invalid_text`: NUL or unpaired
   surrogates), tested_at must not precede sampled_at (`time_order`), tested_at /
   event_time must not be more than MAX_CLOCK_SKEW ahead of `now` (`future_time`),
   and a message_id may appear twice in one array only for the very same message
   (`duplicate_message_id`; an exact repeat is accepted and landing stores it once,
   like a redelivery);
6. an EPCIS topic carries one EPCISDocument: the document is kept
   (`EdgeResult.documents`) and each event is mapped (epcis.py) and checked as a
   chain event; unmappable events are rejected, the others accepted; an event
   carrying `errorDeclaration` is accepted as an `epcis_declaration` (a
   retraction of the event it declares wrong).

Rejected whole messages keep their exact bytes; rejected elements of an array (or
EPCIS events) keep the element re-serialised compactly. Accepted payloads are the
parsed objects as sent (times are converted to UTC later, in the pipeline).
"""

from __future__ import annotations

import json
import logging
import math
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from foodtrace.ingest import epcis
from foodtrace.ingest.messages import (
    DUPLICATE_KEY,
    DUPLICATE_MESSAGE_ID,
    EMPTY_ARRAY,
    FUTURE_TIME,
    INTERNAL_ERROR,
    INVALID_TEXT,
    NOT_JSON,
    OVERSIZE,
    SCHEMA,
    SENDER_MISMATCH,
    TIME_ORDER,
    TOO_MANY_ELEMENTS,
    UNKNOWN_TOPIC,
    Accepted,
    EdgeResult,
    EpcisDocument,
    Reason,
    Rejected,
)
from foodtrace.ingest.schema_check import (
    fast_check,
    instant,
    json_equal,
    json_type_name,
    pointer_token,
    schema_reasons,
)
from foodtrace.ingest.topics import INBOUND_TOPICS_HELP, parse_topic

from foodtrace.reference import MAX_CLOCK_SKEW

log = logging.getLogger("foodtrace.ingest.edge")

DEFAULT_MAX_BYTES = 1024 * 1024
# More messages than this in one MQTT message is refused whole: at ~300 bytes per
# message a 1 MiB payload holds ~3,500; 10,000 tiny elements is not a lab.
MAX_ELEMENTS = 10_000

_SENDER_FIELDS = {
    "lab_result": ("lab_id", "lab"),
    "chain_event": ("actor_id", "actor"),
    "withdrawal_report": ("actor_id", "actor"),
}
_NATURAL_KEYS = {"location": "location_id", "product": "product_code"}


def check_message(
    topic: str,
    payload: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    now: datetime | None = None,
) -> EdgeResult:
    """Everything one MQTT message turns into (see the module doc). `now` is the
    clock the future-time check uses (default: the current time)."""
    try:
        return _check(topic, payload, max_bytes, now)
    except Exception as exc:  # a bug in a check must quarantine the message, not lose it
        log.exception("edge check failed on a message on %r", topic)
        return EdgeResult(
            topic=topic if isinstance(topic, str) else repr(topic),
            sender_id=None,
            rejected=[
                Rejected(
                    [Reason(INTERNAL_ERROR, f"edge check failed: {type(exc).__name__}: {exc}")],
                    raw=payload if isinstance(payload, bytes) else b"",
                )
            ],
        )


def _check(topic: str, payload: Any, max_bytes: int, now: datetime | None) -> EdgeResult:
    raw = _as_bytes(payload)
    parsed = parse_topic(topic)
    if parsed is None:
        shown_topic = topic if isinstance(topic, str) else repr(topic)
        return _whole(
            EdgeResult(topic=shown_topic, sender_id=None),
            raw,
            Reason(
                UNKNOWN_TOPIC,
                f"{shown_topic!r} is not an inbound foodtrace topic; publish to one of: "
                + ", ".join(INBOUND_TOPICS_HELP),
            ),
        )
    kind, sender = parsed
    result = EdgeResult(topic=topic, sender_id=sender)
    if len(raw) > max_bytes:
        return _whole(
            result,
            raw,
            Reason(
                OVERSIZE,
                f"the message is {len(raw)} bytes; the limit is {max_bytes} bytes "
                "(FOODTRACE_MAX_MESSAGE_BYTES): split it into smaller arrays",
            ),
        )
    # EPCIS tools write UTF-8 with a byte order mark (OpenTraceability's examples do);
    # foodtrace's own JSON messages must not carry one (RFC 8259 8.1).
    decoded = _decode(raw, allow_bom=kind == "epcis")
    if isinstance(decoded, Reason):
        return _whole(result, raw, decoded)
    value, text = decoded
    clock = _now(now)
    # Escapes are the only way NUL or lone surrogates get into parsed JSON text.
    check_text = "\\u" in text
    if kind == "epcis":
        return _check_epcis(result, sender, raw, value, clock, check_text)

    if isinstance(value, dict):
        reasons = _element_reasons(kind, sender, value, clock, check_text)
        if reasons:
            return _whole(result, raw, *reasons, message_id=_uuid_of(value))
        result.accepted.append(_accepted(kind, sender, value, None, json_text=text))
        return result
    if not isinstance(value, list):
        return _whole(
            result,
            raw,
            Reason(SCHEMA, f"expected a JSON object or an array of them, got {json_type_name(value)}", ""),
        )
    if not value:
        return _whole(result, raw, Reason(EMPTY_ARRAY, "the array holds no messages", ""))
    if len(value) > MAX_ELEMENTS:
        return _whole(
            result,
            raw,
            Reason(TOO_MANY_ELEMENTS, f"the array holds {len(value)} messages; the limit is "
                                      f"{MAX_ELEMENTS} per MQTT message", ""),
        )
    seen: dict[UUID, tuple[int, Any]] = {}
    for index, element in enumerate(value):
        if isinstance(element, dict):
            reasons = _element_reasons(kind, sender, element, clock, check_text)
            message_id = _uuid_of(element)
        else:
            reasons = [Reason(SCHEMA, f"expected a JSON object, got {json_type_name(element)}", "")]
            message_id = None
        if message_id is not None:
            reasons.extend(_duplicate(seen, message_id, index, element))
        if reasons:
            result.rejected.append(
                Rejected(reasons, raw=_compact(element, raw), message_id=message_id,
                         element_index=index)
            )
        else:
            result.accepted.append(_accepted(kind, sender, element, index))
    return result


def _check_epcis(result: EdgeResult, sender: str, raw: bytes, value: Any, clock: datetime,
                 check_text: bool) -> EdgeResult:
    events = epcis.document_events(value)
    if isinstance(events, Reason):
        return _whole(result, raw, events)
    if check_text:
        bad = _bad_text_path(value)
        if bad is not None:
            return _whole(result, raw, _invalid_text(bad))
    if len(events) > MAX_ELEMENTS:
        return _whole(
            result,
            raw,
            Reason(TOO_MANY_ELEMENTS, f"eventList holds {len(events)} events; the limit is "
                                      f"{MAX_ELEMENTS} per MQTT message", "/epcisBody/eventList"),
        )
    doc_id = epcis.document_id(sender, raw)
    seen: dict[UUID, tuple[int, Any]] = {}
    not_used: list[dict[str, Any]] = []
    containment: list[dict[str, Any]] = []
    for mapped in epcis.map_document(value, sender):
        _accept_lab_results(result, sender, mapped, raw, clock, doc_id, seen)
        containment.extend(mapped.containment)  # pallets, for other documents too
        if mapped.not_used is not None:
            # no CTE: kept with the document, nothing to tell the sender (module doc)
            not_used.append(_not_used_entry(mapped))
            continue
        if mapped.declaration is not None:
            # a retraction of the declared event (epcis.py); lands on its own
            dup = _duplicate(seen, mapped.message_id, mapped.index, mapped.event)
            if dup:
                result.rejected.append(Rejected(dup, raw=_compact(mapped.event, raw),
                                                message_id=mapped.message_id,
                                                element_index=mapped.index))
            else:
                result.accepted.append(
                    Accepted("epcis_declaration", mapped.message_id, sender, mapped.declaration,
                             element_index=mapped.index, document_id=doc_id)
                )
            continue
        if mapped.chain_event is None:
            reasons = list(mapped.reasons)
        else:
            reasons = [
                _as_mapped(r) for r in _element_reasons("chain_event", sender, mapped.chain_event,
                                                        clock, check_text=False)
            ]
        reasons.extend(_duplicate(seen, mapped.message_id, mapped.index, mapped.event))
        if reasons:
            result.rejected.append(
                Rejected(reasons, raw=_compact(mapped.event, raw), message_id=mapped.message_id,
                         element_index=mapped.index)
            )
        elif mapped.chain_event is not None:
            result.accepted.append(
                Accepted("chain_event", mapped.message_id, sender, mapped.chain_event,
                         element_index=mapped.index, document_id=doc_id)
            )
        else:  # epcis.map_document gives each CTE an event or reasons, never neither
            raise AssertionError(f"mapped event {mapped.index} has no chain event and no reason")
    result.documents.append(EpcisDocument(doc_id, sender, raw, value, not_used, containment))
    return result


def _accept_lab_results(result: EdgeResult, sender: str, mapped: epcis.MappedEvent, raw: bytes,
                        clock: datetime, doc_id: UUID, seen: dict[UUID, tuple[int, Any]]) -> None:
    """The lab results read from an event's sensor reports (epcis_sensor.py), checked as
    any lab result: accepted, or rejected with the event's bytes."""
    for lab in mapped.lab_results:
        mid = UUID(lab["message_id"])
        reasons = [_as_mapped(r, "lab result") for r in _element_reasons(
            "lab_result", sender, lab, clock, check_text=False)]
        reasons.extend(_duplicate(seen, mid, mapped.index, lab))
        if reasons:
            result.rejected.append(Rejected(reasons, raw=_compact(mapped.event, raw),
                                            message_id=mid, element_index=mapped.index))
        else:
            result.accepted.append(Accepted("lab_result", mid, sender, lab,
                                            element_index=mapped.index, document_id=doc_id))


def _not_used_entry(mapped: epcis.MappedEvent) -> dict[str, Any]:
    event_id = mapped.event.get("eventID") if isinstance(mapped.event, dict) else None
    entry: dict[str, Any] = {
        "index": mapped.index, "event_id": event_id if isinstance(event_id, str) else None,
        "message_id": str(mapped.message_id), "reason": mapped.not_used}
    if mapped.sensor_notes:  # what its sensor reports lack: validation tells the sender
        entry["sensor_notes"] = mapped.sensor_notes
    return entry


def _as_mapped(reason: Reason, what: str = "chain event") -> Reason:
    """A reason about the chain event (or lab result) an EPCIS event was mapped to: paths
    in the rejection point into the EPCIS event, so the mapped message's path goes in words."""
    where = f" at {reason.path}" if reason.path else ""
    return Reason(reason.code, f"the {what} mapped from this EPCIS event{where}: "
                               f"{reason.message}", None)


# --- one message ---------------------------------------------------------------------


def _element_reasons(kind: str, sender: str, element: dict[str, Any], clock: datetime,
                     check_text: bool) -> list[Reason]:
    reasons: list[Reason] = []
    if not fast_check(kind)(element):
        reasons.extend(schema_reasons(kind, element))
        if not reasons:  # the fast path and jsonschema disagree: jsonschema decides
            log.warning("fast schema check refused a %s that jsonschema accepts", kind)
    sender_field = _SENDER_FIELDS.get(kind)
    if sender_field is not None:
        name, noun = sender_field
        claimed = element.get(name)
        if isinstance(claimed, str) and claimed != sender:
            reasons.append(
                Reason(
                    SENDER_MISMATCH,
                    f"topic says {noun} {sender} but payload says {claimed}: one sender "
                    "cannot speak for another",
                    f"/{name}",
                )
            )
    if check_text:
        bad = _bad_text_path(element)
        if bad is not None:
            reasons.append(_invalid_text(bad))
    reasons.extend(_time_reasons(kind, element, clock))
    return reasons


def _time_reasons(kind: str, element: dict[str, Any], clock: datetime) -> list[Reason]:
    reasons = []
    latest = clock + MAX_CLOCK_SKEW
    if kind == "lab_result":
        tested, sampled = instant(element.get("tested_at")), instant(element.get("sampled_at"))
        if tested is not None and sampled is not None and tested < sampled:
            reasons.append(Reason(
                TIME_ORDER,
                f"tested_at {element['tested_at']} is before sampled_at {element['sampled_at']}",
                "/tested_at",
            ))
        field = "tested_at"
        moment = tested
    elif kind == "chain_event":
        field = "event_time"
        moment = instant(element.get(field))
    else:
        return reasons
    if moment is not None and moment > latest:
        reasons.append(Reason(
            FUTURE_TIME,
            f"{field} {element[field]} is in the future (more than "
            f"{int(MAX_CLOCK_SKEW.total_seconds() // 60)} minutes after the ingest clock, "
            f"{clock.isoformat(timespec='seconds')}): check the sender's clock and time zone",
            f"/{field}",
        ))
    return reasons


def _duplicate(seen: dict[UUID, tuple[int, Any]], message_id: UUID, index: int,
               element: Any) -> list[Reason]:
    earlier = seen.get(message_id)
    if earlier is None:
        seen[message_id] = (index, element)
        return []
    if json_equal(earlier[1], element):
        return []  # the same message twice: stored once, like a redelivery
    return [Reason(
        DUPLICATE_MESSAGE_ID,
        f"message_id {message_id} was already used by element {earlier[0]} of this message "
        "with other content: a message_id names exactly one message",
        "/message_id",
    )]


def _accepted(kind: str, sender: str, element: dict[str, Any], index: int | None,
              json_text: str | None = None) -> Accepted:
    key_field = _NATURAL_KEYS.get(kind)
    return Accepted(
        kind=kind,  # type: ignore[arg-type]  # parse_topic only gives contract kinds here
        message_id=UUID(element["message_id"]),
        sender_id=sender,
        payload=element,
        element_index=index,
        natural_key=element[key_field] if key_field else None,
        json_text=json_text,
    )


# --- bytes and JSON --------------------------------------------------------------------


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class _NonFinite(ValueError):
    def __init__(self, literal: str) -> None:
        super().__init__(literal)
        self.literal = literal


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        names = [k for k, _ in pairs]
        raise _DuplicateKey(next(k for k in names if names.count(k) > 1))
    return obj


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _NonFinite(literal)
    return value


def _no_constant(literal: str) -> Any:
    raise _NonFinite(literal)


_DECODER = json.JSONDecoder(
    object_pairs_hook=_object, parse_float=_finite_float, parse_constant=_no_constant
)


def _decode(raw: bytes, allow_bom: bool = False) -> tuple[Any, str] | Reason:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Reason(NOT_JSON, f"not UTF-8: invalid byte at offset {exc.start} ({exc.reason})")
    if allow_bom and text.startswith("\ufeff"):
        text = text[1:]
    if text.startswith("\ufeff"):
        return Reason(NOT_JSON, "starts with a byte order mark, which JSON must not (RFC 8259 8.1)")
    try:
        return _DECODER.decode(text), text
    except json.JSONDecodeError as exc:
        return Reason(
            NOT_JSON,
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno} (char {exc.pos})",
        )
    except _DuplicateKey as exc:
        return Reason(DUPLICATE_KEY, f"key {exc.key!r} appears twice in one object: which "
                                     "value counts would be a guess")
    except _NonFinite as exc:
        return Reason(NOT_JSON, f"number {exc.literal[:40]} is not a finite JSON number")
    except RecursionError:
        return Reason(NOT_JSON, "not valid JSON here: nested too deeply")
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        return Reason(NOT_JSON, f"not valid JSON here: {exc}")


def _bad_text_path(value: Any) -> str | None:
    """JSON Pointer of the first string (or key) PostgreSQL cannot store: one
    holding NUL or an unpaired UTF-16 surrogate. Iterative: depth is unbounded."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if not _storable(item):
                return path
        elif isinstance(item, dict):
            for key, sub in item.items():
                sub_path = f"{path}/{pointer_token(key)}"
                if not _storable(key):
                    return sub_path
                stack.append((sub, sub_path))
        elif isinstance(item, list):
            stack.extend((sub, f"{path}/{i}") for i, sub in enumerate(item))
    return None


def _storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _invalid_text(path: str) -> Reason:
    return Reason(INVALID_TEXT, "a text holds a NUL character (\\u0000) or an unpaired UTF-16 "
                                "surrogate (such as \\ud800), which cannot be stored", path)


def _compact(element: Any, fallback: bytes) -> bytes:
    """An element's own bytes for quarantine: compact JSON, UTF-8."""
    try:
        return json.dumps(element, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # unpaired surrogates: escaped, still the same JSON value
        return json.dumps(element, separators=(",", ":")).encode("ascii")
    except (RecursionError, ValueError):
        return fallback


# --- small helpers ---------------------------------------------------------------------


def _whole(result: EdgeResult, raw: bytes, *reasons: Reason,
           message_id: UUID | None = None) -> EdgeResult:
    """Reject the whole MQTT message, keeping its exact bytes."""
    result.rejected.append(Rejected(list(reasons), raw=raw, message_id=message_id))
    return result


def _as_bytes(payload: Any) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogatepass")
    return bytes(payload)  # bytearray, memoryview


def _uuid_of(element: Any) -> UUID | None:
    value = element.get("message_id") if isinstance(element, dict) else None
    if not isinstance(value, str) or len(value) > 45:
        return None
    try:
        return UUID(value)
    except ValueError:
        return None




def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)
