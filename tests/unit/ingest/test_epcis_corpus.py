"""Real EPCIS 2.0 documents, written by others, event by event (tests/data/epcis/SOURCES.md).

Every event of every document ends in exactly one place: mapped to a chain event that
reaches the lot graph (with the mapping's findings), kept with its document as not used
(no Critical Tracking Event), a retraction (an errorDeclaration: the declared event,
the number of corrective events), or rejected with a reason. CORPUS records, per event
and in eventList order, which of the four and the chain event type or the start of the
reason; the tests below then check what each outcome must satisfy, and how the mapping
behaves when the same documents arrive shuffled or with optional fields missing.
"""

from __future__ import annotations

import copy
import json
import random
import uuid
from pathlib import Path
from typing import Any

import pytest
from edge_samples import GS1_VECTORS, check
from foodtrace.ingest import epcis
from foodtrace.ingest.schema_check import validator

DATA = Path(__file__).resolve().parents[2] / "data" / "epcis"
ACTOR = "importer-sz-01"
TOPIC = f"foodtrace/v1/epcis/{ACTOR}"

# document -> per event: (outcome, chain event type or start of the reason, findings)
CORPUS: dict[str, list[tuple[str, str, int]]] = {
    "openepcis/AggregationEvent.json": [
        ('mapped', 'receiving', 4),
    ],
    "openepcis/AggregationEvent_with_digitalLink.json": [
        ('mapped', 'receiving', 4),
    ],
    "openepcis/Combination_of_different_event.json": [
        ('not_used', 'bizStep sensor_reporting (a sensor report) is no', 0),
        ('not_used', 'pallet containment: takes children out of urn:ep', 0),
        ('not_used', 'a TransactionEvent (assets or business transacti', 0),
        ('rejected', 'no output line names a lot: a transformation wit', 0),
        ('retraction', 'sha256:88f90984', 1),
        ('not_used', 'an AssociationEvent (assets or business transact', 0),
    ],
    "openepcis/CurieString_document.json": [
        ('rejected', 'no line of this event names a lot: epcList[0]: h', 0),
    ],
    "openepcis/ObjectEvent.json": [
        ('rejected', 'no line of this event names a lot: epcList[0]: u', 0),
        ('rejected', 'no line of this event names a lot: epcList[0]: u', 0),
    ],
    "openepcis/ObjectEvent_with_custom_bizStep_uri.json": [
        ('not_used', 'bizStep https://example.com/bizStep/inspecting i', 0),
    ],
    "openepcis/ObjectEvent_with_digitalLink.json": [
        ('mapped', 'receiving', 0),
    ],
    "openepcis/ObjectEvent_with_error_declaration.json": [
        ('retraction', 'ni:///sha-256;aa49', 2),
        ('rejected', 'no line of this event names a lot: epcList[0]: u', 0),
    ],
    "openepcis/ObjectEvent_with_userExtensions.json": [
        ('rejected', 'no line of this event names a lot: epcList[0]: u', 0),
        ('mapped', 'harvesting', 0),
    ],
    "openepcis/Query_TransformationEvent_with_error_declaration.json": [
        ('retraction', 'urn:uuid:374d95fc-', 1),
        ('rejected', 'no output line names a lot: a transformation wit', 0),
    ],
    "openepcis/SensorData_with_combined_events.json": [
        ('not_used', 'bizStep inspecting (a sensor report) is no FSMA ', 0),
        ('not_used', 'bizStep inspecting (a sensor report) is no FSMA ', 0),
        ('not_used', 'bizStep inspecting (a sensor report) is no FSMA ', 0),
        ('not_used', 'bizStep inspecting (a sensor report) is no FSMA ', 0),
        ('not_used', 'bizStep inspecting (a sensor report) is no FSMA ', 0),
        ('not_used', 'bizStep inspecting (a sensor report) is no FSMA ', 0),
        ('not_used', 'bizStep inspecting (a sensor report) is no FSMA ', 0),
        ('not_used', 'pallet containment: puts its children into urn:e', 0),
        ('not_used', 'bizStep sensor_reporting (a sensor report) is no', 0),
        ('not_used', 'bizStep sensor_reporting (a sensor report) is no', 0),
        ('not_used', 'a TransactionEvent (assets or business transacti', 0),
        ('retraction', 'sha256:d52f97af', 0),
        ('not_used', 'bizStep sensor_reporting (a sensor report) is no', 0),
    ],
    "openepcis/TransformationEvent.json": [
        ('rejected', 'no output line names a lot: a transformation wit', 0),
    ],
    "openepcis/TransformationEvent_with_digitalLink.json": [
        ('rejected', 'no output line names a lot: a transformation wit', 0),
    ],
    "openepcis/TransformationEvent_with_error_declaration.json": [
        ('retraction', 'urn:uuid:374d95fc-', 1),
        ('rejected', 'no output line names a lot: a transformation wit', 0),
    ],
    "openepcis/epcisDocWithAllGS1Keys.json": [
        ('not_used', 'bizStep other is no FSMA 204 Critical Tracking E', 0),
    ],
    "openepcis/queryDocument.json": [
        ('not_used', 'bizStep sensor_reporting (a sensor report) is no', 0),
    ],
    "opentraceability/EPCISDocument_objectevents_complete.jsonld": [
        ('retraction', 'urn:uuid:374d95fc-', 1),
    ],
    "opentraceability/EPCISQUERYDOCUMENT_advanced_10.jsonld": [
        ('not_used', 'bizStep transshipment is no FSMA 204 Critical Tr', 0),
        ('mapped', 'harvesting', 0),
        ('mapped', 'shipping', 1),
        ('mapped', 'receiving', 1),
        ('mapped', 'receiving', 1),
        ('mapped', 'transformation', 0),
        ('mapped', 'receiving', 1),
        ('mapped', 'transformation', 0),
        ('not_used', 'bizStep transshipment is no FSMA 204 Critical Tr', 0),
    ],
    "opentraceability/EPCISQUERYDOCUMENT_advanced_11.jsonld": [
        ('mapped', 'harvesting', 0),
        ('not_used', 'bizStep hatching is no FSMA 204 Critical Trackin', 0),
        ('mapped', 'transformation', 0),
    ],
    "opentraceability/EPCISQUERYDOCUMENT_advanced_12.jsonld": [
        ('mapped', 'transformation', 0),
        ('not_used', 'pallet containment: puts its children into urn:e', 0),
    ],
    "opentraceability/EPCISQUERYDOCUMENT_advanced_6.jsonld": [
        ('mapped', 'transformation', 0),
        ('mapped', 'transformation', 0),
    ],
    "opentraceability/EPCISQueryDocument.GDST.jsonld": [
        ('mapped', 'transformation', 0),
        ('not_used', 'pallet containment: puts its children into urn:e', 0),
        ('not_used', 'pallet containment: puts its children into urn:e', 0),
    ],
    "opentraceability/EPCISQueryDocument_duplicate_eventIDs.jsonld": [
        ('rejected', 'no line of this event names a lot: epcList[0]: u', 0),
        ('rejected', 'no line of this event names a lot: epcList[0]: u', 0),
    ],
    "opentraceability/EPCISQueryDocument_with_masterdata.jsonld": [
        ('mapped', 'harvesting', 1),
    ],
    "opentraceability/cap_tool_events.jsonld": [
        ('not_used', 'bizStep hatching is no FSMA 204 Critical Trackin', 0),
        ('mapped', 'shipping', 1),
        ('mapped', 'receiving', 1),
        ('mapped', 'harvesting', 0),
        ('not_used', 'bizStep transshipment is no FSMA 204 Critical Tr', 0),
        ('mapped', 'receiving', 1),
        ('mapped', 'shipping', 1),
        ('mapped', 'receiving', 1),
        ('mapped', 'shipping', 1),
        ('mapped', 'receiving', 1),
        ('mapped', 'harvesting', 0),
        ('mapped', 'transformation', 0),
        ('mapped', 'transformation', 0),
        ('mapped', 'transformation', 0),
        ('not_used', 'pallet containment: puts its children into urn:e', 0),
        ('not_used', 'pallet containment: takes children out of urn:ep', 0),
        ('not_used', 'pallet containment: puts its children into urn:e', 0),
        ('not_used', 'pallet containment: takes children out of urn:ep', 0),
    ],
    "opentraceability/epcisdocument-example01.jsonld": [
        ('mapped', 'shipping', 1),
        ('mapped', 'receiving', 1),
        ('mapped', 'cooling', 0),
        ('rejected', 'no input line names a lot: the contract needs th', 0),
        ('rejected', 'no line of this event names a lot: quantityList[', 0),
        ('rejected', 'no line of this event names a lot: quantityList[', 0),
        ('rejected', 'no output line names a lot: a transformation wit', 0),
        ('mapped', 'receiving', 1),
        ('mapped', 'harvesting', 0),
        ('mapped', 'receiving', 1),
        ('mapped', 'harvesting', 0),
    ],
    "opentraceability/farm_harvest_event_object.jsonld": [
        ('mapped', 'harvesting', 0),
    ],
    "opentraceability/wholechainbug01.jsonld": [
        ('not_used', 'pallet containment: puts its children into urn:e', 0),
        ('not_used', 'pallet containment: puts its children into urn:e', 0),
        ('not_used', 'pallet containment: takes children out of urn:ep', 0),
        ('not_used', 'pallet containment: takes children out of urn:ep', 0),
        ('not_used', 'an ObjectEvent without a CBV or GDST bizStep is ', 0),
        ('not_used', 'an ObjectEvent without a CBV or GDST bizStep is ', 0),
        ('not_used', 'an ObjectEvent without a CBV or GDST bizStep is ', 0),
        ('not_used', 'an ObjectEvent without a CBV or GDST bizStep is ', 0),
        ('not_used', 'an ObjectEvent without a CBV or GDST bizStep is ', 0),
        ('not_used', 'an ObjectEvent without a CBV or GDST bizStep is ', 0),
        ('not_used', 'an ObjectEvent without a CBV or GDST bizStep is ', 0),
        ('not_used', 'an ObjectEvent without a CBV or GDST bizStep is ', 0),
        ('not_used', 'an ObjectEvent without a CBV or GDST bizStep is ', 0),
        ('not_used', 'an ObjectEvent without a CBV or GDST bizStep is ', 0),
        ('not_used', 'an ObjectEvent without a CBV or GDST bizStep is ', 0),
        ('mapped', 'transformation', 2),
        ('mapped', 'transformation', 2),
        ('mapped', 'transformation', 2),
    ],
    "gs1/Example-Type-sourceOrDestination_measurement_bizTransaction.jsonld": [
        ('not_used', 'an AssociationEvent (assets or business transact', 0),
    ],
    "gs1/Example_9.6.1-ObjectEvent.jsonld": [
        ('rejected', 'no line of this event names a lot: epcList[0]: u', 0),
        ('rejected', 'no line of this event names a lot: epcList[0]: u', 0),
    ],
    "gs1/Example_9.6.2-ObjectEvent.jsonld": [
        ('mapped', 'receiving', 0),
    ],
    "gs1/Example_9.6.3-AggregationEvent.jsonld": [
        ('mapped', 'receiving', 4),
    ],
    "gs1/Example_9.6.4-TransformationEvent.jsonld": [
        ('rejected', 'no output line names a lot: a transformation wit', 0),
    ],
}


