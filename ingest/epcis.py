"""GS1 EPCIS 2.0 JSON(-LD) documents -> foodtrace chain events (pure, no I/O).

An actor publishes an `EPCISDocument` (or the `EPCISQueryDocument` its own
repository answers with) on foodtrace/v1/epcis/{actor_id}. Each event of the
eventList ends in exactly one of four places:

- **mapped**: a chain event (spec 2.2) that reaches the lot graph. What the
  mapping could not read on the way (a line without a lot, a unit foodtrace has
  no counterpart for, a party where a place belongs) is listed in
  `kdes.epcis_findings`; validation records each as a finding (rule
  `epcis.mapping`), so the event is traced and the gap is visible.
- **not used**: an event that is no Critical Tracking Event (sensor reports,
  inspecting, hatching, transactions, pallet aggregation, ...). It is kept with
  its document (`landing.epcis_documents.not_used`, with the reason) and is not
  reported to the sender as a rejection: nothing was wrong with it.
- **a retraction**: an event carrying `errorDeclaration` (EPCIS 2.0 7.4.1.4)
  declares the event it repeats wrong (`MappedEvent.declaration`). It lands in
  landing.epcis_declarations; validation records it in core.retractions and
  linking takes the declared event out of the lot graph (or never links it, when
  it arrives later). The event itself stays stored, marked by the retraction.
- **rejected**: a CTE that cannot be placed in the graph at all (no lot line
  remains, no location or time, a transformation without input or output lots);
  it goes to quarantine with a reason that points into the event.

Which CTE an event is: cbv.py (CBV 2.0 and GDST business steps, on evidence).
Which lot, place or party an identifier names: gs1_ids.py (EPC URNs, GS1 Digital
Link on any domain, GDST URNs). The lot lines and pallets: epcis_lines.py; the
ILMD as KDEs: epcis_ilmd.py; the event hash: epcis_hash.py. Decisions the contract leaves to us:

- Lots: quantityList entries whose class names a lot (LGTIN, Digital Link with
  /10/, GDST lot class, or a product class whose ILMD names `cbvmda:lotNumber`),
  and epcList items that carry their lot (Digital Link /10/.../21/...), counted
  one `each` per item. Lines are read one by one: a line without a lot is a
  finding and the other lines still link. An SSCC (pallet) in an epcList is the
  lots an AggregationEvent of the same document put in it, as of the event's
  time (ADD/OBSERVE add children, DELETE takes them out); an AggregationEvent
  with a shipping or receiving step ships or receives its children. An SSCC this
  document does not fill is a lot line of its own (the pallet, with a finding and
  `kdes.epcis_containers`); every AggregationEvent's containment lands in
  landing.epcis_containment (`MappedEvent.containment`), and linking adds the
  pallet's lots whichever document, earlier or later, declares them.
- Units: UN/ECE Rec 20 codes (KGM, GRM, LBR, ONZ -> kg; TNE -> t; EA/H87/C62 ->
  each; CS, BX, CR); no uom means a count (`each`). A quantityElement without a
  quantity is a finding: the contract's lot lines need a quantity > 0.
- Places: `bizLocation.id`, else `readPoint.id`. Source and destination come from
  `sourceList`/`destinationList` entries of type `location` only; owning and
  possessing parties are businesses, not places: they are kept as
  `kdes.source_parties` / `kdes.destination_parties`. A shipment without a
  destination location (a receipt without a source location) keeps its lot in the
  trace: the counterpart is the explicit unknown place `urn:foodtrace:unlocated`
  (`...:{party}` when it names one), with a finding.
- ILMD -> KDEs: harvest start/end -> `harvest_date_range` and `harvest_date`;
  catch areas -> `harvest_area`; vessel information -> `vessels`; best-before,
  expiration, production dates and country of origin under their own names. The
  date of a harvesting, cooling, initial packing or first receiving event is its
  eventTime when the ILMD does not give it (GS1 US FSMA 204 guideline).
- Reference document: one entry of `bizTransactionList` as `{type, number}`
  (bol, desadv, inv, po, ... in that order, upper-cased). None is no rejection:
  validation records the missing reference as a finding.
- Time: `eventTime` shown in `eventTimeZoneOffset`.
- Idempotency: message_id = uuid5(EVENT_NAMESPACE, actor_id + "\\n" + key), key =
  the eventID; else the CBV 2.0 event hash (epcis_hash.py); else, for an event
  the hash algorithm cannot read, the SHA-256 of its sorted-keys JSON. An event
  that carries an `errorDeclaration` gets its own key (eventID +
  `#errorDeclaration@` + declarationTime), so a declaration never collides
  with the event it declares wrong. document_id = uuid5(DOCUMENT_NAMESPACE,
  actor_id + "\\n" + sha256(raw bytes)).
- The original event is kept under `kdes.epcis_event`.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from foodtrace.ingest import cbv, epcis_hash, epcis_sensor, gs1_ids
from foodtrace.ingest.epcis_ilmd import ilmd_kdes, ilmd_lot
from foodtrace.ingest.epcis_lines import (
    Containment,
    as_list,
    containers,
    containment_rows,
    lot_lines,
)
from foodtrace.ingest.gs1_ids import Identifier
from foodtrace.ingest.messages import EPCIS_INCOMPLETE, EPCIS_UNSUPPORTED, NOT_EPCIS, Reason
from foodtrace.ingest.schema_check import instant as parse_time
from foodtrace.ingest.schema_check import shown as _shown

CHAIN_SCHEMA = "foodtrace/chain-event/v1"
EVENT_NAMESPACE = uuid.UUID("d444f4c3-ad4e-48a0-8230-66cd5fd9bbab")
DOCUMENT_NAMESPACE = uuid.UUID("38798f1e-72cf-436c-a4f6-02700885e1cb")

UNSUPPORTED = EPCIS_UNSUPPORTED
INCOMPLETE = EPCIS_INCOMPLETE

TLC_ASSIGNING = frozenset({"harvesting", "initial_packing", "first_receiving", "transformation"})
# Reference document types, most telling first (CBV 2.0 BusinessTransactionType).
BIZ_TRANSACTION_PREFERENCE: tuple[str, ...] = (
    "bol", "desadv", "inv", "po", "poc", "recadv", "prodorder", "rma", "pedigree",
    "testprd", "testres", "upevt",
)
# AggregationEvent steps whose children move: shipping or receiving a pallet.
AGGREGATION_CTES: dict[str, str] = {"shipping": "shipping", "receiving": "receiving"}


# --- the envelope ------------------------------------------------------------------------

ENVELOPES = {
    "EPCISDocument": ("epcisBody", "eventList"),
    "EPCISQueryDocument": ("epcisBody", "queryResults", "resultsBody", "eventList"),
}


def document_events(document: Any) -> list[Any] | Reason:
    """The eventList of an EPCISDocument or EPCISQueryDocument, or why the body is
    neither."""
    if not isinstance(document, dict):
        return Reason(NOT_EPCIS, "expected a GS1 EPCIS 2.0 EPCISDocument (a JSON object)", "")
    path = ENVELOPES.get(document.get("type"))  # type: ignore[arg-type]
    if path is None:
        return Reason(
            NOT_EPCIS,
            f"expected \"type\": \"EPCISDocument\" or \"EPCISQueryDocument\", got "
            f"{_shown(document.get('type'))}",
            "/type",
        )
    node: Any = document
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, list):
        where = ".".join(path)
        return Reason(NOT_EPCIS, f"an {document['type']} needs {where} (an array)",
                      "/" + "/".join(path))
    return node


# --- identity ----------------------------------------------------------------------------


def event_key(event: Any, context: Any = None) -> str:
    """What identifies one EPCIS event (see module doc: eventID, CBV 2.0 hash, SHA-256)."""
    if not isinstance(event, dict):
        return "sha256:" + _sha256_json(event)
    event_id = event.get("eventID")
    declaration = event.get("errorDeclaration")
    if isinstance(event_id, str) and event_id:
        if isinstance(declaration, dict):
            return f"{event_id}#errorDeclaration@{declaration.get('declarationTime')}"
        return event_id
    try:
        return epcis_hash.event_hash(event, context if context is not None else epcis_hash.EPCIS_CONTEXT)
    except ValueError:
        return "sha256:" + _sha256_json(event)


def _sha256_json(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def event_message_id(actor_id: str, event: Any, context: Any = None) -> uuid.UUID:
    """The idempotency key of one EPCIS event from one actor. The actor is part of
    the name so that one actor cannot pre-empt another's event ids."""
    return uuid.uuid5(EVENT_NAMESPACE, f"{actor_id}\n{event_key(event, context)}")


