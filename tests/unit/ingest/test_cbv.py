"""CBV 2.0 / GDST vocabulary and the FSMA 204 CTE of an EPCIS ObjectEvent
(ingest/cbv.py): every spelling of a CBV code that real documents use, the CTE table in
the module docstring row by row, and the ObjectEvents of the real test documents
(tests/data/epcis/), because a wrong CTE puts a lot in the wrong FDA spreadsheet sheet or
drops it from a trace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from foodtrace.ingest.cbv import (
    MAPPED_STEPS,
    SEAFOOD_ILMD,
    local_name,
    object_event_cte,
    seafood_evidence,
    term,
)

EPCIS_DATA = Path(__file__).resolve().parents[2] / "data" / "epcis"
SHARED_GS1 = Path(__file__).resolve().parents[3].parent / "shared" / "vectors" / "epcis-gs1"

# --- term ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "vocabulary", "expected"),
    [
        ("shipping", "bizstep", "shipping"),
        ("retail_selling", "bizstep", "retail_selling"),
        ("cbv:BizStep-shipping", "bizstep", "shipping"),
        ("gs1:BizStep-shipping", "bizstep", "shipping"),
        ("urn:epcglobal:cbv:bizstep:shipping", "bizstep", "shipping"),
        ("https://ref.gs1.org/cbv/BizStep-shipping", "bizstep", "shipping"),
        ("http://ref.gs1.org/cbv/BizStep-shipping", "bizstep", "shipping"),
        ("https://gs1.org/voc/BizStep-shipping", "bizstep", "shipping"),
        ("http://gs1.org/voc/BizStep-shipping", "bizstep", "shipping"),
        ("https://ref.gs1.org/cbv/BizStep-sensor_reporting", "bizstep", "sensor_reporting"),
        ("urn:gdst:bizStep:landing", "bizstep", "gdst:landing"),
        ("urn:gdst:bizStep:fishingEvent", "bizstep", "gdst:fishingEvent"),
        ("urn:gdst:bizstep:fishingEvent", "bizstep", "gdst:fishingEvent"),  # GDST docs do this
        ("URN:GDST:BIZSTEP:farmHarvest", "bizstep", "gdst:farmHarvest"),
        ("po", "btt", "po"),
        ("urn:epcglobal:cbv:btt:po", "btt", "po"),
        ("https://ref.gs1.org/cbv/BTT-desadv", "btt", "desadv"),
        ("gs1:BTT-inv", "btt", "inv"),
        ("cbv:BTT-bol", "btt", "bol"),
        ("owning_party", "sdt", "owning_party"),
        ("urn:epcglobal:cbv:sdt:possessing_party", "sdt", "possessing_party"),
        ("https://ref.gs1.org/cbv/SDT-location", "sdt", "location"),
        ("cbv:SDT-owning_party", "sdt", "owning_party"),
        ("in_transit", "disp", "in_transit"),
        ("urn:epcglobal:cbv:disp:in_transit", "disp", "in_transit"),
        ("https://ref.gs1.org/cbv/Disp-active", "disp", "active"),
        ("gs1:Disp-in_progress", "disp", "in_progress"),
        ("cbv:Disp-needs_replacement", "disp", "needs_replacement"),
    ],
)
def test_term(value: str, vocabulary: str, expected: str) -> None:
    assert term(value, vocabulary) == expected


@pytest.mark.parametrize(
    ("value", "vocabulary"),
    [
        ("https://example.com/steps/foo", "bizstep"),
        ("https://example.com/bizStep/inspecting", "bizstep"),  # openepcis custom bizStep
        ("ext1:summarising_discharge", "bizstep"),
        ("urn:example:bizstep:shipping", "bizstep"),
        ("cbv:my_own_party", "sdt"),
        ("urn:gdst:disposition:entering_commerce", "disp"),
        ("https://ref.gs1.org/cbv/BizStep-", "bizstep"),  # no word after the prefix
        ("urn:epcglobal:cbv:bizstep:", "bizstep"),
        ("urn:gdst:bizStep:", "bizstep"),
        # the wrong vocabulary: a disposition is no business step and vice versa
        ("cbv:Disp-in_transit", "bizstep"),
        ("urn:epcglobal:cbv:bizstep:shipping", "disp"),
        ("https://ref.gs1.org/cbv/BTT-po", "sdt"),
        ("urn:gdst:bizStep:landing", "disp"),
        # CBV prefixes are case-sensitive
        ("urn:epcglobal:cbv:BizStep:shipping", "bizstep"),
        ("https://ref.gs1.org/cbv/bizstep-shipping", "bizstep"),
    ],
)
def test_term_of_a_private_or_foreign_code_is_none(value: str, vocabulary: str) -> None:
    assert term(value, vocabulary) is None


@pytest.mark.parametrize("value", [None, 3, 2.5, True, ["shipping"], {"a": 1}, b"shipping", ""])
def test_term_of_a_non_string_is_none(value: object) -> None:
    assert term(value, "bizstep") is None


def test_term_of_every_code_in_the_real_documents() -> None:
    codes: set[tuple[str, str]] = set()
    for event in _events():
        for key, vocabulary in (("bizStep", "bizstep"), ("disposition", "disp")):
            if isinstance(event.get(key), str):
                codes.add((event[key], vocabulary))
        for entry in event.get("bizTransactionList") or []:
            if isinstance(entry, dict) and "type" in entry:
                codes.add((entry["type"], "btt"))
        for key in ("sourceList", "destinationList"):
            for entry in event.get(key) or []:
                codes.add((entry["type"], "sdt"))
    assert len(codes) > 30
    for value, vocabulary in codes:
        word = term(value, vocabulary)
        assert word is None or (word and "/" not in word), value
        if ":" not in value and "/" not in value:
            assert word == value


# --- local_name and seafood evidence -------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("cbvmda:lotNumber", "lotNumber"),
        ("lotNumber", "lotNumber"),
        ("gdst:vesselCatchInformationList", "vesselCatchInformationList"),
        ("urn:epcglobal:cbv:mda:vesselCatchInformationList", "vesselCatchInformationList"),
        ("https://ref.gs1.org/cbv/catchArea", "catchArea"),
        ("https://example.org/ns#x", "x"),
        ("https://example.org/ns/v1#fishingGearTypeCode", "fishingGearTypeCode"),
    ],
)
def test_local_name(key: str, expected: str) -> None:
    assert local_name(key) == expected


@pytest.mark.parametrize(
    ("event", "step", "words"),
    [
        ({}, "gdst:landing", "GDST business step landing"),
        ({}, "gdst:fishingEvent", "GDST business step fishingEvent"),
        ({"ilmd": {"cbvmda:vesselCatchInformationList": {"cbvmda:vesselCatchInformation": []}}},
         "receiving", "catch information in the ILMD (cbvmda:vesselCatchInformationList)"),
        ({"ilmd": {"gdst:vesselCatchInformationList": {}}}, "receiving",
         "(gdst:vesselCatchInformationList)"),
        ({"ilmd": {"cbvmda:fishingGearTypeCode": "urn:gdst:gear:1.2"}}, None,
         "(cbvmda:fishingGearTypeCode)"),
        ({"ilmd": {"urn:epcglobal:cbv:mda:catchArea": "FAO-77"}}, None, "catchArea"),
        ({"ilmd": {"https://example.org/fish#vesselName": "Bing"}}, None, "vesselName"),
        ({"ilmd": {"gdst:aquacultureMethod": "pond"}}, None, "(gdst:aquacultureMethod)"),
        ({"ilmd": {"cbvmda:productionMethodForFishAndSeafoodCode": "AQUACULTURE"}}, None,
         "productionMethodForFishAndSeafoodCode"),
        ({"quantityList": [{"epcClass":
                            "urn:gdst:example.org:product:lot:class:fisherman01.tuna.v1",
                            "quantity": 5}]}, "receiving", "GDST product identifiers"),
        ({"epcList": ["urn:gdst:example.org:product:class:fishfarm.1"]}, None,
         "GDST product identifiers"),
    ],
)
def test_seafood_evidence(event: dict[str, Any], step: str | None, words: str) -> None:
    evidence = seafood_evidence(event, step)
    assert evidence is not None and words in evidence


@pytest.mark.parametrize(
    ("event", "step"),
    [
        # a plain vegetable event: LGTIN lot, ILMD with a lot number and origin
        ({"action": "ADD", "bizStep": "receiving",
          "quantityList": [{"epcClass": "urn:epc:class:lgtin:4012345.012345.998877",
                            "quantity": 20, "uom": "KGM"}],
          "ilmd": {"cbvmda:lotNumber": "998877", "cbvmda:countryOfOrigin": "CN"}},
         "receiving"),
        ({"epcList": ["urn:epc:id:sgtin:0614141.107346.2017"]}, "shipping"),
        ({}, None),
        ({"ilmd": ["cbvmda:vesselName"]}, None),  # no mapping: not read
        ({"quantityList": [None, 3, {"quantity": 1}], "epcList": None}, None),
        ({"quantityList": [{"epcClass": "https://id.gs1.org/01/04012345123456/10/1"}]},
         "receiving"),
    ],
)
def test_no_seafood_evidence(event: dict[str, Any], step: str | None) -> None:
    assert seafood_evidence(event, step) is None


def test_seafood_ilmd_keys_are_local_names() -> None:
    assert all(":" not in k and "/" not in k and "#" not in k for k in SEAFOOD_ILMD)


# --- object_event_cte: the docstring table, row by row -------------------------------------

VESSEL_ILMD = {"cbvmda:vesselCatchInformationList": {"cbvmda:vesselCatchInformation": [
    {"cbvmda:vesselName": "Bing", "cbvmda:catchArea": "FAO-77"}]}}
VEG_LOT = [{"epcClass": "urn:epc:class:lgtin:4012345.012345.998877", "quantity": 20}]
GDST_LOT = [{"epcClass": "urn:gdst:example.org:product:lot:class:fisherman01.tuna.v1",
             "quantity": 5000}]


@pytest.mark.parametrize(
    ("event", "step", "cte"),
    [
        ({"action": "ADD"}, "commissioning", "harvesting"),
        ({"action": "OBSERVE"}, "commissioning", "harvesting"),
        ({"action": "OBSERVE"}, "storing", "cooling"),
        ({"action": "ADD"}, "storing", "cooling"),
        ({"action": "OBSERVE"}, "shipping", "shipping"),
        ({"action": "OBSERVE", "sensorElementList": [{"sensorReport": []}]}, "shipping",
         "shipping"),
        ({"action": "OBSERVE"}, "retail_selling", "sale"),
        ({"action": "ADD", "ilmd": VESSEL_ILMD}, "gdst:fishingEvent", "harvesting"),
        ({"action": "ADD"}, "gdst:farmHarvest", "harvesting"),  # aquaculture, as an ObjectEvent
        ({"action": "ADD", "quantityList": VEG_LOT}, "packing", "initial_packing"),
        ({"action": "OBSERVE", "quantityList": VEG_LOT}, "receiving", "receiving"),
        ({"action": "OBSERVE", "quantityList": GDST_LOT}, "receiving", "receiving"),
    ],
)
def test_unambiguous_ctes(event: dict[str, Any], step: str, cte: str) -> None:
    assert object_event_cte(event, step) == (cte, None)


@pytest.mark.parametrize(
    ("event", "evidence"),
    [
        ({"action": "ADD", "quantityList": VEG_LOT, "ilmd": VESSEL_ILMD},
         "catch information in the ILMD (cbvmda:vesselCatchInformationList)"),
        ({"action": "ADD", "quantityList": GDST_LOT}, "GDST product identifiers"),
    ],
)
def test_add_receiving_of_seafood_is_first_land_based_receiving(event: dict[str, Any],
                                                                evidence: str) -> None:
    assert object_event_cte(event, "receiving") == (
        "first_receiving", f"ADD receiving of seafood ({evidence})")


def test_add_receiving_of_other_food_is_receiving() -> None:
    event = {"action": "ADD", "quantityList": VEG_LOT,
             "ilmd": {"cbvmda:lotNumber": "998877", "cbvmda:countryOfOrigin": "CN"}}
    cte, note = object_event_cte(event, "receiving")
    assert cte == "receiving"
    assert note is not None and "without seafood evidence" in note and "1.1335" in note


def test_lots_landed_in_document_decides_only_landing() -> None:
    add_veg = {"action": "ADD", "quantityList": VEG_LOT}
    assert object_event_cte(add_veg, "receiving", lots_landed_in_document=True)[0] == "receiving"
    assert object_event_cte({"action": "OBSERVE"}, "shipping", True) == ("shipping", None)


@pytest.mark.parametrize("action", ["ADD", "OBSERVE", None])
def test_gdst_landing(action: str | None) -> None:
    event = {"action": action, "quantityList": GDST_LOT}
    assert object_event_cte(event, "gdst:landing") == ("first_receiving", None)
    assert object_event_cte(event, "gdst:landing", lots_landed_in_document=False) == (
        "first_receiving", None)
    cte, note = object_event_cte(event, "gdst:landing", lots_landed_in_document=True)
    assert cte == "receiving"
    assert note == "landing of a catch this document already names: receiving"


def test_observe_packing_is_no_cte() -> None:
    cte, note = object_event_cte({"action": "OBSERVE", "quantityList": VEG_LOT}, "packing")
    assert cte is None
    assert note is not None and "OBSERVE" in note and "action ADD" in note


@pytest.mark.parametrize("action", [None, "DELETE_ALL", "add"])
def test_packing_needs_action_add(action: str | None) -> None:
    assert object_event_cte({"action": action}, "packing")[0] is None


@pytest.mark.parametrize("action", [None, "", "observe", "UPDATE"])
def test_receiving_needs_add_or_observe(action: str | None) -> None:
    assert object_event_cte({"action": action, "ilmd": VESSEL_ILMD}, "receiving") == (
        None, "a receiving ObjectEvent needs action ADD or OBSERVE")


@pytest.mark.parametrize("step", [*MAPPED_STEPS, "inspecting", None, "gdst:transshipment"])
def test_delete_is_never_a_cte(step: str | None) -> None:
    event = {"action": "DELETE", "quantityList": GDST_LOT, "ilmd": VESSEL_ILMD}
    for landed in (False, True):
        cte, note = object_event_cte(event, step, lots_landed_in_document=landed)
        assert cte is None
        assert note == "action DELETE (the objects cease to exist) is no FSMA 204 CTE"


@pytest.mark.parametrize(
    ("step", "name"),
    [
        ("inspecting", "inspecting"),
        ("holding", "holding"),
        ("unpacking", "unpacking"),
        ("other", "other"),
        ("sensor_reporting", "sensor_reporting"),
        ("gdst:transshipment", "transshipment"),
        ("gdst:hatching", "hatching"),
        ("gdst:commingling", "commingling"),
    ],
)
def test_unknown_step_is_no_cte_with_a_sentence_naming_it(step: str, name: str) -> None:
    for action in ("ADD", "OBSERVE"):
        assert object_event_cte({"action": action}, step) == (
            None, f"bizStep {name} is no FSMA 204 Critical Tracking Event")


def test_missing_bizstep_is_no_cte() -> None:
    assert object_event_cte({"action": "ADD", "quantityList": VEG_LOT}, None) == (
        None, "an ObjectEvent without a CBV or GDST bizStep is no FSMA 204 Critical Tracking "
              "Event")


@pytest.mark.parametrize(
    ("step", "what"),
    [("sensor_reporting", "bizStep sensor_reporting"), ("inspecting", "bizStep inspecting"),
     (None, "an ObjectEvent without a CBV or GDST bizStep")],
)
def test_sensor_report_is_no_cte(step: str | None, what: str) -> None:
    event = {"action": "OBSERVE", "sensorElementList": [
        {"sensorMetadata": {"time": "2019-04-02T14:05:00.000+01:00"},
         "sensorReport": [{"type": "Temperature", "value": 26.0, "uom": "CEL"}]}]}
    assert object_event_cte(event, step) == (
        None, f"{what} (a sensor report) is no FSMA 204 Critical Tracking Event")
    assert object_event_cte({**event, "sensorElementList": []}, step) == (
        None, f"{what} is no FSMA 204 Critical Tracking Event")


@pytest.mark.parametrize("step", MAPPED_STEPS)
def test_every_mapped_step_is_a_cte_for_add(step: str) -> None:
    assert object_event_cte({"action": "ADD"}, step)[0] is not None


def test_the_note_is_a_sentence_whenever_there_is_no_cte() -> None:
    steps = [*MAPPED_STEPS, "inspecting", "gdst:hatching", None]
    for step in steps:
        for action in ("ADD", "OBSERVE", "DELETE", None):
            cte, note = object_event_cte({"action": action}, step)
            if cte is None:
                assert isinstance(note, str) and len(note.split()) >= 5


# --- the ObjectEvents of the real documents ------------------------------------------------


def _walk_events(node: Any, out: list[dict[str, Any]]) -> None:
    if isinstance(node, dict):
        if isinstance(node.get("type"), str) and node["type"].endswith("Event"):
            out.append(node)
        for v in node.values():
            _walk_events(v, out)
    elif isinstance(node, list):
        for x in node:
            _walk_events(x, out)


def _events(name: str | None = None) -> list[dict[str, Any]]:
    if name is not None and name.startswith("gs1/"):  # GS1's examples live in ../shared
        paths = [SHARED_GS1 / name.removeprefix("gs1/")]
    else:
        paths = [EPCIS_DATA / name] if name else sorted(EPCIS_DATA.rglob("*.json*"))
    out: list[dict[str, Any]] = []
    for path in paths:
        _walk_events(json.loads(path.read_text(encoding="utf-8-sig")), out)
    return out


@pytest.mark.parametrize(
    ("document", "biz_step", "action", "cte", "note_words"),
    [
        ("gs1/Example_9.6.1-ObjectEvent.jsonld", "shipping", "OBSERVE", "shipping", None),
        ("gs1/Example_9.6.1-ObjectEvent.jsonld", "receiving", "OBSERVE", "receiving", None),
        ("openepcis/ObjectEvent_with_userExtensions.json", "commissioning", "ADD",
         "harvesting", None),
        ("openepcis/ObjectEvent_with_digitalLink.json", "receiving", "OBSERVE", "receiving",
         None),
        ("openepcis/CurieString_document.json", "receiving", "OBSERVE", "receiving", None),
        ("openepcis/ObjectEvent_with_custom_bizStep_uri.json",
         "https://example.com/bizStep/inspecting", "ADD", None, "without a CBV or GDST bizStep"),
        ("openepcis/SensorData_with_combined_events.json",
         "https://ref.gs1.org/cbv/BizStep-sensor_reporting", "OBSERVE", None,
         "bizStep sensor_reporting (a sensor report)"),
        ("opentraceability/EPCISDocument_objectevents_complete.jsonld", "receiving", "ADD",
         "receiving", "without seafood evidence"),
        ("opentraceability/cap_tool_events.jsonld", "urn:gdst:bizStep:fishingEvent", "ADD",
         "harvesting", None),
        ("opentraceability/cap_tool_events.jsonld", "urn:gdst:bizStep:landing", "OBSERVE",
         "first_receiving", None),
        ("opentraceability/cap_tool_events.jsonld", "urn:gdst:bizStep:transshipment",
         "OBSERVE", None, "bizStep transshipment"),
        ("opentraceability/cap_tool_events.jsonld", "urn:gdst:bizStep:hatching", "ADD", None,
         "bizStep hatching"),
        ("opentraceability/cap_tool_events.jsonld", "shipping", "OBSERVE", "shipping", None),
        ("opentraceability/epcisdocument-example01.jsonld", "storing", "OBSERVE", "cooling",
         None),
        ("opentraceability/EPCISQUERYDOCUMENT_advanced_10.jsonld",
         "urn:gdst:bizStep:landing", "OBSERVE", "first_receiving", None),
    ],
)
def test_real_object_events(document: str, biz_step: str, action: str, cte: str | None,
                            note_words: str | None) -> None:
    events = [e for e in _events(document) if e["type"] == "ObjectEvent"
              and e.get("bizStep") == biz_step and e.get("action") == action]
    assert events, (document, biz_step)
    for event in events:
        got, note = object_event_cte(event, term(event.get("bizStep"), "bizstep"))
        assert got == cte
        if note_words is None:
            assert note is None
        else:
            assert note is not None and note_words in note


def test_real_gdst_events_carry_seafood_evidence() -> None:
    gdst = [e for e in _events("opentraceability/cap_tool_events.jsonld")
            if e["type"] == "ObjectEvent"]
    assert gdst
    for event in gdst:
        step = term(event.get("bizStep"), "bizstep")
        if step is not None and step.startswith("gdst:"):
            assert seafood_evidence(event, step) == f"GDST business step {step[5:]}"
    fishing = next(e for e in gdst if e.get("bizStep") == "urn:gdst:bizStep:fishingEvent")
    evidence = seafood_evidence(fishing, "receiving")  # as if the step were CBV receiving
    assert evidence is not None and "ILMD" in evidence


def test_every_real_object_event_classifies_without_error() -> None:
    objects = [e for e in _events() if e["type"] == "ObjectEvent"]
    assert len(objects) > 50
    for event in objects:
        step = term(event.get("bizStep"), "bizstep")
        for landed in (False, True):
            cte, note = object_event_cte(event, step, lots_landed_in_document=landed)
            assert cte in {None, "harvesting", "cooling", "initial_packing", "first_receiving",
                           "receiving", "shipping", "sale"}
            assert cte is not None or isinstance(note, str)
