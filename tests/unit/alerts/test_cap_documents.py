"""CAP 1.2 documents: every kind we produce validates against the OASIS XSD
(schemas/xsd/CAP-v1.2.xsd), and carries what an emergency office needs."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

import pytest
import xmlschema

from foodtrace.alerts import cap

NS = {"cap": cap.CAP_NS}
SENT = datetime(2026, 11, 28, 1, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(cap.schema_path()))


def alert(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "alert_id": "7324e299-9ff2-4979-8879-309669371454",
        "version": 1,
        "status": "open",
        "severity": "warning",
        "classification": "information_for_attention",
        "risk_decision": "undecided",
        "raised_at": "2026-11-28T01:30:00+00:00",
        "lot_code": "FARM-ZQ-01-261128-00001",
        "product_code": "VEG-CHOYSUM",
        "product_name": "Choy sum",
        "category": "brassica_vegetables",
        "analyte": "organophosphates_carbamates",
        "value": 62.5,
        "unit": "%",
        "result": "positive",
        "limit": 50,
        "limit_unit": "%",
        "limit_verified": True,
        "rule": "GB/T 5009.199-2003: enzyme inhibition rate >= 50 % is positive",
        "reason": "enzyme inhibition 62.5 % >= 50 %",
        "test_kind": "rapid",
        "method": "GB/T 5009.199 enzyme inhibition",
        "lab_id": "station-gz-01",
        "sample_id": "S-1",
        "tested_at": "2026-11-28T01:00:00+00:00",
        "affected_lots": [{"lot_code": "FARM-ZQ-01-261128-00001"}, {"lot_code": "X-1"}],
        "affected_locations": [
            {"location_id": "market-gz-01", "city": "guangzhou", "lat": 23.13, "lon": 113.26},
            {"location_id": "shop-gz-02", "city": "guangzhou", "lat": 23.20, "lon": 113.30},
            {"location_id": "shop-gz-03", "city": "guangzhou", "lat": None, "lon": None},
            {"location_id": "farm-zq-01", "city": "zhaoqing", "lat": 23.05, "lon": 112.47},
        ],
        "affected_cities": ["guangzhou", "zhaoqing"],
        "source_lots": [{"lot_code": "FARM-ZQ-01-261128-00001"}],
        "source_locations": [{"location_id": "farm-zq-01"}],
    }
    base.update(kw)
    return base


def critical(**kw: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "version": 2,
        "severity": "critical",
        "classification": "alert",
        "risk_decision": "serious",
        "analyte": "omethoate",
        "value": 0.2,
        "unit": "mg/kg",
        "result": None,
        "limit": 0.02,
        "limit_unit": "mg/kg",
        "limit_verified": False,
        "test_kind": "confirmatory",
        "method": "GB 23200.121 LC-MS/MS",
        "reason": "omethoate 0.2 mg/kg > limit 0.02 mg/kg",
        "limit_source": {"citation": "GB 2763-2021, Appendix A: vegetables"},
    }
    return alert(**{**fields, **kw})


REF = cap.CapRef(
    "foodtrace@pearl-river-delta",
    "foodtrace-7324e299-9ff2-4979-8879-309669371454-v1-guangzhou",
    "2026-11-28T09:30:00+08:00",
)


def parsed(message: cap.CapMessage) -> ET.Element:
    return ET.fromstring(message.xml.encode())


def text(root: ET.Element, path: str) -> str | None:
    el = root.find(path, NS)
    return None if el is None else el.text


def test_alert_update_and_cancel_all_validate(schema) -> None:
    docs = [
        cap.build(alert(), city="guangzhou", msg_type="Alert", sent=SENT),
        cap.build(critical(), city="guangzhou", msg_type="Update", sent=SENT, references=[REF]),
        cap.build(
            critical(
                version=3, status="closed", resolution="cleared_by_confirmatory", closed_by="engine"
            ),
            city="guangzhou",
            msg_type="Cancel",
            sent=SENT,
            references=[REF, REF],
        ),
        cap.build(alert(affected_locations=[]), city="other", msg_type="Alert", sent=SENT),
    ]
    for doc in docs:
        schema.validate(doc.xml)  # raises on any violation of the OASIS schema
        cap.validate(doc.xml)


def test_validation_really_rejects_a_bad_document(schema) -> None:
    doc = cap.build(alert(), city="guangzhou", msg_type="Alert", sent=SENT)
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        schema.validate(doc.xml.replace("<urgency>Expected</urgency>", "<urgency>Soon</urgency>"))
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        schema.validate(doc.xml.replace(doc.sent, "2026-11-28T01:30:15.5Z"))


def test_header_fields() -> None:
    doc = cap.build(alert(), city="guangzhou", msg_type="Alert", sent=SENT)
    root = parsed(doc)
    assert root.tag == f"{{{cap.CAP_NS}}}alert"
    assert text(root, "cap:identifier") == doc.identifier
    assert doc.identifier == "foodtrace-7324e299-9ff2-4979-8879-309669371454-v1-guangzhou"
    assert text(root, "cap:sender") == "foodtrace@pearl-river-delta"
    # local time with its offset, whole seconds (CAP's dateTime pattern)
    assert text(root, "cap:sent") == "2026-11-28T09:30:15+08:00"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d", doc.sent)
    assert text(root, "cap:status") == "Actual"
    assert text(root, "cap:msgType") == "Alert"
    assert text(root, "cap:scope") == "Restricted"
    assert text(root, "cap:restriction")
    assert root.find("cap:references", NS) is None
    assert text(root, "cap:incidents") == "7324e299-9ff2-4979-8879-309669371454"


def test_warning_info() -> None:
    root = parsed(cap.build(alert(), city="guangzhou", msg_type="Alert", sent=SENT))
    info = root.find("cap:info", NS)
    assert [c.text for c in info.findall("cap:category", NS)] == ["Health", "Safety"]
    assert (text(info, "cap:urgency"), text(info, "cap:severity"), text(info, "cap:certainty")) == (
        "Expected",
        "Moderate",
        "Possible",
    )
    assert "Hold lot" in text(info, "cap:instruction")
    assert "62.5 %" in text(info, "cap:description")
    assert cap.NOT_VERIFIED not in text(info, "cap:description")
    params = {
        p.find("cap:valueName", NS).text: p.find("cap:value", NS).text
        for p in info.findall("cap:parameter", NS)
    }
    assert params["lot_code"] == "FARM-ZQ-01-261128-00001"
    assert params["affected_lots"] == "FARM-ZQ-01-261128-00001,X-1"
    assert params["limit_verified"] == "true"


def test_critical_update_references_and_unverified_limit() -> None:
    root = parsed(
        cap.build(critical(), city="guangzhou", msg_type="Update", sent=SENT, references=[REF])
    )
    assert text(root, "cap:msgType") == "Update"
    assert text(root, "cap:references") == (
        "foodtrace@pearl-river-delta,"
        "foodtrace-7324e299-9ff2-4979-8879-309669371454-v1-guangzhou,2026-11-28T09:30:00+08:00"
    )
    info = root.find("cap:info", NS)
    assert (text(info, "cap:urgency"), text(info, "cap:severity"), text(info, "cap:certainty")) == (
        "Immediate",
        "Severe",
        "Observed",
    )
    description = text(info, "cap:description")
    assert "0.2 mg/kg against limit 0.02 mg/kg" in description
    assert cap.NOT_VERIFIED in description
    assert "Withdraw" in text(info, "cap:instruction")


def test_cancel_after_clearing() -> None:
    root = parsed(
        cap.build(
            critical(status="closed", resolution="cleared_by_confirmatory"),
            city="guangzhou",
            msg_type="Cancel",
            sent=SENT,
            references=[REF],
        )
    )
    info = root.find("cap:info", NS)
    assert text(root, "cap:msgType") == "Cancel"
    assert text(info, "cap:responseType") == "AllClear"
    assert text(info, "cap:urgency") == "Past"
    assert "lifted" in text(info, "cap:instruction")


def test_update_and_cancel_need_references() -> None:
    with pytest.raises(ValueError, match="reference"):
        cap.build(critical(), city="guangzhou", msg_type="Update", sent=SENT)
    with pytest.raises(ValueError, match="reference"):
        cap.build(critical(), city="guangzhou", msg_type="Cancel", sent=SENT)


def test_area_per_city_circle_and_geocodes() -> None:
    root = parsed(cap.build(alert(), city="guangzhou", msg_type="Alert", sent=SENT))
    area = root.find("cap:info/cap:area", NS)
    assert text(area, "cap:areaDesc").startswith("guangzhou: 3 affected location(s)")
    centre, radius = text(area, "cap:circle").split(" ")
    lat, lon = map(float, centre.split(","))
    for point in ((23.13, 113.26), (23.20, 113.30)):  # both located places are inside
        assert cap.haversine_km(lat, lon, *point) <= float(radius)
    assert "112.47" not in text(area, "cap:circle")  # the zhaoqing farm is not
    codes = {
        g.find("cap:valueName", NS).text: g.find("cap:value", NS).text
        for g in area.findall("cap:geocode", NS)
    }
    assert codes == {"foodtrace:city": "guangzhou", "GB/T 2260": "440100"}


def test_circle_of_one_point_has_the_minimum_radius() -> None:
    assert cap.circle([(23.0, 113.0)]) == "23.00000,113.00000 1.0"
    far = cap.circle([(23.0, 113.0), (23.0, 113.2)])
    _centre, radius = far.split(" ")
    assert float(radius) >= cap.haversine_km(23.0, 113.1, 23.0, 113.2)


def test_sent_needs_a_timezone() -> None:
    with pytest.raises(ValueError):
        cap.cap_time(datetime(2026, 11, 28, 1, 30))