def document_id(actor_id: str, raw: bytes) -> uuid.UUID:
    return uuid.uuid5(DOCUMENT_NAMESPACE, f"{actor_id}\n{hashlib.sha256(raw).hexdigest()}")


# --- results -----------------------------------------------------------------------------


@dataclass
class MappedEvent:
    """One entry of eventList and where it ended (see module doc)."""

    index: int
    message_id: uuid.UUID
    event: Any  # the EPCIS event as given
    chain_event: dict[str, Any] | None = None
    reasons: list[Reason] = field(default_factory=list)  # why it was rejected
    not_used: str | None = None  # why it is no CTE (kept with the document)
    findings: list[str] = field(default_factory=list)  # gaps of a mapped event
    lab_results: list[dict[str, Any]] = field(default_factory=list)  # epcis_sensor.py
    declaration: dict[str, Any] | None = None  # an errorDeclaration (see _map_declaration)
    # what an AggregationEvent puts into (or takes out of) its parent, one row per
    # child lot, for landing.epcis_containment (epcis_lines.containment_rows)
    containment: list[dict[str, Any]] = field(default_factory=list)
    # why its sensor reports are no lab results (epcis_sensor.py), told to the sender
    sensor_notes: list[str] = field(default_factory=list)


# --- the document ------------------------------------------------------------------------


