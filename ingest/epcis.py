"""GS1 EPCIS 2.0 JSON(-LD) documents -> foodtrace chain events (pure, no I/O).

An actor publishes an `EPCISDocument` on foodtrace/v1/epcis/{actor_id}. Each event
of its eventList is mapped to one chain event (spec 2.2) following the GS1 US FSMA 204
mapping in shared/domain/fsma204.md:

| EPCIS event                                | chain event       |
|--------------------------------------------|-------------------|
| ObjectEvent, bizStep commissioning         | harvesting        |
| ObjectEvent, bizStep storing               | cooling           |
| ObjectEvent, bizStep packing               | initial_packing   |
| ObjectEvent, bizStep receiving, action ADD | first_receiving   |
| ObjectEvent, bizStep receiving, OBSERVE    | receiving         |
| ObjectEvent, bizStep shipping              | shipping          |
| ObjectEvent, bizStep retail_selling        | sale              |
| TransformationEvent (any bizStep)          | transformation    |

Decisions (documented here because the contract is silent):
- bizStep and the other CBV codes are read as bare words (`shipping`), CBV 1.x URNs
  (`urn:epcglobal:cbv:bizstep:shipping`) or CBV 2.0 URIs
  (`https://ref.gs1.org/cbv/BizStep-shipping`, `https://gs1.org/voc/BizStep-shipping`).
  Any other URI is a private extension and is not guessed at.
- Lots come from `quantityList` (`inputQuantityList` / `outputQuantityList`) entries
  whose `epcClass` names a GTIN *and* a batch/lot: an LGTIN URN
  (`urn:epc:class:lgtin:4012345.012345.998877`) or a GS1 Digital Link
  (`https://id.gs1.org/01/04012345123452/10/998877`). Both give the same codes:
  `product_code` = the GTIN-14 (`04012345123452`) and `lot_code` = the GS1 element
  string printed under the barcode, `(01)04012345123452(10)998877`. The GTIN makes
  the lot code globally unique (a batch number alone is only unique per product),
  and a lab that reads the label writes the same code.
- `quantity`/`uom`: UN/ECE Rec 20 codes map onto the contract's units (KGM -> kg,
  TNE -> t, GRM/LBR/ONZ -> kg converted, EA/H87/C62 -> each, CS -> case, BX -> box,
  CR -> crate); no uom means a count (EPCIS: instances), i.e. `each`.
- Serialised identifiers (`epcList` SGTINs, `inputEPCList`, ...) without a lot class
  cannot be traced as lots: such events are rejected (`epcis_unsupported`). When an
  event has both, the lots are mapped and the serials stay in `kdes.epcis_event`.
- Location: `bizLocation.id`, else `readPoint.id` (SGLN URNs kept as location ids).
  Source / destination: `sourceList` / `destinationList`, preferring type
  `location`, then `possessing_party`, then `owning_party`. The TLC source of the
  events that assign a lot code is the event's own location.
- Reference document: one entry of `bizTransactionList` as `{type, number}`; bol,
  desadv, inv, po, ... are preferred in that order and upper-cased (`BOL`), the
  number is the bizTransaction identifier as given.
- Time: `eventTime` shown in `eventTimeZoneOffset` (RFC 3339 with that offset).
- Idempotency: message_id = uuid5(EVENT_NAMESPACE, actor_id + "\\n" + eventID), or,
  without eventID, of "sha256:" + the SHA-256 of the event's sorted-keys JSON (our
  own canonical form, not the CBV 2.0 event hash): stable across redelivery. The
  actor is part of the name so one actor cannot pre-empt another's event ids.
  document_id = uuid5(DOCUMENT_NAMESPACE, actor_id + "\\n" + sha256(raw bytes)).
- The original event is kept under `kdes.epcis_event`.
- Rejections: `epcis_unsupported` (AggregationEvent, AssociationEvent,
  TransactionEvent, a bizStep that is no CTE such as sensor-only `inspecting`
  events, serials or product classes without a lot, units without a foodtrace
  counterpart) and `epcis_incomplete` (a KDE the chain event needs is missing:
  location, time, quantity, destination of a shipment, source of a receipt,
  reference document). Paths point into the EPCIS event.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote, urlsplit

from foodtrace.ingest.messages import EPCIS_INCOMPLETE, EPCIS_UNSUPPORTED, NOT_EPCIS, Reason
from foodtrace.ingest.schema_check import shown as _shown

CHAIN_SCHEMA = "foodtrace/chain-event/v1"
EVENT_NAMESPACE = uuid.UUID("d444f4c3-ad4e-48a0-8230-66cd5fd9bbab")
DOCUMENT_NAMESPACE = uuid.UUID("38798f1e-72cf-436c-a4f6-02700885e1cb")

UNSUPPORTED = EPCIS_UNSUPPORTED
INCOMPLETE = EPCIS_INCOMPLETE

OBJECT_EVENT_TYPES: dict[str, str] = {
    "commissioning": "harvesting",
    "storing": "cooling",
    "packing": "initial_packing",
    "shipping": "shipping",
    "retail_selling": "sale",
    # receiving: first_receiving (ADD) or receiving (OBSERVE), see _object_event_type
}
TLC_ASSIGNING = frozenset({"harvesting", "initial_packing", "first_receiving", "transformation"})

# UN/ECE Recommendation 20 unit codes -> (contract unit, factor)
UOM: dict[str, tuple[str, float]] = {
    "KGM": ("kg", 1.0),
    "GRM": ("kg", 0.001),
    "LBR": ("kg", 0.45359237),
    "ONZ": ("kg", 0.028349523125),
    "TNE": ("t", 1.0),
    "EA": ("each", 1.0),
    "H87": ("each", 1.0),
    "C62": ("each", 1.0),
    "CS": ("case", 1.0),
    "BX": ("box", 1.0),
    "CR": ("crate", 1.0),
}
# Reference document types, most telling first (CBV 2.0 BusinessTransactionType).
BIZ_TRANSACTION_PREFERENCE: tuple[str, ...] = (
    "bol", "desadv", "inv", "po", "poc", "recadv", "prodorder", "rma", "pedigree",
    "testprd", "testres", "upevt",
)
PARTY_PREFERENCE: tuple[str, ...] = ("location", "possessing_party", "owning_party")


# --- CBV vocabulary ---------------------------------------------------------------


def _cbv_prefixes(urn_name: str, uri_name: str) -> tuple[str, ...]:
    return (
        f"urn:epcglobal:cbv:{urn_name}:",
        f"https://ref.gs1.org/cbv/{uri_name}-",
        f"http://ref.gs1.org/cbv/{uri_name}-",
        f"https://gs1.org/voc/{uri_name}-",
        f"http://gs1.org/voc/{uri_name}-",
        f"gs1:{uri_name}-",
        f"cbv:{uri_name}-",
    )


_VOCABULARIES = {
    "bizstep": _cbv_prefixes("bizstep", "BizStep"),
    "btt": _cbv_prefixes("btt", "BTT"),
    "sdt": _cbv_prefixes("sdt", "SDT"),
}


def cbv_term(value: object, vocabulary: str) -> str | None:
    """The bare CBV word of a code given as word, URN or URI; None for anything else
    (private extensions are not guessed at)."""
    if not isinstance(value, str) or not value:
        return None
    if ":" not in value and "/" not in value:
        return value
    for prefix in _VOCABULARIES[vocabulary]:
        if value.startswith(prefix) and len(value) > len(prefix):
            return value[len(prefix) :]
    return None


# --- identifiers -------------------------------------------------------------------


def gtin_check_digit(data13: str) -> str:
    """GS1 mod-10 check digit of the 13 data digits of a GTIN-14."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(data13)))
    return str((10 - total % 10) % 10)


