"""The overdue escalation as CAP 1.2 (withdrawals/escalation.py, pure): valid
against the OASIS XSD, zh-CN then en-US, expires/web/contact from the settings,
the city's GB/T 2260 geocode and one circle per overdue place."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import xmlschema

from foodtrace.alerts import cap
from foodtrace.withdrawals import escalation

NS = {"cap": cap.CAP_NS}
SENT = datetime(2026, 11, 30, 2, 0, 5, tzinfo=UTC)
SETTINGS = cap.CapSettings(web="https://example.gov.cn/alerts/{alert_id}", expires_hours=12)
ALERT: dict[str, Any] = {
    "alert_id": "7324e299-9ff2-4979-8879-309669371454", "version": 2, "lot_code": "LOT-1",
    "severity": "critical", "test_kind": "confirmatory",
    "affected_locations": [
        {"location_id": "market-sz-01", "city": "shenzhen", "lat": 22.54, "lon": 114.06},
        {"location_id": "shop-sz-02", "city": "shenzhen", "lat": None, "lon": None},
        {"location_id": "shop-sz-03", "city": "shenzhen", "lat": 22.60, "lon": 114.10},
    ],
}
REF = cap.CapRef(cap.DEFAULT_SENDER, "foodtrace-7324e299-9ff2-4979-8879-309669371454-v1-shenzhen",
                 "2026-11-28T09:30:00+08:00")


def notice(location_id: str, actor: str) -> dict[str, Any]:
    return {"notice_id": f"n-{location_id}", "actor_id": actor, "location_id": location_id,
            "name": "罗湖农批市场", "phone": None, "state": "overdue",
            "deadline": "2026-11-29T01:30:00+00:00",
            "lots": [{"lot_code": "LOT-1", "quantity_held": 120, "unit": "kg"}]}


OVERDUE = [notice("market-sz-01", "actor-a"), notice("shop-sz-02", "actor-b")]


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(cap.schema_path()))


def build(**kw: Any) -> cap.CapMessage:
    args: dict[str, Any] = {"n": 1, "sent": SENT, "sender": cap.DEFAULT_SENDER,
                            "references": [REF], "settings": SETTINGS}
    return escalation.build(ALERT, "shenzhen", OVERDUE, **{**args, **kw})


def blocks(doc: cap.CapMessage) -> list[ET.Element]:
    return ET.fromstring(doc.xml.encode()).findall("cap:info", NS)


def text(el: ET.Element, path: str) -> str:
    found = el.find(path, NS)
    assert found is not None and found.text is not None, path
    return found.text


def test_escalation_validates_as_update_and_first_alert(schema) -> None:
    update, first = build(), build(references=[])
    schema.validate(update.xml)
    schema.validate(first.xml)
    assert (update.msg_type, first.msg_type) == ("Update", "Alert")
    assert update.identifier == "foodtrace-7324e299-9ff2-4979-8879-309669371454-overdue-shenzhen-1"


def test_zh_cn_first_with_chinese_text() -> None:
    zh, en = blocks(build())
    assert (text(zh, "cap:language"), text(en, "cap:language")) == ("zh-CN", "en-US")
    assert text(zh, "cap:headline") == "食品撤回逾期：深圳市 2 家企业未按期完成批次 LOT-1 的下架撤回"
    assert "期限 2026-11-29 09:30" in text(zh, "cap:description")  # Beijing time
    assert "现场核查" in text(zh, "cap:instruction")
    assert "overdue withdrawing lot LOT-1" in text(en, "cap:headline")


def test_expires_web_contact_and_area() -> None:
    for block in blocks(build()):
        assert text(block, "cap:expires") == "2026-11-30T22:00:05+08:00"  # sent + 12 h
        assert datetime.fromisoformat(text(block, "cap:expires")) - SENT == timedelta(hours=12)
        assert text(block, "cap:web").endswith("/alerts/7324e299-9ff2-4979-8879-309669371454")
        assert text(block, "cap:contact") == "12315"
        area = block.find("cap:area", NS)
        # one circle for the located overdue market; shop-sz-03 is not overdue: no circle
        assert [c.text for c in area.findall("cap:circle", NS)] == ["22.54000,114.06000 1.0"]
        codes = {g.find("cap:valueName", NS).text: g.find("cap:value", NS).text
                 for g in area.findall("cap:geocode", NS)}
        assert codes == {"foodtrace:city": "shenzhen", "GB/T 2260": "440300"}
    zh, en = blocks(build())
    assert "1 处无坐标" in text(zh, "cap:area/cap:areaDesc")  # the shop is flagged
    assert "1 place(s) without coordinates" in text(en, "cap:area/cap:areaDesc")


def test_gbt35965_escalations_do_not_collide_with_alert_versions(schema) -> None:
    settings = cap.CapSettings(identifier_scheme="gbt35965", agency_code="456")
    esc = [build(n=n, settings=settings) for n in (1, 2)]
    alerts = [cap.build({**_alert_doc(), "version": v}, city="shenzhen", msg_type="Alert",
                        sent=SENT, settings=settings) for v in (1, 2)]
    for doc in esc:
        schema.validate(doc.xml)
        assert re.fullmatch(r"44030045600000_20261130100005_\d", doc.identifier)
    assert [d.identifier[-1] for d in esc] == ["9", "8"]
    assert [d.identifier[-1] for d in alerts] == ["0", "1"]
    assert len({d.identifier for d in esc + alerts}) == 4  # same unit, same second: N differs


def _alert_doc() -> dict[str, Any]:
    return {**ALERT, "status": "open", "classification": "alert", "risk_decision": "serious",
            "product_code": "VEG-CHOYSUM", "analyte": "omethoate", "value": 0.2,
            "unit": "mg/kg", "limit": 0.02, "limit_unit": "mg/kg", "lab_id": "lab-1",
            "sample_id": "S-1", "affected_lots": [{"lot_code": "LOT-1"}],
            "affected_cities": ["shenzhen"]}