def map_document(document: dict[str, Any], actor_id: str) -> list[MappedEvent]:
    """Every event of a document already checked by `document_events`."""
    events = document_events(document)
    assert not isinstance(events, Reason), "call document_events first"
    context = document.get("@context")
    containment = Containment(events)
    caught = _lots_caught(events)
    mapped = []
    for index, event in enumerate(events):
        out = MappedEvent(index, event_message_id(actor_id, event, context), event)
        if isinstance(event, dict) and isinstance(event.get("errorDeclaration"), dict):
            _map_declaration(out, event, actor_id, context)
        else:
            _map_into(out, event, actor_id, containment, caught)
            out.containment = _containment_of(event, actor_id, context, containment)
        if isinstance(event, dict):
            _read_sensors(out, event, actor_id, context, containment)
        mapped.append(out)
    return mapped


def _containment_of(event: Any, actor_id: str, context: Any,
                    containment: Containment) -> list[dict[str, Any]]:
    """An AggregationEvent's containment rows, each with its own key (uuid5 over the
    sender, the event key and the child) and the event's message id."""
    if not isinstance(event, dict) or event.get("type") != "AggregationEvent":
        return []
    key = event_key(event, context)
    rows = containment_rows(event, ilmd_lot(event), containment, [])
    for row in rows:
        row["containment_id"] = str(uuid.uuid5(
            EVENT_NAMESPACE, f"{actor_id}\n{key}#containment/{row['parent_id']}/"
                             f"{row['lot_code']}/{row['unit']}"))
        row["message_id"] = str(event_message_id(actor_id, event, context))
    return rows


def _lots_caught(events: list[Any]) -> frozenset[str]:
    """Lot codes a fishing or harvest event of this document creates: a later
    landing of them is a receiving, not the first receiving."""
    caught: set[str] = set()
    for event in events:
        if isinstance(event, dict) and cbv.term(event.get("bizStep"), "bizstep") in (
                "gdst:fishingEvent", "commissioning"):
            caught |= _event_lot_codes(event)
    return frozenset(caught)


def _map_into(out: MappedEvent, event: Any, actor_id: str, containment: Containment,
              caught: frozenset[str]) -> None:
    if not isinstance(event, dict):
        out.reasons = [Reason(INCOMPLETE, f"an EPCIS event must be an object, got "
                                          f"{_shown(event)}", "")]
        return
    kind = event.get("type")
    step = cbv.term(event.get("bizStep"), "bizstep")
    note: str | None = None
    cte: str | None  # each branch below sets it or returns
    if kind == "TransformationEvent":
        cte = "transformation"
    elif kind == "ObjectEvent":
        landed = step == "gdst:landing" and bool(_event_lot_codes(event) & caught)
        cte, note = cbv.object_event_cte(event, step, landed)
        if cte is None:
            raw_step = event.get("bizStep")
            if step is None and isinstance(raw_step, str) and raw_step:
                note = (f"bizStep {raw_step} is a private extension, no CBV or GDST step: no "
                        "FSMA 204 Critical Tracking Event is read from it")
            out.not_used = note
            return
    elif kind == "AggregationEvent":
        cte = AGGREGATION_CTES.get(step or "") if event.get("action") != "DELETE" else None
        if cte is None:
            out.not_used = _aggregation_note(event, step)
            return
    elif kind in ("AssociationEvent", "TransactionEvent"):
        article = "an" if kind == "AssociationEvent" else "a"
        out.not_used = (f"{article} {kind} (assets or business transactions, no lots moving) "
                        "is no FSMA 204 Critical Tracking Event")
        return
    else:
        out.reasons = [Reason(UNSUPPORTED, f"unknown EPCIS event type {_shown(kind)}", "/type")]
        return
    # ADD receiving without seafood evidence is read as receiving: a doubtful reading,
    # so it is shown as a finding (the other notes of mapped steps are no doubt)
    doubtful = kind == "ObjectEvent" and cte == "receiving" and event.get("action") == "ADD"
    _map_cte(out, event, actor_id, cte, containment, note if doubtful else None)


