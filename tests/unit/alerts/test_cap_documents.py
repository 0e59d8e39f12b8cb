"""CAP 1.2 documents: every kind we produce validates against the OASIS XSD
(schemas/xsd/CAP-v1.2.xsd), and carries what an emergency office needs."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import xmlschema

from foodtrace import reference
from foodtrace.alerts import cap

NS = {"cap": cap.CAP_NS}
SENT = datetime(2026, 11, 28, 1, 30, 15, 123456, tzinfo=UTC)
SETTINGS = cap.CapSettings(web="https://foodtrace.example.gov.cn/alerts/{alert_id}")


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


def info(root: ET.Element, language: str = "en-US") -> ET.Element:
    [block] = [i for i in root.findall("cap:info", NS) if text(i, "cap:language") == language]
    return block


def test_alert_update_and_cancel_all_validate(schema) -> None:
    docs = [
        cap.build(alert(), city="guangzhou", msg_type="Alert", sent=SENT, settings=SETTINGS),
        cap.build(critical(), city="guangzhou", msg_type="Update", sent=SENT, references=[REF], settings=SETTINGS),
        cap.build(
            critical(
                version=3, status="closed", resolution="cleared_by_confirmatory", closed_by="engine"
            ),
            city="guangzhou",
            msg_type="Cancel",
            sent=SENT,
            references=[REF, REF],
            settings=SETTINGS,
        ),
        cap.build(alert(affected_locations=[]), city="other", msg_type="Alert", sent=SENT, settings=SETTINGS),
    ]
    for doc in docs:
        schema.validate(doc.xml)  # raises on any violation of the OASIS schema
        cap.validate(doc.xml)


def test_validation_really_rejects_a_bad_document(schema) -> None:
    doc = cap.build(alert(), city="guangzhou", msg_type="Alert", sent=SENT, settings=SETTINGS)
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        schema.validate(doc.xml.replace("<urgency>Expected</urgency>", "<urgency>Soon</urgency>"))
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        schema.validate(doc.xml.replace(doc.sent, "2026-11-28T01:30:15.5Z"))


def test_header_fields() -> None:
    doc = cap.build(alert(), city="guangzhou", msg_type="Alert", sent=SENT, settings=SETTINGS)
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
    root = parsed(cap.build(alert(), city="guangzhou", msg_type="Alert", sent=SENT, settings=SETTINGS))
    block = info(root)
    assert [c.text for c in block.findall("cap:category", NS)] == ["Health", "Safety"]
    assert (text(block, "cap:urgency"), text(block, "cap:severity"), text(block, "cap:certainty")) == (
        "Expected",
        "Moderate",
        "Possible",
    )
    assert "Hold lot" in text(block, "cap:instruction")
    assert "62.5 %" in text(block, "cap:description")
    assert cap.NOT_VERIFIED not in text(block, "cap:description")
    params = {
        p.find("cap:valueName", NS).text: p.find("cap:value", NS).text
        for p in block.findall("cap:parameter", NS)
    }
    assert params["lot_code"] == "FARM-ZQ-01-261128-00001"
    assert params["affected_lots"] == "FARM-ZQ-01-261128-00001,X-1"
    assert params["limit_verified"] == "true"


def test_critical_update_references_and_unverified_limit() -> None:
    root = parsed(
        cap.build(critical(), city="guangzhou", msg_type="Update", sent=SENT, references=[REF], settings=SETTINGS)
    )
    assert text(root, "cap:msgType") == "Update"
    assert text(root, "cap:references") == (
        "foodtrace@pearl-river-delta,"
        "foodtrace-7324e299-9ff2-4979-8879-309669371454-v1-guangzhou,2026-11-28T09:30:00+08:00"
    )
    block = info(root)
    assert (text(block, "cap:urgency"), text(block, "cap:severity"), text(block, "cap:certainty")) == (
        "Immediate",
        "Severe",
        "Observed",
    )
    description = text(block, "cap:description")
    assert "0.2 mg/kg against limit 0.02 mg/kg" in description
    assert cap.NOT_VERIFIED in description
    assert "Withdraw" in text(block, "cap:instruction")


def test_cancel_after_clearing() -> None:
    root = parsed(
        cap.build(
            critical(status="closed", resolution="cleared_by_confirmatory"),
            city="guangzhou",
            msg_type="Cancel",
            sent=SENT,
            references=[REF],
            settings=SETTINGS,
        )
    )
    block = info(root)
    assert text(root, "cap:msgType") == "Cancel"
    assert text(block, "cap:responseType") == "AllClear"
    assert text(block, "cap:urgency") == "Past"
    assert "lifted" in text(block, "cap:instruction")


def test_update_and_cancel_need_references() -> None:
    with pytest.raises(ValueError, match="reference"):
        cap.build(critical(), city="guangzhou", msg_type="Update", sent=SENT, settings=SETTINGS)
    with pytest.raises(ValueError, match="reference"):
        cap.build(critical(), city="guangzhou", msg_type="Cancel", sent=SENT, settings=SETTINGS)


def geocodes(area: ET.Element) -> dict[str, str]:
    return {
        g.find("cap:valueName", NS).text: g.find("cap:value", NS).text
        for g in area.findall("cap:geocode", NS)
    }


def test_area_per_city_one_circle_per_place_and_geocodes() -> None:
    root = parsed(cap.build(alert(), city="guangzhou", msg_type="Alert", sent=SENT,
                            settings=SETTINGS))
    for language in ("zh-CN", "en-US"):  # both blocks carry the same area
        area = info(root, language).find("cap:area", NS)
        circles = [c.text for c in area.findall("cap:circle", NS)]
        # the two located Guangzhou places, each its own circle; the Zhaoqing farm is not here
        assert circles == ["23.13000,113.26000 1.0", "23.20000,113.30000 1.0"]
        for circle in circles:
            assert re.fullmatch(r"-?\d+\.\d+,-?\d+\.\d+ \d+\.\d+", circle)  # CAP 1.2 3.3.2
        assert geocodes(area) == {"foodtrace:city": "guangzhou", "GB/T 2260": "440100"}
    # the place without coordinates is flagged, not dropped
    assert text(info(root), "cap:area/cap:areaDesc") == (
        "Guangzhou: 3 affected location(s) of lot FARM-ZQ-01-261128-00001; "
        "1 without coordinates (covered by the city geocode)")
    assert "1 个地点无坐标" in text(info(root, "zh-CN"), "cap:area/cap:areaDesc")


@pytest.mark.parametrize("city", sorted(cap.GB2260))
def test_every_city_gets_its_gb2260_code(city: str) -> None:
    located = [{"location_id": f"shop-{city}", "city": city, "lat": 22.5, "lon": 113.5}]
    doc = cap.build(alert(affected_locations=located, affected_cities=[city]), city=city,
                    msg_type="Alert", sent=SENT, settings=SETTINGS)
    root = parsed(doc)
    expected = {"guangzhou": "440100", "shenzhen": "440300", "zhuhai": "440400",
                "foshan": "440600", "jiangmen": "440700", "zhaoqing": "441200",
                "huizhou": "441300", "dongguan": "441900", "zhongshan": "442000"}
    for block in root.findall("cap:info", NS):
        assert geocodes(block.find("cap:area", NS))["GB/T 2260"] == expected[city]
    assert reference.CITY_FACTS[city].name_zh in text(info(root, "zh-CN"), "cap:headline")


def test_a_place_outside_the_nine_cities_has_no_gb2260_geocode() -> None:
    root = parsed(cap.build(alert(affected_locations=[]), city="other", msg_type="Alert",
                            sent=SENT, settings=SETTINGS))
    assert geocodes(info(root).find("cap:area", NS)) == {"foodtrace:city": "other"}
    assert info(root).find("cap:area/cap:circle", NS) is None


def test_zh_cn_block_first_then_en_us() -> None:
    root = parsed(cap.build(alert(), city="guangzhou", msg_type="Alert", sent=SENT,
                            settings=SETTINGS))
    assert [text(i, "cap:language") for i in root.findall("cap:info", NS)] == ["zh-CN", "en-US"]
    zh = info(root, "zh-CN")
    assert text(zh, "cap:event") == "食品安全预警：农药残留快检阳性（有机磷和氨基甲酸酯类农药）"
    assert text(zh, "cap:headline").startswith("食品安全预警：广州市批次 FARM-ZQ-01-261128-00001")
    assert "暂停销售" in text(zh, "cap:headline")
    description = text(zh, "cap:description")
    assert "检测结果 62.5 %" in description and "快速检测" in description
    assert "检测时间 2026-11-28 09:00（北京时间）" in description  # 01:00 UTC in Beijing time
    assert "类别 芸薹类蔬菜" in description  # the category by its Chinese name
    assert "暂停销售和使用批次 FARM-ZQ-01-261128-00001、X-1" in text(zh, "cap:instruction")
    # the same grading and parameters in both languages
    en = info(root, "en-US")
    for tag in ("cap:urgency", "cap:severity", "cap:certainty", "cap:expires", "cap:web",
                "cap:contact"):
        assert text(zh, tag) == text(en, tag), tag
    assert len(zh.findall("cap:parameter", NS)) == len(en.findall("cap:parameter", NS)) > 10


def test_zh_cn_critical_update_and_cancel() -> None:
    update = parsed(cap.build(critical(), city="foshan", msg_type="Update", sent=SENT,
                              references=[REF], settings=SETTINGS))
    zh = info(update, "zh-CN")
    assert "佛山市" in text(zh, "cap:headline") and "氧乐果超标（0.2 mg/kg）" in text(zh, "cap:headline")
    assert "立即下架召回" in text(zh, "cap:headline")
    assert "限量值尚未与标准原文核对" in text(zh, "cap:description")
    assert "召回" in text(zh, "cap:instruction")
    cancel = parsed(cap.build(critical(status="closed", resolution="cleared_by_confirmatory",
                                       closed_by="engine"),
                              city="foshan", msg_type="Cancel", sent=SENT, references=[REF],
                              settings=SETTINGS))
    assert text(info(cancel, "zh-CN"), "cap:headline").startswith("解除：佛山市批次")
    assert "确证检测未超标，解除" in text(info(cancel, "zh-CN"), "cap:description")


def test_zh_cn_says_what_late_data_changed() -> None:
    changes = {"added": {"affected_cities": ["zhuhai"], "affected_locations": ["shop-zh-02"]},
               "caused_by": [{"kind": "event", "id": "m-1"}]}
    root = parsed(cap.build(alert(version=2, changes=changes), city="guangzhou",
                            msg_type="Update", sent=SENT, references=[REF], settings=SETTINGS))
    zh = text(info(root, "zh-CN"), "cap:description")
    assert "迟到数据引起的变更（第 2 版）：新增受影响城市：珠海市；新增受影响地点：shop-zh-02" in zh
    assert "Changed by late data (version 2)" in text(info(root), "cap:description")


def test_expires_web_and_contact_from_the_settings() -> None:
    settings = cap.CapSettings(expires_hours=24, contact="020-12345678 广州市市场监管局值班室",
                               web="https://example.gov.cn/foodtrace/{alert_id}")
    root = parsed(cap.build(alert(), city="guangzhou", msg_type="Alert", sent=SENT,
                            settings=settings))
    sent = datetime.fromisoformat(text(root, "cap:sent"))
    for block in root.findall("cap:info", NS):
        expires = datetime.fromisoformat(text(block, "cap:expires"))
        assert expires - sent == timedelta(hours=24)
        assert text(block, "cap:expires") == "2026-11-29T09:30:15+08:00"
        assert text(block, "cap:web") == (
            "https://example.gov.cn/foodtrace/7324e299-9ff2-4979-8879-309669371454")
        assert text(block, "cap:contact") == "020-12345678 广州市市场监管局值班室"
    default = parsed(cap.build(alert(), city="guangzhou", msg_type="Alert", sent=SENT,
                               settings=cap.CapSettings()))
    expires = datetime.fromisoformat(text(info(default), "cap:expires"))
    assert expires - sent == timedelta(hours=72)  # the documented default
    assert info(default).find("cap:web", NS) is None  # no link unless a deployment sets one
    assert text(info(default), "cap:contact") == "12315"


def xsd_order(schema: xmlschema.XMLSchema, *path: str) -> list[str]:
    """The child element names the XSD's <sequence> lists, in its order."""
    element = schema.elements["alert"]
    for name in path:
        element = next(c for c in element.type.content.iter_elements() if c.local_name == name)
    return [c.local_name for c in element.type.content.iter_elements()]