def _path(name: str) -> Path:
    folder, file = name.split("/", 1)
    path = (GS1_VECTORS if folder == "gs1" else DATA / folder) / file
    assert path.exists(), f"{path} missing (GS1's examples are read from ../shared/vectors)"
    return path


def _events(document: dict[str, Any]) -> list[Any]:
    events = epcis.document_events(document)
    assert isinstance(events, list)
    return events


def _outcomes(result: Any) -> dict[int, tuple[str, str, int]]:
    rows: dict[int, tuple[str, str, int]] = {}
    for acc in result.accepted:
        if acc.kind == "epcis_declaration":  # the declared eventID, the corrective events
            d = acc.payload
            rows[acc.element_index] = ("retraction", d["declared_event_id"],
                                       len(d["corrective_event_ids"]))
            continue
        findings = acc.payload["kdes"].get("epcis_findings", [])
        rows[acc.element_index] = ("mapped", acc.payload["event_type"], len(findings))
    for rej in result.rejected:
        rows[rej.element_index] = ("rejected", rej.reasons[0].message, 0)
    for doc in result.documents:
        for entry in doc.not_used:
            rows[entry["index"]] = ("not_used", entry["reason"], 0)
    return rows


def test_the_corpus_is_every_committed_document() -> None:
    committed = {f"{p.parent.name}/{p.name}" for p in DATA.glob("*/*.json*")}
    gs1 = {f"gs1/{p.name}" for p in GS1_VECTORS.glob("Example*.jsonld")}
    assert committed | gs1 == set(CORPUS)
    assert sum(len(v) for v in CORPUS.values()) >= 100  # events


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_each_event_ends_where_recorded(name: str) -> None:
    raw = _path(name).read_bytes()
    result = check(TOPIC, raw)
    (doc,) = result.documents  # the document is kept whatever its events give
    assert doc.raw == raw
    events = _events(doc.document)
    got = _outcomes(result)
    assert sorted(got) == list(range(len(events)))  # each event exactly once
    want = CORPUS[name]
    assert len(want) == len(events)
    for index, (outcome, what, findings) in enumerate(want):
        assert got[index][0] == outcome, (index, got[index])
        assert got[index][1].startswith(what), (index, got[index])
        assert got[index][2] == findings, (index, got[index])
    schema = validator("chain_event")
    for acc in result.accepted:
        event = events[acc.element_index]
        assert acc.document_id == doc.document_id
        if acc.kind == "epcis_declaration":
            # the declared event's message id is the one that event has itself
            original = {k: v for k, v in event.items() if k != "errorDeclaration"}
            assert acc.payload["declared_message_id"] == str(
                epcis.event_message_id(ACTOR, original, doc.document.get("@context")))
            assert acc.message_id == epcis.event_message_id(ACTOR, event,
                                                            doc.document.get("@context"))
            assert acc.payload["declared_message_id"] != str(acc.message_id)
            continue
        assert schema.is_valid(acc.payload), acc.payload
        assert acc.payload["kdes"]["epcis_event"] == event
        assert acc.document_id == doc.document_id
        assert acc.message_id == epcis.event_message_id(ACTOR, event, doc.document.get("@context"))
        if isinstance(event.get("eventID"), str):
            assert acc.message_id == uuid.uuid5(epcis.EVENT_NAMESPACE, f"{ACTOR}\n{event['eventID']}")
    for rej in result.rejected:
        assert all(r.path is None or r.path.startswith("/") for r in rej.reasons)
        assert json.loads(rej.raw) == events[rej.element_index]
    not_used = {e["index"] for e in doc.not_used}
    assert not not_used & {r.element_index for r in result.rejected}