def _map_declaration(out: MappedEvent, event: dict[str, Any], actor_id: str,
                     context: Any) -> None:
    """An event carrying `errorDeclaration` (EPCIS 2.0 7.4.1.4): the sender declares
    the event it repeats wrong. It becomes a retraction of that event
    (landing.epcis_declarations -> core.retractions, schemas/sql/0014). The declared
    event's message id is the one that event has (or will have) itself: its eventID,
    else the event hash of the repeated event without the errorDeclaration."""
    declaration = event["errorDeclaration"]
    raw_time = declaration.get("declarationTime")
    declared_at = parse_time(raw_time)
    if declared_at is None:
        out.reasons = [Reason(INCOMPLETE, f"errorDeclaration.declarationTime {_shown(raw_time)} "
                                          "is not a timestamp with an offset: the declaration "
                                          "cannot be told from a later one",
                              "/errorDeclaration/declarationTime")]
        return
    original = {k: v for k, v in event.items() if k != "errorDeclaration"}
    reason = declaration.get("reason")
    corrective = [c for c in as_list(declaration.get("correctiveEventIDs"))
                  if isinstance(c, str) and c.strip()]
    out.declaration = {
        "declared_message_id": str(event_message_id(actor_id, original, context)),
        "declared_event_id": event_key(original, context),
        "declaration_time": declared_at.isoformat(),
        "reason": (cbv.term(reason, "er") or reason) if isinstance(reason, str) else None,
        "corrective_event_ids": corrective,
        "corrective_message_ids": [str(uuid.uuid5(EVENT_NAMESPACE, f"{actor_id}\n{c}"))
                                   for c in corrective],
    }


def _read_sensors(out: MappedEvent, event: dict[str, Any], actor_id: str, context: Any,
                  containment: Containment) -> None:
    """Chemical sensor reports as lab results; what they lack as a note (epcis_sensor.py)."""
    reading = epcis_sensor.read_sensor_reports(event, actor_id, event_key(event, context),
                                               containment, EVENT_NAMESPACE)
    out.lab_results = reading.lab_results
    notes = list(reading.notes)
    out.sensor_notes = list(reading.notes)
    if reading.lab_results:
        notes.insert(0, f"its sensor reports are read as {len(reading.lab_results)} lab "
                        "result(s)")
    if out.not_used is not None and notes:
        out.not_used += "; " + "; ".join(notes)
    elif out.chain_event is not None and reading.notes:
        out.findings.extend(reading.notes)
        out.chain_event["kdes"]["epcis_findings"] = out.findings


def _aggregation_note(event: dict[str, Any], step: str | None) -> str:
    parent = event.get("parentID")
    what = "puts its children into" if event.get("action") != "DELETE" else "takes children out of"
    used = (f"pallet containment: {what} {parent}, read when this document ships or "
            "receives it" if isinstance(parent, str) else "an AggregationEvent without parentID")
    step_text = f" (bizStep {step.removeprefix('gdst:')})" if step else ""
    return f"{used}; no FSMA 204 Critical Tracking Event of its own{step_text}"


def _event_lot_codes(event: dict[str, Any]) -> set[str]:
    lot = ilmd_lot(event)
    codes = set()
    for entry in as_list(event.get("quantityList")):
        ident = gs1_ids.parse(entry.get("epcClass") if isinstance(entry, dict) else None)
        if isinstance(ident, Identifier):
            ident = gs1_ids.with_lot(ident, lot) if lot else ident
            if ident.lot_code:
                codes.add(ident.lot_code)
    return codes


# --- one Critical Tracking Event ---------------------------------------------------------


