"""Stored chain events (core.events + core.event_lots) as EPCIS 2.0 JSON-LD events.

Every event is rendered from foodtrace's own record of the Critical Tracking
Event, whether it came as foodtrace JSON or as EPCIS, so that every response is
valid against GS1's EPCIS 2.0 JSON Schema by construction (the original EPCIS
document is kept, byte for byte, in landing.epcis_documents; it is not replayed
because a sender's own document need not validate, e.g. a bizTransaction that is
no URI). The mapping is the inverse of the edge's EPCIS mapping (ingest/epcis.py),
so a peer tool - or foodtrace's own `map_document` - reads back the same CTE:

| chain event      | EPCIS                                    |
|------------------|------------------------------------------|
| harvesting       | ObjectEvent ADD, bizStep commissioning   |
| cooling          | ObjectEvent OBSERVE, bizStep storing     |
| initial_packing  | ObjectEvent ADD, bizStep packing         |
| first_receiving  | ObjectEvent ADD, bizStep receiving       |
| receiving        | ObjectEvent OBSERVE, bizStep receiving   |
| shipping         | ObjectEvent OBSERVE, bizStep shipping    |
| sale             | ObjectEvent OBSERVE, bizStep retail_selling |
| transformation   | TransformationEvent (no bizStep)         |

- Lots: quantityList (input/outputQuantityList) with epcClass
  `gs1_ids.foodtrace_lot_uri(product_code, lot_code)`: a GS1 Digital Link for GS1
  lot codes `(01)GTIN(10)LOT`, else `urn:foodtrace:lot:{product}:{lot}`; units as
  UN/ECE Rec 20 codes (kg KGM, t TNE, each EA, case CS, box BX, crate CR).
- Places: bizLocation, sourceList / destinationList of type `location`, all with
  `gs1_ids.foodtrace_location_uri` (ids that are URIs already, such as SGLNs, as is).
- Reference document: bizTransactionList, type the CBV word when the document
  type is one (BOL -> bol), the identifier the number when it is a URI already,
  else `urn:foodtrace:bt:{type}:{number}` (EPCIS needs a URI there).
- eventID: the sender's own eventID for events captured as EPCIS (when it is a
  URI), else `urn:uuid:{message_id}`. eventTime in the sender's
  eventTimeZoneOffset when it sent one, else in the deployment's offset
  (FOODTRACE_EPCIS_TZ_OFFSET, default +08:00). recordTime: when it was promoted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import quote
from uuid import UUID

from foodtrace.ingest.epcis_lines import CONTAINER_PRODUCT
from foodtrace.ingest.gs1_ids import foodtrace_location_uri, foodtrace_lot_uri

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
SCHEMA_VERSION = "2.0"
QUERY_NAME = "SimpleEventQuery"

# chain event type -> (bizStep word, action); transformation is its own event type
OBJECT_EVENTS: dict[str, tuple[str, str]] = {
    "harvesting": ("commissioning", "ADD"),
    "cooling": ("storing", "OBSERVE"),
    "initial_packing": ("packing", "ADD"),
    "first_receiving": ("receiving", "ADD"),
    "receiving": ("receiving", "OBSERVE"),
    "shipping": ("shipping", "OBSERVE"),
    "sale": ("retail_selling", "OBSERVE"),
}
UOM: dict[str, str] = {"kg": "KGM", "t": "TNE", "each": "EA", "case": "CS", "box": "BX",
                       "crate": "CR"}
# CBV 2.0 BusinessTransactionType words (the JSON Schema's enum)
BTT = frozenset({"bol", "cert", "desadv", "inv", "pedigree", "po", "poc", "prodorder", "recadv",
                 "rma", "testprd", "testres", "upevt"})
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]+$")
_OFFSET = re.compile(r"^[+-](0\d|1[0-3]):[0-5]\d$|^[+-]14:00$")


@dataclass(frozen=True)
class LotLine:
    role: str  # lot | input | output
    lot_code: str
    product_code: str
    quantity: Decimal | float | int
    unit: str


@dataclass(frozen=True)
class EventRow:
    """One core.events row with its core.event_lots, as query.py reads it."""

    message_id: UUID
    event_time: datetime
    event_type: str
    location_id: str
    source_location_id: str | None
    destination_location_id: str | None
    reference_document_type: str | None
    reference_document_number: str | None
    promoted_at: datetime | None
    lots: tuple[LotLine, ...]
    epcis_event_id: str | None = None  # the sender's eventID, captured as EPCIS
    epcis_offset: str | None = None  # the sender's eventTimeZoneOffset
    # serial EPCs an EPCIS sender listed (epcList, inputEPCList, outputEPCList)
    epcs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # the latest errorDeclaration its sender captured for it (core.retractions):
    # {declarationTime, reason (CBV word), correctiveEventIDs}
    error_declaration: dict[str, Any] | None = None


def is_uri(value: object) -> bool:
    """An absolute URI (scheme ':' ...), as the GS1 schema's `format: uri` means."""
    return isinstance(value, str) and len(value) <= 2048 and bool(_URI.match(value))


def event_id(row: EventRow) -> str:
    if row.epcis_event_id and is_uri(row.epcis_event_id):
        return row.epcis_event_id
    return f"urn:uuid:{row.message_id}"


