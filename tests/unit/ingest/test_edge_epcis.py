"""EPCIS 2.0 documents at the edge: GS1's own examples and the FSMA 204 mapping."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import pytest
from edge_samples import ACTOR, EPCIS_TOPIC, GS1_VECTORS, NOW, check, codes, encode
from foodtrace.ingest import epcis
from foodtrace.ingest.epcis import (
    DOCUMENT_NAMESPACE,
    EVENT_NAMESPACE,
    LotClass,
    cbv_term,
    parse_lot_class,
)
from foodtrace.ingest.schema_check import validator
from test_epcis_fixture import EVENT_TYPES, epcis_document, epcis_events


def _vector(name: str) -> bytes:
    path = GS1_VECTORS / name
    assert path.exists(), f"GS1 vector {path} missing: shared/ must sit next to the repository"
    return path.read_bytes()


def _reasons(result, index: int) -> list[tuple[str, str | None, str]]:
    (rej,) = [r for r in result.rejected if r.element_index == index]
    return [(r.code, r.path, r.message) for r in rej.reasons]


# --- GS1's example documents --------------------------------------------------------------

# file -> {event index: (codes, a phrase of the reason)}: every event of every vector
# is either mapped (GS1_MAPPED) or rejected for a reason that says what is missing or
# unsupported. A missing bizTransactionList is no rejection: the event maps without
# reference_document and validation records that as a finding (spec 2.2).
GS1_EXPECTED: dict[str, dict[int, tuple[set[str], str]]] = {
    "Example-Type-sourceOrDestination_measurement_bizTransaction.jsonld": {
        0: ({"epcis_unsupported"}, "AssociationEvent has no FSMA 204"),
    },
    "Example_9.6.1-ObjectEvent.jsonld": {
        # serialised SGTINs only, and the shipment names no destination / the receipt no source
        0: ({"epcis_unsupported", "epcis_incomplete"}, "serialised items"),
        1: ({"epcis_unsupported", "epcis_incomplete"}, "serialised items"),
    },
    "Example_9.6.2-ObjectEvent.jsonld": {},  # maps: see test_gs1_9_6_2_maps_without_a_reference_document
    "Example_9.6.3-AggregationEvent.jsonld": {
        0: ({"epcis_unsupported"}, "AggregationEvent has no FSMA 204"),
    },
    "Example_9.6.4-TransformationEvent.jsonld": {
        0: ({"epcis_unsupported"}, "without a lot (batch)"),
    },
    "SensorDataExample1.jsonld": {
        0: ({"epcis_unsupported"}, "sensor-only event"),
    },
    "SensorDataExample2.jsonld": {
        0: ({"epcis_unsupported"}, "sensor-only event"),
    },
}
# file -> indices of the events that map to a chain event
GS1_MAPPED: dict[str, list[int]] = {"Example_9.6.2-ObjectEvent.jsonld": [0]}


def test_every_gs1_vector_is_covered() -> None:
    assert sorted(p.name for p in GS1_VECTORS.glob("*.jsonld")) == sorted(GS1_EXPECTED)
    assert set(GS1_MAPPED) <= set(GS1_EXPECTED)
    for name, mapped in GS1_MAPPED.items():
        assert not set(mapped) & set(GS1_EXPECTED[name]), name


@pytest.mark.parametrize("name", sorted(GS1_EXPECTED))
def test_gs1_vector(name: str) -> None:
    raw = _vector(name)
    result = check(EPCIS_TOPIC, raw)
    (doc,) = result.documents  # the document is kept whatever its events give
    assert (doc.raw, doc.actor_id, doc.document) == (raw, ACTOR, json.loads(raw))
    assert doc.document_id == epcis.document_id(ACTOR, raw)
    expected = GS1_EXPECTED[name]
    events = json.loads(raw)["epcisBody"]["eventList"]
    mapped = GS1_MAPPED.get(name, [])
    assert [a.element_index for a in result.accepted] == mapped
    assert sorted(mapped + sorted(expected)) == list(range(len(events)))
    for acc in result.accepted:
        assert validator("chain_event").is_valid(acc.payload)
        assert acc.payload["kdes"] == {"epcis_event": events[acc.element_index]}
        assert acc.document_id == doc.document_id
    assert sorted(r.element_index for r in result.rejected) == sorted(expected)
    for rej in result.rejected:
        want_codes, phrase = expected[rej.element_index]
        assert {r.code for r in rej.reasons} == want_codes
        assert any(phrase in r.message for r in rej.reasons), rej.reasons
        assert all(r.path and r.path.startswith("/") for r in rej.reasons)
        event = events[rej.element_index]
        assert json.loads(rej.raw) == event
        assert rej.message_id == uuid.uuid5(EVENT_NAMESPACE, f"{ACTOR}\n{event['eventID']}")


def test_gs1_9_6_1_names_every_missing_kde() -> None:
    result = check(EPCIS_TOPIC, _vector("Example_9.6.1-ObjectEvent.jsonld"))
    assert {p for _, p, _ in _reasons(result, 0)} == {"/epcList", "/destinationList"}
    assert {p for _, p, _ in _reasons(result, 1)} == {"/epcList", "/sourceList"}


def test_gs1_9_6_4_names_the_pattern_input_and_the_serial_outputs() -> None:
    result = check(EPCIS_TOPIC, _vector("Example_9.6.4-TransformationEvent.jsonld"))
    paths = {p for _, p, _ in _reasons(result, 0)}
    assert paths == {"/inputQuantityList/2/epcClass", "/outputEPCList"}  # no bizTransactionList


# GS1 9.6.2 as published: a receiving of 200 kg of one lot, without bizTransactionList.
GS1_9_6_2_CHAIN = {
    "schema": "foodtrace/chain-event/v1",
    "actor_id": ACTOR,
    "event_type": "receiving",
    "event_time": "2013-06-08T16:58:56.591000+02:00",  # 14:58:56.591Z shown at +02:00
    "location_id": "urn:epc:id:sgln:0614141.00888.0",  # bizLocation over readPoint
    "lots": [{"lot_code": "(01)04012345123456(10)998877", "product_code": "04012345123456",
              "quantity": 200, "unit": "kg"}],
    "source_location_id": "urn:epc:id:sgln:4012345.00225.0",  # type location preferred
}


def test_gs1_9_6_2_maps_without_a_reference_document() -> None:
    raw = _vector("Example_9.6.2-ObjectEvent.jsonld")
    event = json.loads(raw)["epcisBody"]["eventList"][0]
    assert "bizTransactionList" not in event
    result = check(EPCIS_TOPIC, raw)
    assert not result.rejected
    (acc,) = result.accepted
    assert (acc.kind, acc.sender_id, acc.element_index) == ("chain_event", ACTOR, 0)
    assert acc.message_id == uuid.uuid5(EVENT_NAMESPACE, f"{ACTOR}\n{event['eventID']}")
    chain = dict(acc.payload)
    assert chain.pop("kdes") == {"epcis_event": event}
    # no reference_document key at all (not a null): validation reports it as a finding
    assert chain == {**GS1_9_6_2_CHAIN, "message_id": str(acc.message_id)}
    assert validator("chain_event").is_valid(acc.payload)
    assert acc.document_id == result.documents[0].document_id


def test_gs1_9_6_2_names_its_reference_document_once_it_has_one() -> None:
    doc = json.loads(_vector("Example_9.6.2-ObjectEvent.jsonld"))
    event = doc["epcisBody"]["eventList"][0]
    event["bizTransactionList"] = [{"type": "bol", "bizTransaction": "urn:epcglobal:cbv:bt:4012345000009:77"}]
    result = check(EPCIS_TOPIC, doc)
    assert not result.rejected
    (acc,) = result.accepted
    chain = dict(acc.payload)
    assert chain.pop("kdes") == {"epcis_event": event}
    assert chain == {
        **GS1_9_6_2_CHAIN,
        "message_id": str(acc.message_id),
        "reference_document": {"type": "BOL", "number": "urn:epcglobal:cbv:bt:4012345000009:77"},
    }
    assert acc.document_id == result.documents[0].document_id


def test_gs1_9_6_4_maps_once_its_lots_are_lots() -> None:
    doc = json.loads(_vector("Example_9.6.4-TransformationEvent.jsonld"))
    event = doc["epcisBody"]["eventList"][0]
    del event["inputQuantityList"][2], event["outputEPCList"], event["inputEPCList"]
    event["outputQuantityList"] = [{"epcClass": "urn:epc:class:lgtin:4012345.012345.998877",
                                    "quantity": 40, "uom": "KGM"}]
    (acc,) = check(EPCIS_TOPIC, doc).accepted  # no bizTransactionList needed
    chain = acc.payload
    assert chain["event_type"] == "transformation"
    assert "reference_document" not in chain
    assert chain["inputs"] == [
        {"lot_code": "(01)04012345111118(10)4444", "product_code": "04012345111118",
         "quantity": 10, "unit": "kg"},
        {"lot_code": "(01)00614141777778(10)987", "product_code": "00614141777778",
         "quantity": 30, "unit": "each"},  # no uom: a count
    ]
    assert chain["tlc_source_location_id"] == chain["location_id"] == "urn:epc:id:sgln:4012345.00001.0"


# --- every mapping --------------------------------------------------------------------------


def test_a_document_with_every_cte_maps_every_event() -> None:
    raw = encode(epcis_document())
    result = check(EPCIS_TOPIC, raw)
    assert not result.rejected, [r.reasons for r in result.rejected]
    (doc,) = result.documents
    assert [a.payload["event_type"] for a in result.accepted] == EVENT_TYPES
    assert [a.element_index for a in result.accepted] == list(range(len(EVENT_TYPES)))
    schema = validator("chain_event")
    for acc, event in zip(result.accepted, epcis_events(), strict=True):
        assert schema.is_valid(acc.payload)
        assert (acc.kind, acc.sender_id, acc.document_id) == ("chain_event", ACTOR, doc.document_id)
        assert acc.payload["actor_id"] == ACTOR
        assert acc.payload["kdes"]["epcis_event"] == event
    by_type = {a.payload["event_type"]: a.payload for a in result.accepted}
    assert by_type["cooling"]["event_time"] == "2026-11-20T07:30:00+08:00"
    assert "tlc_source_location_id" not in by_type["cooling"]
    assert by_type["initial_packing"]["lots"][0]["quantity"] == 190  # 190000 GRM
    assert by_type["initial_packing"]["tlc_source_location_id"] == epcis_events()[2]["bizLocation"]["id"]
    assert by_type["shipping"]["destination_location_id"] == "urn:epc:id:sgln:0614141.00777.0"
    assert by_type["shipping"]["location_id"] == "urn:epc:id:sgln:4012345.00002.0"  # readPoint
    assert by_type["shipping"]["reference_document"]["type"] == "BOL"  # bol over po
    assert by_type["receiving"]["source_location_id"] == "urn:epc:id:sgln:4012345.00002.0"
    assert by_type["receiving"]["reference_document"]["type"] == "DESADV"
    first = by_type["first_receiving"]["lots"][0]
    assert first == {"lot_code": "(01)04012345123456(10)F261120", "product_code": "04012345123456",
                     "quantity": 0.5, "unit": "t"}
    assert by_type["transformation"]["outputs"][0]["lot_code"] == "(01)04012345543216(10)T261121"
    assert [i["lot_code"] for i in by_type["transformation"]["inputs"]] == [
        "(01)04012345123456(10)P261120", "(01)04012345123456(10)F261120"
    ]
    assert by_type["sale"]["lots"][0]["unit"] == "each"


def test_ids_are_stable_across_redelivery_and_scoped_by_actor() -> None:
    raw = encode(epcis_document())
    once, again = check(EPCIS_TOPIC, raw), check(EPCIS_TOPIC, raw)
    assert once.documents[0].document_id == again.documents[0].document_id
    assert [a.message_id for a in once.accepted] == [a.message_id for a in again.accepted]
    other = check("foodtrace/v1/epcis/packer-gz-01", raw)
    assert other.documents[0].document_id != once.documents[0].document_id
    assert not {a.message_id for a in other.accepted} & {a.message_id for a in once.accepted}
    # eventID when given, else a hash of the event: other bytes of the same events agree
    pretty = check(EPCIS_TOPIC, json.dumps(epcis_document(), indent=1).encode())
    assert [a.message_id for a in pretty.accepted] == [a.message_id for a in once.accepted]
    assert pretty.documents[0].document_id != once.documents[0].document_id
    events = epcis_events()
    assert once.accepted[0].message_id == uuid.uuid5(EVENT_NAMESPACE,
                                                     f"{ACTOR}\n{events[0]['eventID']}")
    assert once.documents[0].document_id.version == 5
    assert DOCUMENT_NAMESPACE != EVENT_NAMESPACE


def test_a_bad_event_does_not_sink_the_document() -> None:
    aggregation = json.loads(_vector("Example_9.6.3-AggregationEvent.jsonld"))
    events = epcis_events()[:2]
    events.insert(1, aggregation["epcisBody"]["eventList"][0])
    events.append("not an event")
    result = check(EPCIS_TOPIC, epcis_document(events))
    assert len(result.documents) == 1
    assert [a.element_index for a in result.accepted] == [0, 2]
    assert [r.element_index for r in result.rejected] == [1, 3]
    assert codes(result) == [{"epcis_unsupported"}, {"epcis_incomplete"}]
    assert result.rejected[1].raw == b'"not an event"'


@pytest.mark.parametrize(
    "body",
    [[], {"type": "EPCISQueryDocument", "epcisBody": {"eventList": []}},
     {"type": "EPCISDocument"}, {"type": "EPCISDocument", "epcisBody": {"eventList": {}}}, "x"],
)
def test_a_body_that_is_no_epcis_document_is_refused_whole(body: Any) -> None:
    raw = encode(body)
    result = check(EPCIS_TOPIC, raw)
    assert not result.documents and not result.accepted
    (rej,) = result.rejected
    assert rej.raw == raw and [r.code for r in rej.reasons] == ["not_epcis"]


def test_an_empty_event_list_keeps_the_document_only() -> None:
    result = check(EPCIS_TOPIC, epcis_document([]))
    assert len(result.documents) == 1 and not result.accepted and not result.rejected


def test_epcis_messages_pass_the_generic_checks_first() -> None:
    assert codes(check(EPCIS_TOPIC, b"{nope")) == [{"not_json"}]
    raw = encode(epcis_document())
    assert codes(check(EPCIS_TOPIC, raw, max_bytes=100)) == [{"oversize"}]
    nul = raw.replace(b'"F-3"', b'"F\\u0000"')
    assert nul != raw
    result = check(EPCIS_TOPIC, nul)
    assert codes(result) == [{"invalid_text"}] and not result.documents


# --- single events ------------------------------------------------------------------------------


def _one(event: dict[str, Any]):
    return check(EPCIS_TOPIC, epcis_document([event]))


def _event(**changes: Any) -> dict[str, Any]:
    event = epcis_events()[3]  # the shipping event
    for key, value in changes.items():
        if value is None:
            event.pop(key, None)
        else:
            event[key] = value
    return event


@pytest.mark.parametrize(
    ("changes", "code", "path"),
    [
        ({"bizStep": "inspecting"}, "epcis_unsupported", "/bizStep"),
        ({"bizStep": None}, "epcis_unsupported", "/bizStep"),
        ({"bizStep": "https://example.com/steps/shipping"}, "epcis_unsupported", "/bizStep"),
        ({"action": "DELETE"}, "epcis_unsupported", "/action"),
        ({"destinationList": None}, "epcis_incomplete", "/destinationList"),
        ({"readPoint": None}, "epcis_incomplete", "/bizLocation"),
        ({"eventTime": None}, "epcis_incomplete", "/eventTime"),
        ({"eventTime": "2026-11-20T14:00:00"}, "epcis_incomplete", "/eventTime"),
        ({"eventTimeZoneOffset": "+8"}, "epcis_incomplete", "/eventTimeZoneOffset"),
        ({"quantityList": None}, "epcis_incomplete", "/quantityList"),
        ({"quantityList": [{"epcClass": "urn:epc:class:lgtin:4012345.012345.P1"}]},
         "epcis_incomplete", "/quantityList/0/quantity"),
        ({"quantityList": [{"quantity": 5, "uom": "KGM"}]}, "epcis_incomplete",
         "/quantityList/0/epcClass"),
        ({"quantityList": [{"epcClass": "urn:epc:class:lgtin:4012345.012345.P1", "quantity": 5,
                            "uom": "LTR"}]}, "epcis_unsupported", "/quantityList/0/uom"),
        ({"quantityList": [{"epcClass": "urn:epc:idpat:sgtin:4012345.012345.*", "quantity": 5}]},
         "epcis_unsupported", "/quantityList/0/epcClass"),
        ({"quantityList": None, "epcList": ["urn:epc:id:sgtin:0614141.107346.2017"]},
         "epcis_unsupported", "/epcList"),
    ],
)
def test_an_event_that_cannot_map_says_why(changes: dict[str, Any], code: str, path: str) -> None:
    event = _event(**changes)
    result = _one(event)
    assert not result.accepted and len(result.documents) == 1
    assert (code, path) in {(c, p) for c, p, _ in _reasons(result, 0)}, _reasons(result, 0)
    assert json.loads(result.rejected[0].raw) == event


@pytest.mark.parametrize(
    "biz_transactions",
    [None, [], [{"type": "bol"}], [{"type": "bol", "bizTransaction": ""}], ["BOL-1"], {"x": 1}],
)
def test_an_event_without_a_usable_reference_document_maps_without_one(
    biz_transactions: Any,
) -> None:
    event = _event(bizTransactionList=biz_transactions)
    if biz_transactions is None:
        assert "bizTransactionList" not in event
    result = _one(event)
    assert not result.rejected
    (acc,) = result.accepted
    complete = _one(_event()).accepted[0].payload
    assert complete["reference_document"]["type"] == "BOL"
    # the same chain event as with a bizTransactionList, less reference_document
    expected = {k: v for k, v in complete.items() if k not in ("reference_document", "kdes")}
    chain = dict(acc.payload)
    assert chain.pop("kdes") == {"epcis_event": event}
    assert chain == expected
    assert validator("chain_event").is_valid(acc.payload)


def test_receiving_needs_an_action_and_add_is_first_receiving() -> None:
    receipt = epcis_events()[4]
    del receipt["action"]
    assert ("epcis_incomplete", "/action") in {(c, p) for c, p, _ in _reasons(_one(receipt), 0)}
    receipt["action"] = "ADD"
    assert _one(receipt).accepted[0].payload["event_type"] == "first_receiving"


def test_a_mapped_event_still_meets_the_contract() -> None:
    far = _event(eventTime="2099-01-01T00:00:00+08:00")
    assert codes(_one(far)) == [{"future_time"}]
    long_location = _event(readPoint={"id": "urn:epc:id:sgln:" + "1" * 200})
    (reason,) = _one(long_location).rejected[0].reasons
    assert reason.code == "schema" and reason.path is None
    assert "mapped from this EPCIS event at /location_id" in reason.message
    assert "at most 128" in reason.message


def test_one_event_id_for_two_events_is_refused() -> None:
    first = _event()
    second = _event(quantityList=[{"epcClass": "urn:epc:class:lgtin:4012345.012345.P261120",
                                   "quantity": 5, "uom": "KGM"}])
    result = check(EPCIS_TOPIC, epcis_document([first, second, copy.deepcopy(first)]))
    assert [a.element_index for a in result.accepted] == [0, 2]  # an exact repeat is a duplicate
    assert codes(result) == [{"duplicate_message_id"}]


def test_events_after_the_clock_skew_use_the_injected_now() -> None:
    soon = _event(eventTime=NOW.isoformat())
    assert _one(soon).accepted


# --- vocabulary and identifiers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "word"),
    [
        ("shipping", "shipping"),
        ("urn:epcglobal:cbv:bizstep:shipping", "shipping"),
        ("https://ref.gs1.org/cbv/BizStep-shipping", "shipping"),
        ("https://gs1.org/voc/BizStep-retail_selling", "retail_selling"),
        ("http://ref.gs1.org/cbv/BizStep-storing", "storing"),
        ("https://example.com/bizstep/shipping", None),
        ("urn:epcglobal:cbv:bizstep:", None),
        ("", None),
        (None, None),
        (7, None),
    ],
)
def test_biz_steps_are_normalised(value: object, word: str | None) -> None:
    assert cbv_term(value, "bizstep") == word


def test_lot_classes() -> None:
    urn = parse_lot_class("urn:epc:class:lgtin:4012345.012345.998877")
    link = parse_lot_class("https://id.gs1.org/01/04012345123456/10/998877")
    custom_domain = parse_lot_class("https://brand.example.com/01/4012345123456/10/998877?x=1")
    assert urn == link == custom_domain == LotClass("04012345123456", "(01)04012345123456(10)998877")
    assert parse_lot_class("urn:epc:class:lgtin:4012345.012345.A%2FB%25").lot_code.endswith("(10)A/B%")
    # the company prefix length varies; the GTIN does not
    assert parse_lot_class("urn:epc:class:lgtin:0614141.012345.1") == parse_lot_class(
        "urn:epc:class:lgtin:061414112345.0.1"
    ) == LotClass("00614141123452", "(01)00614141123452(10)1")
    for bad, phrase in [
        ("urn:epc:class:lgtin:4012345.12345.998877", "well-formed"),  # 12 digits
        ("urn:epc:class:lgtin:0614141.0123456.1", "well-formed"),  # 14 digits
        ("https://id.gs1.org/01/04012345123457/10/998877", "check digit"),
        ("https://id.gs1.org/01/04012345123456", "without a lot"),
        ("https://example.com/products/lettuce", "without a GS1 Digital Link GTIN"),
        ("urn:epc:id:sgtin:0614141.107346.2017", "is not an LGTIN"),
        (None, "missing"),
    ]:
        reason = parse_lot_class(bad)
        assert isinstance(reason, str) and phrase in reason, (bad, reason)