def _map_cte(out: MappedEvent, event: dict[str, Any], actor_id: str, cte: str,
             containment: Containment, how: str | None) -> None:
    reasons: list[Reason] = []
    findings: list[str] = []
    at = parse_time(event.get("eventTime"))
    batch = ilmd_lot(event)
    pallets: list[str] = []  # pallets this document does not fill: linking expands them
    if cte == "transformation":
        inputs = lot_lines(event, "inputQuantityList", "inputEPCList", None, at, containment,
                           findings)
        outputs = lot_lines(event, "outputQuantityList", "outputEPCList", batch, at,
                            containment, findings)
        lot_fields: dict[str, Any] = {"inputs": inputs, "outputs": outputs}
        detail = f" ({'; '.join(findings)})" if findings else ""
        if not outputs:
            reasons.append(Reason(INCOMPLETE, "no output line names a lot: a transformation "
                                              f"without the lots it made cannot be traced{detail}",
                                  "/outputQuantityList"))
        if not inputs:
            reasons.append(Reason(INCOMPLETE, "no input line names a lot: the contract needs "
                                              f"the lots a transformation used{detail}",
                                  "/inputQuantityList"))
    else:
        if event.get("type") == "AggregationEvent":
            # the event names the pallet's children itself
            lots = lot_lines(event, "childQuantityList", "childEPCs", batch, at, containment,
                             findings)
        else:
            lots = lot_lines(event, "quantityList", "epcList", batch, at, containment, findings)
        lot_fields = {"lots": lots}
        pallets = containers(lots)
        if not lots:
            detail = "; ".join(findings) if findings else "it lists no quantityList or epcList"
            reasons.append(Reason(INCOMPLETE if not findings else UNSUPPORTED,
                                  f"no line of this event names a lot: {detail}",
                                  "/quantityList"))
    chain = _chain_event(event, actor_id, out.message_id, cte, lot_fields, reasons, findings)
    if reasons:
        out.reasons = reasons
        return
    if how:  # how an ambiguous step was read (cbv.object_event_cte)
        findings.insert(0, how)
    if findings:
        chain["kdes"]["epcis_findings"] = findings
    if pallets:
        chain["kdes"]["epcis_containers"] = pallets
    out.findings = findings
    out.chain_event = chain


def _chain_event(event: dict[str, Any], actor_id: str, mid: uuid.UUID, cte: str,
                 lot_fields: dict[str, Any], reasons: list[Reason],
                 findings: list[str]) -> dict[str, Any]:
    event_time = _event_time(event, reasons, findings)
    location = gs1_ids.location_id(_id_of(event.get("bizLocation"))) or gs1_ids.location_id(
        _id_of(event.get("readPoint")))
    if location is None:
        reasons.append(Reason(INCOMPLETE, "no bizLocation.id or readPoint.id: the event needs "
                                          "its location", "/bizLocation"))
    chain: dict[str, Any] = {
        "schema": CHAIN_SCHEMA,
        "message_id": str(mid),
        "actor_id": actor_id,
        "event_type": cte,
        "event_time": event_time,
        "location_id": location,
        **lot_fields,
    }
    kdes: dict[str, Any] = {}
    for key, list_key, item_key in (("destination_location_id", "destinationList", "destination"),
                                    ("source_location_id", "sourceList", "source")):
        place, parties = _places_and_parties(event, list_key, item_key)
        if place is not None:
            chain[key] = place
        if parties:
            kdes[f"{item_key}_parties"] = parties
    _require_counterpart(cte, chain, kdes, findings)
    if cte in TLC_ASSIGNING and location is not None:
        chain["tlc_source_location_id"] = location
    reference = _reference_document(event)
    if reference is not None:
        chain["reference_document"] = reference
    kdes.update(ilmd_kdes(event.get("ilmd"), findings))
    _date_from_event_time(cte, kdes, event_time)
    kdes["epcis_event"] = event
    chain["kdes"] = kdes
    return chain


UNLOCATED = "urn:foodtrace:unlocated"
_PARTY_PREFERENCE = ("possessing_party", "owning_party")