def in_document_order(parent: ET.Element) -> list[str]:
    names = [child.tag.split("}")[1] for child in parent]
    return [n for i, n in enumerate(names) if i == 0 or names[i - 1] != n]  # repeats once


def test_elements_come_in_the_order_the_xsd_demands(schema) -> None:
    root = parsed(cap.build(critical(), city="guangzhou", msg_type="Update", sent=SENT,
                            references=[REF], settings=SETTINGS))
    header, info_order = xsd_order(schema), xsd_order(schema, "info")
    area_order = xsd_order(schema, "info", "area")
    assert "expires" in info_order and info_order.index("web") < info_order.index("contact")

    def check(parent: ET.Element, order: list[str]) -> list[str]:
        seen = in_document_order(parent)
        assert seen == [n for n in order if n in seen], seen
        return seen

    assert "references" in check(root, header)
    for block in root.findall("cap:info", NS):
        seen = check(block, info_order)
        assert {"expires", "web", "contact", "area"} <= set(seen)
        assert {"circle", "geocode"} <= set(check(block.find("cap:area", NS), area_order))


def test_validation_rejects_elements_out_of_order(schema) -> None:
    xml = cap.build(alert(), city="guangzhou", msg_type="Alert", sent=SENT,
                    settings=SETTINGS).xml
    contact = re.search(r"<contact>[^<]*</contact>", xml).group(0)
    swapped = xml.replace(contact, "").replace("<web>", contact + "<web>")  # contact before web
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        schema.validate(swapped)