_LGTIN_URN = re.compile(r"^urn:epc:class:lgtin:(\d{6,12})\.(\d{1,7})\.(.+)$")
_DIGITS = re.compile(r"^\d+$")


@dataclass(frozen=True)
class LotClass:
    product_code: str  # GTIN-14
    lot_code: str  # (01)GTIN-14(10)LOT


def parse_lot_class(epc_class: object) -> LotClass | str:
    """The lot an EPCIS epcClass names, or why it names none (a sentence)."""
    if not isinstance(epc_class, str) or not epc_class:
        return "epcClass is missing or not a string"
    if epc_class.startswith("urn:epc:class:lgtin:"):
        m = _LGTIN_URN.match(epc_class)
        if not m or len(m.group(1)) + len(m.group(2)) != 13:
            return f"epcClass {epc_class} is not a well-formed LGTIN URN"
        company, item_ref, lot = m.group(1), m.group(2), unquote(m.group(3))
        data13 = item_ref[0] + company + item_ref[1:]
        gtin = data13 + gtin_check_digit(data13)
        return _lot(gtin, lot, epc_class)
    if epc_class.startswith(("https://", "http://")):
        return _digital_link_lot(epc_class)
    if epc_class.startswith("urn:epc:idpat:"):
        return f"epcClass {epc_class} is a pattern of a product class without a lot (batch)"
    return f"epcClass {epc_class} is not an LGTIN (GTIN + lot) URN or GS1 Digital Link"