def _require_counterpart(cte: str, chain: dict[str, Any], kdes: dict[str, Any],
                         findings: list[str]) -> None:
    """A shipment says where it went, a receipt where it came from (spec 2.2). When
    the event gives no place, the counterpart is recorded as an explicit unknown
    place (`urn:foodtrace:unlocated`, of the party it names, if any) with a finding:
    the lot stays in the trace and the gap shows, instead of the event vanishing."""
    need = {"shipping": ("destination_location_id", "destination", "destinationList",
                         "21 CFR 1.1340(a)(4)"),
            "receiving": ("source_location_id", "source", "sourceList",
                          "21 CFR 1.1345(a)(4)")}.get(cte)
    if need is None or need[0] in chain:
        return
    key, item, list_key, cfr = need
    parties = sorted(kdes.get(f"{item}_parties") or [],
                     key=lambda p: _rank(p["type"], _PARTY_PREFERENCE))
    place = UNLOCATED
    if parties and len(UNLOCATED) + 1 + len(parties[0]["id"]) <= 128:
        place = f"{UNLOCATED}:{parties[0]['id']}"
    named = (f" it names only the {parties[0]['type']} {parties[0]['id']}, a business, "
             "not a place;" if parties else "")
    findings.append(f"{list_key} names no location:{named} the {item} is recorded as {place} "
                    f"({cfr})")
    chain[key] = place


def _rank(value: str, order: tuple[str, ...]) -> int:
    return order.index(value) if value in order else len(order)


# --- dates --------------------------------------------------------------------------------

# the KDE that is the event's own date, per CTE (GS1 US FSMA 204 guideline)
_EVENT_DATE_KDE = {"harvesting": "harvest_date", "cooling": "cooling_date",
                   "initial_packing": "pack_date", "first_receiving": "landing_date"}


def _date_from_event_time(cte: str, kdes: dict[str, Any], event_time: str | None) -> None:
    kde = _EVENT_DATE_KDE.get(cte)
    if kde is not None and event_time and kde not in kdes:
        kdes[kde] = event_time[:10]


# --- time, places, documents ---------------------------------------------------------------


def _event_time(event: dict[str, Any], reasons: list[Reason],
                findings: list[str]) -> str | None:
    raw = event.get("eventTime")
    if not isinstance(raw, str):
        reasons.append(Reason(INCOMPLETE, "no eventTime", "/eventTime"))
        return None
    offset = event.get("eventTimeZoneOffset")
    tz = _offset(offset) if offset is not None else None
    if offset is not None and tz is None:
        reasons.append(Reason(INCOMPLETE, f"eventTimeZoneOffset {_shown(offset)} is not "
                                          "+hh:mm or -hh:mm", "/eventTimeZoneOffset"))
        return None
    moment = parse_time(raw)
    if moment is None and tz is not None:
        local = _parse_local_time(raw)
        if local is not None:  # some repositories drop the offset from eventTime
            findings.append(f"eventTime {raw} has no offset: read in eventTimeZoneOffset {offset}")
            moment = local.replace(tzinfo=tz)
    if moment is None:
        reasons.append(Reason(INCOMPLETE, f"eventTime {_shown(raw)} is not a timestamp with an "
                                          "offset", "/eventTime"))
        return None
    return (moment.astimezone(tz) if tz is not None else moment).isoformat()


def _parse_local_time(raw: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return moment if moment.tzinfo is None and "T" in raw else None


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


def _places_and_parties(event: dict[str, Any], list_key: str,
                        item_key: str) -> tuple[str | None, list[dict[str, str]]]:
    """The first `location` entry of a source/destination list, and the parties."""
    place: str | None = None
    parties: list[dict[str, str]] = []
    for entry in as_list(event.get(list_key)):
        if not isinstance(entry, dict) or not isinstance(entry.get(item_key), str):
            continue
        kind = cbv.term(entry.get("type"), "sdt")
        if kind == "location":
            place = place or gs1_ids.location_id(entry[item_key])
        elif entry[item_key].strip():
            parties.append({"type": kind or str(entry.get("type")), "id": entry[item_key]})
    return place, parties


def _reference_document(event: dict[str, Any]) -> dict[str, str] | None:
    found: list[tuple[int, dict[str, str]]] = []
    for entry in as_list(event.get("bizTransactionList")):
        if not isinstance(entry, dict):
            continue
        number = entry.get("bizTransaction")
        if not isinstance(number, str) or not number:
            continue
        raw_type = entry.get("type")
        term = cbv.term(raw_type, "btt")
        if term in BIZ_TRANSACTION_PREFERENCE:
            rank, doc_type = BIZ_TRANSACTION_PREFERENCE.index(term), term.upper()
        else:
            rank = len(BIZ_TRANSACTION_PREFERENCE)
            doc_type = raw_type if isinstance(raw_type, str) and raw_type else "unspecified"
        found.append((rank, {"type": doc_type, "number": number}))
    if not found:
        return None
    return min(found, key=lambda f: f[0])[1]
