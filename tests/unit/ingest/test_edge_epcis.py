"""EPCIS 2.0 documents at the edge: GS1's own examples and the FSMA 204 mapping, event
by event (test_epcis_corpus.py runs the whole public corpus)."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import pytest
from edge_samples import ACTOR, EPCIS_TOPIC, GS1_VECTORS, NOW, check, codes, encode
from foodtrace.ingest.epcis import DOCUMENT_NAMESPACE, EVENT_NAMESPACE, UNLOCATED
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


def test_gs1_9_6_1_serials_without_a_lot_are_refused_with_each_line_named() -> None:
    result = check(EPCIS_TOPIC, _vector("Example_9.6.1-ObjectEvent.jsonld"))
    for index, serial in ((0, "2017"), (1, "2018")):
        ((code, path, message),) = _reasons(result, index)
        assert (code, path) == ("epcis_unsupported", "/quantityList")
        assert f"urn:epc:id:sgtin:0614141.107346.{serial} is a serialised item without a lot" in message


def test_gs1_9_6_4_names_the_pattern_input_and_the_serial_outputs() -> None:
    result = check(EPCIS_TOPIC, _vector("Example_9.6.4-TransformationEvent.jsonld"))
    ((code, path, message),) = _reasons(result, 0)
    assert (code, path) == ("epcis_incomplete", "/outputQuantityList")
    assert "inputQuantityList[2]: urn:epc:idpat:sgtin:4012345.066666.* names a product" in message
    assert "outputEPCList[0]: urn:epc:id:sgtin:4012345.077889.25 is a serialised item" in message


def test_gs1_9_6_3_receiving_a_pallet_receives_its_lots() -> None:
    result = check(EPCIS_TOPIC, _vector("Example_9.6.3-AggregationEvent.jsonld"))
    (acc,) = result.accepted
    chain = acc.payload
    assert chain["event_type"] == "receiving"
    assert chain["lots"] == [{"lot_code": "(01)04012345123456(10)998877",
                              "product_code": "04012345123456", "quantity": 200.5, "unit": "kg"}]
    # the pattern and the serials of the pallet are findings; so is the missing source
    findings = chain["kdes"]["epcis_findings"]
    assert any("urn:epc:idpat:sgtin:4012345.098765.*" in f for f in findings)
    assert chain["source_location_id"] == UNLOCATED
    assert any(f.startswith("sourceList names no location") for f in findings)


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
    "destination_location_id": "urn:epc:id:sgln:0614141.00777.0",
}


GS1_9_6_2_PARTIES = {  # owning and possessing parties stay parties, not places
    "source_parties": [{"type": "possessing_party", "id": "urn:epc:id:sgln:4012345.00001.0"}],
    "destination_parties": [{"type": "owning_party", "id": "urn:epc:id:sgln:0614141.00001.0"}],
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
    assert chain.pop("kdes") == {"epcis_event": event, **GS1_9_6_2_PARTIES}
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
    assert chain.pop("kdes") == {"epcis_event": event, **GS1_9_6_2_PARTIES}
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
    association = json.loads(_vector(
        "Example-Type-sourceOrDestination_measurement_bizTransaction.jsonld"))
    events = epcis_events()[:2]
    events.insert(1, association["epcisBody"]["eventList"][0])
    events.append("not an event")
    result = check(EPCIS_TOPIC, epcis_document(events))
    (doc,) = result.documents
    assert [a.element_index for a in result.accepted] == [0, 2]
    # no CTE: kept with the document, not reported as a rejection
    assert [(e["index"], e["reason"][:20]) for e in doc.not_used] == [(1, "an AssociationEvent ")]
    assert [r.element_index for r in result.rejected] == [3]
    assert codes(result) == [{"epcis_incomplete"}]
    assert result.rejected[0].raw == b'"not an event"'


def test_an_epcis_query_document_with_a_byte_order_mark_is_read() -> None:
    """What an EPCIS repository answers a query with, as OpenTraceability writes it."""
    query = {"@context": epcis_document()["@context"], "type": "EPCISQueryDocument",
             "schemaVersion": "2.0", "creationDate": "2026-11-21T00:00:00Z",
             "epcisBody": {"queryResults": {"queryName": "SimpleEventQuery",
                                            "resultsBody": {"eventList": epcis_events()}}}}
    raw = b"\xef\xbb\xbf" + encode(query)
    result = check(EPCIS_TOPIC, raw)
    assert not result.rejected
    assert [a.payload["event_type"] for a in result.accepted] == EVENT_TYPES
    assert result.documents[0].raw == raw  # kept byte for byte, BOM included
    # a byte order mark stays refused on foodtrace's own JSON topics
    chain = b"\xef\xbb\xbf" + encode(result.accepted[0].payload)
    assert codes(check(f"foodtrace/v1/chain/{ACTOR}/events", chain)) == [{"not_json"}]


@pytest.mark.parametrize(
    "body",
    [[], {"type": "EPCISQueryDocument", "epcisBody": {"eventList": []}},
     {"type": "EPCISQueryDocument", "epcisBody": {"queryResults": {"resultsBody": {}}}},
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
    ("changes", "phrase"),
    [
        ({"bizStep": "inspecting"}, "bizStep inspecting is no FSMA 204"),
        ({"bizStep": None}, "without a CBV or GDST bizStep"),
        ({"bizStep": "https://example.com/steps/shipping"}, "is a private extension"),
        ({"action": "DELETE"}, "action DELETE"),
        ({"type": "TransactionEvent"}, "a TransactionEvent"),
    ],
)
def test_an_event_that_is_no_cte_is_kept_as_not_used(changes: dict[str, Any], phrase: str) -> None:
    event = _event(**changes)
    result = _one(event)
    assert not result.accepted and not result.rejected
    ((entry),) = result.documents[0].not_used
    assert phrase in entry["reason"], entry
    assert entry["event_id"] == event["eventID"] and entry["index"] == 0
    assert entry["message_id"] == str(uuid.uuid5(EVENT_NAMESPACE, f"{ACTOR}\n{event['eventID']}"))


@pytest.mark.parametrize(
    ("changes", "code", "path"),
    [
        ({"readPoint": None}, "epcis_incomplete", "/bizLocation"),
        ({"eventTime": None}, "epcis_incomplete", "/eventTime"),
        ({"eventTime": "2026-11-20T14:00:00", "eventTimeZoneOffset": None}, "epcis_incomplete",
         "/eventTime"),
        ({"eventTimeZoneOffset": "+8"}, "epcis_incomplete", "/eventTimeZoneOffset"),
        ({"quantityList": None}, "epcis_incomplete", "/quantityList"),
        ({"quantityList": [{"epcClass": "urn:epc:class:lgtin:4012345.012345.P1"}]},
         "epcis_unsupported", "/quantityList"),
        ({"quantityList": [{"quantity": 5, "uom": "KGM"}]}, "epcis_unsupported", "/quantityList"),
        ({"quantityList": [{"epcClass": "urn:epc:class:lgtin:4012345.012345.P1", "quantity": 5,
                            "uom": "LTR"}]}, "epcis_unsupported", "/quantityList"),
        ({"quantityList": [{"epcClass": "urn:epc:idpat:sgtin:4012345.012345.*", "quantity": 5}]},
         "epcis_unsupported", "/quantityList"),
        ({"quantityList": None, "epcList": ["urn:epc:id:sgtin:0614141.107346.2017"]},
         "epcis_unsupported", "/quantityList"),
    ],
)
def test_an_event_that_cannot_map_says_why(changes: dict[str, Any], code: str, path: str) -> None:
    event = _event(**changes)
    result = _one(event)
    assert not result.accepted and len(result.documents) == 1
    assert (code, path) in {(c, p) for c, p, _ in _reasons(result, 0)}, _reasons(result, 0)
    assert json.loads(result.rejected[0].raw) == event


LOT = "urn:epc:class:lgtin:4012345.012345.P261120"


@pytest.mark.parametrize(
    ("changes", "finding"),
    [
        # one bad line among lot lines: the others still link
        ({"quantityList": [{"epcClass": LOT, "quantity": 5, "uom": "KGM"},
                           {"epcClass": "urn:epc:idpat:sgtin:4012345.012345.*", "quantity": 2}]},
         "quantityList[1]: urn:epc:idpat:sgtin:4012345.012345.* names a product class"),
        ({"quantityList": [{"epcClass": LOT, "quantity": 5, "uom": "KGM"},
                           {"epcClass": LOT.replace("P261120", "Q1"), "uom": "KGM"}]},
         "quantityList[1]: lot (01)04012345123456(10)Q1 has no quantity greater than 0"),
        ({"quantityList": [{"epcClass": LOT, "quantity": 5, "uom": "KGM"},
                           {"epcClass": LOT.replace("P261120", "Q1"), "quantity": 2, "uom": "LTR"}]},
         "uom \"LTR\" has no foodtrace unit"),
        ({"epcList": ["urn:epc:id:sgtin:0614141.107346.2017"]},
         "epcList[0]: urn:epc:id:sgtin:0614141.107346.2017 is a serialised item"),
        ({"epcList": ["urn:epc:id:sscc:0614141.1234567890"]},
         "container urn:epc:id:sscc:0614141.1234567890: no AggregationEvent in this document"),
        ({"eventTime": "2026-11-20T14:00:00"}, "eventTime 2026-11-20T14:00:00 has no offset"),
        ({"destinationList": None}, "destinationList names no location: the destination is "
                                    f"recorded as {UNLOCATED}"),
        ({"destinationList": [{"type": "owning_party", "destination": "urn:epc:id:pgln:0614141.00001"}]},
         "it names only the owning_party urn:epc:id:pgln:0614141.00001, a business, not a place"),
    ],
)
def test_a_gap_in_an_event_is_a_finding_and_the_event_maps(changes: dict[str, Any],
                                                          finding: str) -> None:
    result = _one(_event(**changes))
    assert not result.rejected, result.rejected
    (acc,) = result.accepted
    assert validator("chain_event").is_valid(acc.payload)
    assert acc.payload["lots"][0]["lot_code"] == "(01)04012345123456(10)P261120"
    findings = acc.payload["kdes"]["epcis_findings"]
    assert any(finding in f for f in findings), findings


def test_a_party_destination_becomes_an_explicit_unknown_place_of_that_party() -> None:
    party = "urn:epc:id:pgln:0614141.00001"
    event = _event(destinationList=[{"type": "owning_party", "destination": party}])
    chain = _one(event).accepted[0].payload
    assert chain["destination_location_id"] == f"{UNLOCATED}:{party}"
    assert chain["kdes"]["destination_parties"] == [{"type": "owning_party", "id": party}]


def test_shipping_a_pallet_ships_the_lots_packed_into_it_before() -> None:
    sscc = "urn:epc:id:sscc:0614141.1234567890"
    pack = {"type": "AggregationEvent", "eventTime": "2026-11-20T09:00:00+08:00",
            "eventTimeZoneOffset": "+08:00", "action": "ADD", "bizStep": "packing",
            "parentID": sscc, "childQuantityList": [
                {"epcClass": LOT, "quantity": 30, "uom": "KGM"},
                {"epcClass": LOT.replace("P261120", "P2"), "quantity": 20, "uom": "KGM"}],
            "readPoint": {"id": "urn:epc:id:sgln:4012345.00002.0"}}
    unpack_one = {**pack, "eventTime": "2026-11-20T09:30:00+08:00", "action": "DELETE",
                  "bizStep": "unpacking",
                  "childQuantityList": [{"epcClass": LOT.replace("P261120", "P2")}]}
    repack_late = {**pack, "eventTime": "2026-11-20T18:00:00+08:00",
                   "childQuantityList": [{"epcClass": LOT.replace("P261120", "P9"),
                                          "quantity": 5, "uom": "KGM"}]}
    ship = _event(quantityList=None, epcList=[sscc])  # shipped at 10:00
    # in eventList order the shipment comes first: containment goes by event time
    result = check(EPCIS_TOPIC, epcis_document([ship, repack_late, unpack_one, pack]))
    (acc,) = result.accepted
    assert acc.payload["lots"] == [{"lot_code": "(01)04012345123456(10)P261120",
                                    "product_code": "04012345123456", "quantity": 30,
                                    "unit": "kg"}]
    assert len(result.documents[0].not_used) == 3  # the aggregations themselves


def test_ilmd_gives_the_lot_and_the_catch_kdes() -> None:
    landing = epcis_events()[5]
    landing["quantityList"] = [{"epcClass": "https://id.gs1.org/01/04012345123456",
                                "quantity": 80, "uom": "KGM"}]
    landing["ilmd"]["cbvmda:lotNumber"] = "L-88"
    landing["ilmd"]["cbvmda:bestBeforeDate"] = "2026-11-30"
    chain = _one(landing).accepted[0].payload
    assert chain["event_type"] == "first_receiving"
    assert chain["lots"][0]["lot_code"] == "(01)04012345123456(10)L-88"
    kdes = chain["kdes"]
    assert kdes["harvest_date_range"] == ["2026-11-18T04:00:00+08:00", "2026-11-19T20:00:00+08:00"]
    assert kdes["harvest_date"] == "2026-11-18"
    assert kdes["harvest_area"] == "urn:gdst:fao:61"
    assert kdes["vessels"] == [{"vessel_name": "Yue Dong Yu 01", "vessel_id": "440300-1234",
                                "catch_area": "urn:gdst:fao:61"}]
    assert kdes["best_before_date"] == "2026-11-30"
    assert kdes["landing_date"] == "2026-11-20"  # the event's own date
    assert "epcis_findings" not in kdes


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
    assert chain.pop("kdes")["epcis_event"] == event
    assert chain == expected
    assert validator("chain_event").is_valid(acc.payload)


def test_receiving_needs_an_action_and_add_is_first_receiving_of_seafood_only() -> None:
    receipt = epcis_events()[4]
    del receipt["action"]
    (entry,) = _one(receipt).documents[0].not_used
    assert "needs action ADD or OBSERVE" in entry["reason"]
    receipt["action"] = "ADD"
    chain = _one(receipt).accepted[0].payload
    assert chain["event_type"] == "receiving"  # no catch information: not seafood
    assert any("ADD receiving without seafood evidence" in f
               for f in chain["kdes"]["epcis_findings"])
    assert _one(epcis_events()[5]).accepted[0].payload["event_type"] == "first_receiving"


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


def test_a_sensor_report_of_a_residue_says_why_it_is_no_lab_result() -> None:
    report = {"type": "gs1:MX", "chemicalSubstance": "https://identifiers.org/inchikey:SBPBAQFWLVIOKP-UHFFFAOYSA-N",
              "value": 0.3, "uom": "M1"}  # chlorpyrifos, mg/kg
    event = _event(bizStep="inspecting", sensorElementList=[{"sensorReport": [report]}])
    result = _one(event)
    assert not result.accepted and not result.rejected
    (entry,) = result.documents[0].not_used
    assert "chemicalSubstance https://identifiers.org/inchikey:SBPBAQFWLVIOKP" in entry["reason"]
    assert "is not in foodtrace's table" in entry["reason"]
    assert "uom M1 is not NA (mg/kg) or J33 (ug/kg)" in entry["reason"]


# --- error declarations (EPCIS 2.0 7.4.1.4) -------------------------------------------------


def _declaration(event: dict[str, Any], **declaration: Any) -> dict[str, Any]:
    declared = copy.deepcopy(event)
    declared["errorDeclaration"] = {"declarationTime": "2026-11-21T09:00:00+08:00",
                                    **declaration}
    return declared


def test_an_error_declaration_is_accepted_as_a_retraction_of_its_event() -> None:
    event = _event()
    declared = _declaration(event, reason="urn:epcglobal:cbv:er:incorrect_data",
                            correctiveEventIDs=["urn:uuid:c0ffee00-0000-4000-8000-000000000001"])
    result = check(EPCIS_TOPIC, epcis_document([event, declared]))
    assert not result.rejected and not result.documents[0].not_used
    shipping, retraction = result.accepted
    assert (shipping.kind, retraction.kind) == ("chain_event", "epcis_declaration")
    d = retraction.payload
    assert d["declared_message_id"] == str(shipping.message_id)  # the event it retracts
    assert retraction.message_id != shipping.message_id  # a key of its own
    assert retraction.message_id == uuid.uuid5(
        EVENT_NAMESPACE, f"{ACTOR}\n{event['eventID']}#errorDeclaration@2026-11-21T09:00:00+08:00")
    assert d["declared_event_id"] == event["eventID"]
    assert d["declaration_time"] == "2026-11-21T09:00:00+08:00"
    assert d["reason"] == "incorrect_data"
    assert d["corrective_event_ids"] == ["urn:uuid:c0ffee00-0000-4000-8000-000000000001"]
    assert d["corrective_message_ids"] == [str(uuid.uuid5(
        EVENT_NAMESPACE, f"{ACTOR}\nurn:uuid:c0ffee00-0000-4000-8000-000000000001"))]
    assert retraction.document_id == shipping.document_id


@pytest.mark.parametrize("reason", ["incorrect_data", "cbv:ER-incorrect_data",
                                    "https://ref.gs1.org/cbv/ER-incorrect_data"])
def test_the_declared_reason_is_read_as_its_cbv_word(reason: str) -> None:
    (acc,) = _one(_declaration(_event(), reason=reason)).accepted
    assert acc.payload["reason"] == "incorrect_data"


def test_a_declaration_without_reason_or_corrections_is_still_one() -> None:
    (acc,) = _one(_declaration(_event())).accepted
    assert acc.kind == "epcis_declaration"
    assert acc.payload["reason"] is None and acc.payload["corrective_event_ids"] == []


def test_a_declaration_of_an_event_without_event_id_names_it_by_its_hash() -> None:
    event = _event(eventID=None)
    (original,) = _one(event).accepted
    (acc,) = _one(_declaration(event)).accepted
    assert acc.payload["declared_message_id"] == str(original.message_id)


def test_a_declaration_without_a_declaration_time_is_rejected() -> None:
    declared = _declaration(_event())
    del declared["errorDeclaration"]["declarationTime"]
    result = _one(declared)
    assert not result.accepted
    assert ("epcis_incomplete", "/errorDeclaration/declarationTime") in {
        (c, p) for c, p, _ in _reasons(result, 0)}