def _digital_link_lot(uri: str) -> LotClass | str:
    segments = [unquote(s) for s in urlsplit(uri).path.split("/") if s]
    try:
        at = segments.index("01")
        gtin = segments[at + 1]
    except (ValueError, IndexError):
        return f"epcClass {uri} is a URI without a GS1 Digital Link GTIN (/01/...)"
    if not _DIGITS.match(gtin) or len(gtin) not in (8, 12, 13, 14):
        return f"epcClass {uri}: {gtin} is not a GTIN"
    gtin = gtin.zfill(14)
    if gtin_check_digit(gtin[:13]) != gtin[13]:
        return f"epcClass {uri}: GTIN {gtin} has a wrong check digit"
    rest = segments[at + 2 :]
    if len(rest) >= 2 and rest[0] == "10":
        return _lot(gtin, rest[1], uri)
    return f"epcClass {uri} names a product (GTIN {gtin}) without a lot (/10/...)"


def _lot(gtin: str, lot: str, epc_class: str) -> LotClass | str:
    if not lot:
        return f"epcClass {epc_class} has an empty lot"
    return LotClass(product_code=gtin, lot_code=f"(01){gtin}(10){lot}")


def event_message_id(actor_id: str, event: Any) -> uuid.UUID:
    """The idempotency key of one EPCIS event from one actor (see module doc)."""
    event_id = event.get("eventID") if isinstance(event, dict) else None
    if isinstance(event_id, str) and event_id:
        name = event_id
    else:
        canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        name = "sha256:" + hashlib.sha256(canonical.encode("ascii")).hexdigest()
    return uuid.uuid5(EVENT_NAMESPACE, f"{actor_id}\n{name}")


def document_id(actor_id: str, raw: bytes) -> uuid.UUID:
    return uuid.uuid5(DOCUMENT_NAMESPACE, f"{actor_id}\n{hashlib.sha256(raw).hexdigest()}")


# --- the document ------------------------------------------------------------------


def document_events(document: Any) -> list[Any] | Reason:
    """The eventList of an EPCISDocument, or why the body is not one."""
    if not isinstance(document, dict):
        return Reason(NOT_EPCIS, "expected a GS1 EPCIS 2.0 EPCISDocument (a JSON object)", "")
    if document.get("type") != "EPCISDocument":
        return Reason(
            NOT_EPCIS,
            f"expected \"type\": \"EPCISDocument\", got {_shown(document.get('type'))}",
            "/type",
        )
    body = document.get("epcisBody")
    events = body.get("eventList") if isinstance(body, dict) else None
    if not isinstance(events, list):
        return Reason(NOT_EPCIS, "an EPCISDocument needs epcisBody.eventList (an array)",
                      "/epcisBody/eventList")
    return events


@dataclass
class MappedEvent:
    """One entry of eventList: the chain event it maps to, or why it cannot."""

    index: int
    message_id: uuid.UUID
    event: Any  # the EPCIS event as given
    chain_event: dict[str, Any] | None = None
    reasons: list[Reason] = field(default_factory=list)


def map_document(document: dict[str, Any], actor_id: str) -> list[MappedEvent]:
    """Every event of an EPCISDocument (already checked by `document_events`)."""
    events = document["epcisBody"]["eventList"]
    mapped = []
    for index, event in enumerate(events):
        out = MappedEvent(index, event_message_id(actor_id, event), event)
        result = map_event(event, actor_id, out.message_id)
        if isinstance(result, dict):
            out.chain_event = result
        else:
            out.reasons = result
        mapped.append(out)
    return mapped


def map_event(event: Any, actor_id: str, message_id: uuid.UUID) -> dict[str, Any] | list[Reason]:
    """One EPCIS event as a chain event, or the reasons it cannot be one."""
    if not isinstance(event, dict):
        return [Reason(INCOMPLETE, f"an EPCIS event must be an object, got {_shown(event)}", "")]
    event_type_name = event.get("type")
    if event_type_name == "ObjectEvent":
        return _object_event(event, actor_id, message_id)
    if event_type_name == "TransformationEvent":
        return _transformation_event(event, actor_id, message_id)
    if event_type_name in ("AggregationEvent", "AssociationEvent", "TransactionEvent"):
        return [
            Reason(
                UNSUPPORTED,
                f"{event_type_name} has no FSMA 204 Critical Tracking Event: foodtrace maps "
                "ObjectEvent and TransformationEvent",
                "/type",
            )
        ]
    return [Reason(UNSUPPORTED, f"unknown EPCIS event type {_shown(event_type_name)}", "/type")]