def _mapped(document: dict[str, Any]) -> dict[uuid.UUID, dict[str, Any]]:
    return {m.message_id: m.chain_event for m in epcis.map_document(document, ACTOR)
            if m.chain_event is not None}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_shuffled_events_map_the_same(name: str) -> None:
    """Containment and landings are read by event time, not by position."""
    document = json.loads(_path(name).read_bytes().decode("utf-8-sig"))
    shuffled = copy.deepcopy(document)
    random.Random(name).shuffle(_events(shuffled))
    assert _mapped(shuffled) == _mapped(document)


OPTIONAL = ("bizTransactionList", "ilmd", "sourceList", "destinationList", "readPoint",
            "disposition")  # (eventTimeZoneOffset is required by EPCIS 2.0)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_missing_optional_fields_flag_never_drop(name: str) -> None:
    """Without reference documents, ILMD, source/destination lists or readPoint, an
    event that mapped still maps (the gaps become findings); none is rejected for it."""
    document = json.loads(_path(name).read_bytes().decode("utf-8-sig"))
    before = {m.index for m in epcis.map_document(document, ACTOR) if m.chain_event}
    stripped = copy.deepcopy(document)
    for event in _events(stripped):
        if isinstance(event, dict):
            for key in OPTIONAL:
                if key != "readPoint" or "bizLocation" in event:
                    event.pop(key, None)
    after = {m.index for m in epcis.map_document(stripped, ACTOR) if m.chain_event}
    # an ILMD lotNumber is what makes some classes lots: only those may drop out
    lot_from_ilmd = {i for i, e in enumerate(_events(document))
                     if isinstance(e, dict) and "lotNumber" in json.dumps(e.get("ilmd", {}))}
    assert before - lot_from_ilmd <= after