def test_gbt35965_identifier_scheme(schema) -> None:
    settings = cap.CapSettings(identifier_scheme="gbt35965", agency_code="123",
                               sender="440100123000000")
    docs = [cap.build(alert(version=v), city=city, msg_type="Alert", sent=SENT,
                      settings=settings)
            for city in ("guangzhou", "dongguan") for v in (1, 2)]
    for doc in docs:
        schema.validate(doc.xml)
        assert len(doc.identifier) == 31
        assert re.fullmatch(r"\d{14}_\d{14}_\d", doc.identifier)
        assert text(parsed(doc), "cap:identifier") == doc.identifier
        assert text(parsed(doc), "cap:sender") == "440100123000000"
    assert [d.identifier for d in docs] == [
        "44010012300000_20261128093015_0", "44010012300000_20261128093015_1",
        "44190012300000_20261128093015_0", "44190012300000_20261128093015_1",
    ]  # the city's GB/T 2260 code, agency, unit 000, extension 00; Beijing time; N


def test_foodtrace_scheme_is_the_default() -> None:
    assert cap.CapSettings().identifier_scheme == "foodtrace"
    doc = cap.build(alert(), city="zhuhai", msg_type="Alert", sent=SENT, settings=SETTINGS)
    assert doc.identifier == "foodtrace-7324e299-9ff2-4979-8879-309669371454-v1-zhuhai"


def test_city_facts_cover_the_nine_cities() -> None:
    assert tuple(reference.CITY_FACTS) == reference.CITIES
    assert len({f.gb2260 for f in reference.CITY_FACTS.values()}) == 9
    assert all(f.gb2260.startswith("44") and f.gb2260.endswith("00")
               for f in reference.CITY_FACTS.values())  # Guangdong, prefecture level
    assert set(reference.ANALYTE_NAMES_ZH) == set(reference.ANALYTES)


def test_sent_needs_a_timezone() -> None:
    with pytest.raises(ValueError):
        cap.cap_time(datetime(2026, 11, 28, 1, 30))