def _object_event(event: dict[str, Any], actor_id: str, mid: uuid.UUID) -> dict[str, Any] | list[Reason]:
    reasons: list[Reason] = []
    event_type = _object_event_type(event, reasons)
    if event_type is None:
        return reasons
    lots = _lot_lines(event, "quantityList", "epcList", reasons)
    return _finish(event, actor_id, mid, event_type, {"lots": lots}, reasons)


def _object_event_type(event: dict[str, Any], reasons: list[Reason]) -> str | None:
    raw_step = event.get("bizStep")
    step = cbv_term(raw_step, "bizstep")
    action = event.get("action")
    if action == "DELETE":
        reasons.append(Reason(UNSUPPORTED, "action DELETE (the objects cease to exist) is no "
                                           "FSMA 204 Critical Tracking Event", "/action"))
        return None
    if step == "receiving":
        if action == "ADD":
            return "first_receiving"
        if action == "OBSERVE":
            return "receiving"
        reasons.append(Reason(INCOMPLETE, "a receiving ObjectEvent needs action ADD (first "
                                          "land-based receiving) or OBSERVE (receiving)", "/action"))
        return None
    if step in OBJECT_EVENT_TYPES:
        return OBJECT_EVENT_TYPES[step]
    known = ", ".join([*OBJECT_EVENT_TYPES, "receiving"])
    what = "an ObjectEvent without bizStep" if raw_step is None else f"bizStep {_shown(raw_step)}"
    sensor = ""
    if event.get("sensorElementList"):
        sensor = " (a sensor-only event: lab data goes to foodtrace/v1/labs/{lab_id}/results)"
    reasons.append(Reason(UNSUPPORTED, f"{what} is no FSMA 204 Critical Tracking Event{sensor}; "
                                       f"mapped bizSteps: {known}", "/bizStep"))
    return None


def _transformation_event(event: dict[str, Any], actor_id: str, mid: uuid.UUID) -> dict[str, Any] | list[Reason]:
    reasons: list[Reason] = []
    inputs = _lot_lines(event, "inputQuantityList", "inputEPCList", reasons)
    outputs = _lot_lines(event, "outputQuantityList", "outputEPCList", reasons)
    return _finish(event, actor_id, mid, "transformation",
                   {"inputs": inputs, "outputs": outputs}, reasons)


def _lot_lines(event: dict[str, Any], quantity_key: str, epc_key: str,
               reasons: list[Reason]) -> list[dict[str, Any]]:
    entries = event.get(quantity_key)
    serials = event.get(epc_key)
    if not entries:
        if serials:
            reasons.append(Reason(
                UNSUPPORTED,
                f"{epc_key} lists serialised items (e.g. SGTINs) but {quantity_key} names no "
                "lot class (LGTIN): foodtrace traces lots",
                f"/{epc_key}",
            ))
        else:
            reasons.append(Reason(INCOMPLETE, f"no {quantity_key}: the event names no lots",
                                  f"/{quantity_key}"))
        return []
    if not isinstance(entries, list):
        reasons.append(Reason(INCOMPLETE, f"{quantity_key} must be an array", f"/{quantity_key}"))
        return []
    lines = []
    for i, entry in enumerate(entries):
        path = f"/{quantity_key}/{i}"
        if not isinstance(entry, dict):
            reasons.append(Reason(INCOMPLETE, "a quantity element must be an object", path))
            continue
        lot = parse_lot_class(entry.get("epcClass"))
        if isinstance(lot, str):
            code = INCOMPLETE if "epcClass" not in entry else UNSUPPORTED
            reasons.append(Reason(code, lot, f"{path}/epcClass"))
        quantity = entry.get("quantity")
        if not isinstance(quantity, int | float) or isinstance(quantity, bool):
            reasons.append(Reason(INCOMPLETE, f"quantity must be a number, got {_shown(quantity)}",
                                  f"{path}/quantity"))
            continue
        uom = entry.get("uom")
        unit = ("each", 1.0) if uom is None else UOM.get(uom) if isinstance(uom, str) else None
        if unit is None:
            reasons.append(Reason(
                UNSUPPORTED,
                f"uom {_shown(uom)} has no foodtrace quantity unit (mapped: {', '.join(UOM)})",
                f"{path}/uom",
            ))
            continue
        if isinstance(lot, LotClass):
            lines.append({
                "lot_code": lot.lot_code,
                "product_code": lot.product_code,
                "quantity": quantity if unit[1] == 1.0 else round(quantity * unit[1], 9),
                "unit": unit[0],
            })
    return lines