def _tz(offset: str) -> timezone:
    sign = -1 if offset[0] == "-" else 1
    return timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))


def _time(moment: datetime, offset: str) -> str:
    shown = moment.astimezone(_tz(offset))
    return shown.isoformat(timespec="milliseconds" if shown.microsecond else "seconds")


def _number(value: Decimal | float | int) -> int | float:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _quantity(line: LotLine) -> dict[str, Any]:
    element: dict[str, Any] = {
        "epcClass": foodtrace_lot_uri(line.product_code, line.lot_code),
        "quantity": _number(line.quantity),
    }
    uom = UOM.get(line.unit)
    if uom is not None:
        element["uom"] = uom
    return element


def _serials(row: EventRow, key: str) -> list[str]:
    return [x for x in row.epcs.get(key, ()) if is_uri(x)]


def biz_transaction(doc_type: str | None, number: str | None) -> dict[str, str] | None:
    if not number:
        return None
    kind = (doc_type or "").strip()
    word = kind.lower()
    if is_uri(number):
        ident = number
    else:
        ident = f"urn:foodtrace:bt:{quote(kind or 'unspecified', safe='')}:{quote(number, safe='')}"
    entry = {"bizTransaction": ident}
    if word in BTT:
        entry["type"] = word
    return entry


ERROR_REASONS = frozenset({"did_not_occur", "incorrect_data"})  # CBV 2.0 ER words


def error_declaration(declared: dict[str, Any], offset: str) -> dict[str, Any]:
    """The `errorDeclaration` of a retracted event, as GS1's schema has it: a reason
    that is no CBV word is left out (the schema wants a word or a non-GS1 URI)."""
    out: dict[str, Any] = {}
    moment = declared.get("declarationTime")
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if isinstance(moment, datetime):
        out["declarationTime"] = _time(moment, offset)
    reason = declared.get("reason")
    if reason in ERROR_REASONS:
        out["reason"] = reason
    corrective = [c for c in declared.get("correctiveEventIDs") or () if is_uri(c)]
    if corrective:
        out["correctiveEventIDs"] = corrective
    return out


def render_event(row: EventRow, default_offset: str, *, with_context: bool = False) -> dict[str, Any]:
    """One EPCIS 2.0 event (see the module doc). `with_context` adds @context, which
    an event standing alone (GET /events/{eventID}) must carry."""
    offset = row.epcis_offset if row.epcis_offset and _OFFSET.match(row.epcis_offset) \
        else default_offset
    event: dict[str, Any] = {}
    if with_context:
        event["@context"] = [EPCIS_CONTEXT]
    if row.event_type == "transformation":
        event["type"] = "TransformationEvent"
    else:
        event["type"] = "ObjectEvent"
    event["eventTime"] = _time(row.event_time, offset)
    event["eventTimeZoneOffset"] = offset
    if row.promoted_at is not None:
        event["recordTime"] = _time(row.promoted_at, "+00:00")
    event["eventID"] = event_id(row)
    if row.error_declaration is not None:
        declared = error_declaration(row.error_declaration, offset)
        if "declarationTime" in declared:
            event["errorDeclaration"] = declared
    if row.event_type == "transformation":
        for key, role in (("inputQuantityList", "input"), ("outputQuantityList", "output")):
            lines = [_quantity(x) for x in row.lots if x.role == role]
            if lines:
                event[key] = lines
        for key in ("inputEPCList", "outputEPCList"):
            serials = _serials(row, key)
            if serials:
                event[key] = serials
    else:
        step, action = OBJECT_EVENTS[row.event_type]
        event["action"] = action
        event["bizStep"] = step
        # a pallet line (an SSCC whose contents its document did not give) goes back
        # as the SSCC its sender listed in epcList, not as a quantity
        lines = [_quantity(x) for x in row.lots
                 if x.role == "lot" and x.product_code != CONTAINER_PRODUCT]
        serials = _serials(row, "epcList")
        if serials or not lines:  # (promotion keeps no event without lots)
            event["epcList"] = serials
        if lines:
            event["quantityList"] = lines
    event["bizLocation"] = {"id": foodtrace_location_uri(row.location_id)}
    transaction = biz_transaction(row.reference_document_type, row.reference_document_number)
    if transaction is not None:
        event["bizTransactionList"] = [transaction]
    if row.source_location_id:
        event["sourceList"] = [{"type": "location",
                                "source": foodtrace_location_uri(row.source_location_id)}]
    if row.destination_location_id:
        event["destinationList"] = [{"type": "location",
                                     "destination": foodtrace_location_uri(
                                         row.destination_location_id)}]
    return event


def query_document(events: list[dict[str, Any]], created: datetime) -> dict[str, Any]:
    """An EPCISQueryDocument holding `events` (the response of GET /events)."""
    return {
        "@context": [EPCIS_CONTEXT],
        "type": "EPCISQueryDocument",
        "schemaVersion": SCHEMA_VERSION,
        "creationDate": _time(created, "+00:00"),
        "epcisBody": {
            "queryResults": {
                "queryName": QUERY_NAME,
                "resultsBody": {"eventList": events},
            }
        },
    }
