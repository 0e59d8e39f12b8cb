"""EPCIS sensor reports -> lab results (ingest/epcis_sensor.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from foodtrace.ingest import edge

DATA = Path(__file__).resolve().parents[2] / "data" / "epcis"
NOW = "2026-12-01T10:00:00+08:00"


def _doc(event: dict[str, Any]) -> bytes:
    return json.dumps({"@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
                       "type": "EPCISDocument", "schemaVersion": "2.0",
                       "creationDate": NOW, "epcisBody": {"eventList": [event]}}).encode()


def _event(report: dict[str, Any]) -> dict[str, Any]:
    return {"type": "ObjectEvent", "eventID": "urn:uuid:7d3c1c8e-2b7a-4c55-9f7e-0d3c2f1e4a10",
            "eventTime": "2026-11-30T09:00:00+08:00", "eventTimeZoneOffset": "+08:00",
            "action": "OBSERVE", "bizStep": "inspecting",
            "bizLocation": {"id": "urn:epc:id:sgln:4012345.00001.0"},
            "quantityList": [{"epcClass": "urn:epc:class:lgtin:4012345.012345.LOT7",
                              "quantity": 10, "uom": "KGM"}],
            "sensorElementList": [{"sensorMetadata": {
                "dataProcessingMethod": "https://example.org/method/GB23200.121"},
                "sensorReport": [report]}]}


def test_an_omethoate_concentration_in_mg_per_kg_is_a_confirmatory_lab_result() -> None:
    report = {"type": "gs1:MT-Concentration", "chemicalSubstance": "https://identifiers.org/cas:1113-02-6",
              "value": 0.5, "uom": "NA"}
    result = edge.check_message("foodtrace/v1/epcis/lab-gz-01", _doc(_event(report)))
    (lab,) = [a for a in result.accepted if a.kind == "lab_result"]
    assert lab.payload["analyte"] == "omethoate"
    assert lab.payload["test_kind"] == "confirmatory"
    assert (lab.payload["value"], lab.payload["unit"]) == (0.5, "mg/kg")
    assert lab.payload["lab_id"] == "lab-gz-01"
    assert lab.payload["lot_code"].endswith("(10)LOT7")
    again = edge.check_message("foodtrace/v1/epcis/lab-gz-01", _doc(_event(report)))
    assert [a.message_id for a in again.accepted] == [lab.message_id]  # idempotent


def test_a_molar_concentration_or_a_microorganism_is_no_lab_result_and_says_why() -> None:
    path = DATA / "openepcis" / "SensorData_with_combined_events.json"
    result = edge.check_message("foodtrace/v1/epcis/actor-1", path.read_bytes())
    assert not [a for a in result.accepted if a.kind == "lab_result"]
    reasons = " ".join(e["reason"] for d in result.documents for e in d.not_used)
    assert "microorganism https://www.ncbi.nlm.nih.gov/taxonomy/1126011 has no foodtrace analyte" in reasons
    assert "uom C35 is not NA (mg/kg) or J33 (ug/kg)" in reasons