def _finish(event: dict[str, Any], actor_id: str, mid: uuid.UUID, event_type: str,
            lot_fields: dict[str, Any], reasons: list[Reason]) -> dict[str, Any] | list[Reason]:
    event_time = _event_time(event, reasons)
    location = _id_of(event.get("bizLocation")) or _id_of(event.get("readPoint"))
    if location is None:
        reasons.append(Reason(INCOMPLETE, "no bizLocation.id or readPoint.id: the event needs "
                                          "its location", "/bizLocation"))
    chain: dict[str, Any] = {
        "schema": CHAIN_SCHEMA,
        "message_id": str(mid),
        "actor_id": actor_id,
        "event_type": event_type,
        "event_time": event_time,
        "location_id": location,
        **lot_fields,
    }
    if event_type == "shipping":
        chain["destination_location_id"] = _party(event, "destinationList", "destination")
        if chain["destination_location_id"] is None:
            reasons.append(Reason(INCOMPLETE, "a shipping event needs destinationList (the next "
                                              "recipient, 21 CFR 1.1340(a)(4))", "/destinationList"))
    elif event_type == "receiving":
        chain["source_location_id"] = _party(event, "sourceList", "source")
        if chain["source_location_id"] is None:
            reasons.append(Reason(INCOMPLETE, "a receiving event needs sourceList (the previous "
                                              "source, 21 CFR 1.1345(a)(4))", "/sourceList"))
    else:
        for key, list_key, item_key in (("destination_location_id", "destinationList", "destination"),
                                        ("source_location_id", "sourceList", "source")):
            party = _party(event, list_key, item_key)
            if party is not None:
                chain[key] = party
    if event_type in TLC_ASSIGNING and location is not None:
        chain["tlc_source_location_id"] = location
    # No bizTransactionList: stored all the same, and validation records the missing
    # reference document as a finding (spec 2.2), instead of the event vanishing.
    reference = _reference_document(event)
    if reference is not None:
        chain["reference_document"] = reference
    chain["kdes"] = {"epcis_event": event}
    return reasons if reasons else chain


def _event_time(event: dict[str, Any], reasons: list[Reason]) -> str | None:
    raw = event.get("eventTime")
    if not isinstance(raw, str):
        reasons.append(Reason(INCOMPLETE, "no eventTime", "/eventTime"))
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        reasons.append(Reason(INCOMPLETE, f"eventTime {_shown(raw)} is not a timestamp with an "
                                          "offset", "/eventTime"))
        return None
    offset = event.get("eventTimeZoneOffset")
    if offset is not None:
        tz = _offset(offset)
        if tz is None:
            reasons.append(Reason(INCOMPLETE, f"eventTimeZoneOffset {_shown(offset)} is not "
                                              "+hh:mm or -hh:mm", "/eventTimeZoneOffset"))
            return None
        moment = moment.astimezone(tz)
    return moment.isoformat()


_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")


def _offset(value: object) -> timezone | None:
    m = _OFFSET.match(value) if isinstance(value, str) else None
    if not m or int(m.group(2)) > 23 or int(m.group(3)) > 59:
        return None
    delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
    return timezone(-delta if m.group(1) == "-" else delta)


def _id_of(value: object) -> str | None:
    ident = value.get("id") if isinstance(value, dict) else None
    return ident if isinstance(ident, str) and ident else None


def _party(event: dict[str, Any], list_key: str, item_key: str) -> str | None:
    entries = event.get(list_key)
    if not isinstance(entries, list):
        return None
    by_type: dict[str, str] = {}
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get(item_key), str) and entry[item_key]:
            kind = cbv_term(entry.get("type"), "sdt") or ""
            by_type.setdefault(kind, entry[item_key])
    for kind in PARTY_PREFERENCE:
        if kind in by_type:
            return by_type[kind]
    return next(iter(by_type.values()), None)


def _reference_document(event: dict[str, Any]) -> dict[str, str] | None:
    entries = event.get("bizTransactionList")
    if not isinstance(entries, list):
        return None
    found: list[tuple[int, dict[str, str]]] = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        number = entry.get("bizTransaction")
        if not isinstance(number, str) or not number:
            continue
        raw_type = entry.get("type")
        term = cbv_term(raw_type, "btt")
        if term in BIZ_TRANSACTION_PREFERENCE:
            rank, doc_type = BIZ_TRANSACTION_PREFERENCE.index(term), term.upper()
        else:
            rank = len(BIZ_TRANSACTION_PREFERENCE)
            doc_type = raw_type if isinstance(raw_type, str) and raw_type else "unspecified"
        found.append((rank, {"type": doc_type, "number": number}))
    if not found:
        return None
    return min(found, key=lambda f: f[0])[1]

