"""The page, rendered from pure data: every sender-supplied string is escaped (in
HTML and in the SVG), nothing is fetched from anywhere, missing data is flagged,
and Chinese comes first with English beside it."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from html.parser import HTMLParser

from foodtrace.report.collect import CapMessage, ReportData
from foodtrace.report.labels import local_time
from foodtrace.report.render import render, view
from foodtrace.trace.api import Trace, TracedLot, TraceFinding

EVIL = '<img src=x onerror="alert(1)">&"\''
ALERT_ID = "0b0e6c7e-1111-4222-8333-944445555666"


def alert(**kw) -> dict:
    base = {
        "alert_id": ALERT_ID, "version": 2, "status": "open", "severity": "critical",
        "lot_code": "LOT-" + EVIL, "product_code": "VEG-1", "product_name": EVIL,
        "category": "leafy_vegetables", "analyte": "chlorpyrifos", "value": 0.35,
        "unit": "mg/kg", "limit": 0.1, "limit_unit": "mg/kg", "limit_verified": False,
        "test_kind": "confirmatory", "method": "LC-MS/MS", "lab_id": "lab-gz-01",
        "sample_id": "S-1", "sampled_location_id": "market-gz-01",
        "tested_at": "2026-11-27T23:30:00+00:00", "raised_at": "2026-11-27T23:40:00+00:00",
        "updated_at": "2026-11-28T01:00:00+00:00", "reason": EVIL, "lot_traced": True,
        "depth_capped": False, "affected_cities": ["guangzhou", "shenzhen"],
        "affected_lots": [
            {"lot_code": "LOT-" + EVIL, "product_code": "VEG-1", "depth": 0,
             "reached_from": None, "quantity": 500, "unit": "kg"},
            {"lot_code": "CUT-9", "product_code": "CUT", "depth": 1,
             "reached_from": "LOT-" + EVIL, "quantity": 220, "unit": "kg"},
        ],
        "affected_locations": [
            {"location_id": "market-gz-01", "name": EVIL, "kind": "wholesale_market",
             "city": "guangzhou", "lat": 23.13, "lon": 113.26,
             "holdings": [{"lot_code": "LOT-" + EVIL, "role": "received", "quantity": 300,
                           "unit": "kg", "event_time": "2026-11-27T22:00:00+00:00",
                           "counterparty_location_id": "farm-1"}]},
            {"location_id": "shop-sz-01", "name": "Shop", "kind": "retailer",
             "city": "shenzhen", "lat": None, "lon": None, "holdings": []},
            {"location_id": "ghost-1", "name": None, "kind": None, "city": None,
             "lat": None, "lon": None, "holdings": []},
        ],
        "source_lots": [{"lot_code": "LOT-" + EVIL, "product_code": "VEG-1",
                         "location_id": "farm-1", "quantity": 500, "unit": "kg"}],
        "source_locations": [{"location_id": "farm-1", "name": "Farm", "kind": "farm",
                              "city": "zhaoqing", "lat": 23.05, "lon": 112.47}],
    }
    base.update(kw)
    return base


def the_trace() -> Trace:
    me = TracedLot("LOT-" + EVIL, "VEG-1", 0, None, "farm-1", Decimal(500), "kg", True)
    cut = TracedLot("CUT-9", "CUT", 1, "LOT-" + EVIL, "plant-1", Decimal(220), "kg", False)
    return Trace(lot=me, direction="both", max_depth=64, downstream=[cut])


def data(**kw) -> ReportData:
    sent = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
    message = CapMessage(2, "shenzhen", "Update", "foodtrace-x-v2-shenzhen",
                         "2026-11-28T09:00:00+08:00", sent, None, 3, EVIL,
                         f"<alert><note>{EVIL}</note></alert>", ["guangzhou", "shenzhen"])
    base = {
        "alert": alert(),
        "history": [{"version": 1, "at": "2026-11-27T23:40:00+00:00", "actor": "engine",
                     "action": "raised", "from_status": None, "to_status": "open",
                     "from_severity": None, "to_severity": "critical", "lab_message_id": None,
                     "note": EVIL, "detail": {}},
                    {"version": 2, "at": "2026-11-28T01:00:00+00:00", "actor": "engine",
                     "action": "rescoped", "from_status": "open", "to_status": "open",
                     "from_severity": "critical", "to_severity": "critical",
                     "lab_message_id": None, "note": "added",
                     "detail": {"changes": {"added": {"affected_cities": ["shenzhen"]},
                                            "caused_by": [{"id": "e1"}, {"id": "e2"}]}}}],
        "trace": the_trace(),
        "findings": [TraceFinding(uuid.uuid4(), "rule_" + EVIL, "warning", "21 CFR 1.1340",
                                  EVIL, None, None)],
        "messages": [message],
        "generated_at": sent,
    }
    base.update(kw)
    return ReportData(**base)


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parsed(html: str) -> _Collect:
    p = _Collect()
    p.feed(html)
    return p


def test_sender_text_is_escaped_everywhere() -> None:
    html = render(data())
    assert EVIL not in html
    assert "<img" not in html and "onerror=" not in html.replace("onerror=&#34;", "")
    p = parsed(html)
    assert not [t for t, _ in p.tags if t in ("img", "script", "iframe", "object")]
    assert not [a for _, attrs in p.tags for a in attrs if a.startswith("on")]
    text = "".join(p.text)
    assert text.count(EVIL) >= 6  # the name, the reason, the note, the finding, the lot ...
    assert "<alert><note>" in text  # the CAP XML shown as text


def test_nothing_is_fetched_from_anywhere() -> None:
    html = render(data())
    p = parsed(html)
    for tag, attrs in p.tags:
        for name in ("src", "href", "action", "data", "poster"):
            value = attrs.get(name) or ""
            assert not value or value.startswith("#"), (tag, name, value)
    assert not re.search(r"url\(|@import|<link", html)
    [csp] = [a["content"] for t, a in p.tags if t == "meta" and a.get("http-equiv")]
    assert csp.startswith("default-src 'none'")


def test_the_page_is_chinese_first_with_english_beside() -> None:
    html = render(data())
    assert '<html lang="zh-CN">' in html
    for zh, en in (("告警", "Alert"), ("版本", "Versions"), ("追溯图", "Trace graph"),
                   ("地图", "Map of affected places"), ("涉及地点", "Places"),
                   ("已发送的 CAP 消息", "CAP messages sent")):
        assert re.search(f"{zh} <span class=\"en\">{en}</span>", html), en
    assert "广州 Guangzhou" in html and "深圳 Shenzhen" in html
    assert "严重 critical" in html and "毒死蜱 chlorpyrifos" in html
    assert "叶菜类蔬菜 Leafy vegetables" in html


def test_missing_data_is_flagged_not_dropped() -> None:
    v = view(data())
    flags = " ".join(v["flags"])
    assert "limit is not verified" in flags
    assert "city unknown" in flags and "ghost-1" in flags
    assert "no coordinates or lie off the map" in flags
    assert "1 open finding" in flags
    ids = [p["location_id"] for p in v["places"]]
    assert set(ids) == {"market-gz-01", "shop-sz-01", "ghost-1", "farm-1"}  # all listed
    assert {p["location_id"] for p in v["map"]["points"]} == {"market-gz-01", "farm-1"}
    html = render(data())
    assert "无坐标 none" in html and "未知 unknown" in html


def test_a_lot_not_traced_yet_is_drawn_alone_and_flagged() -> None:
    v = view(data(trace=None, findings=[], alert=alert(lot_traced=False)))
    assert [n.lot.lot_code for n in v["graph"].nodes] == ["LOT-" + EVIL]
    assert any("not in the lot graph yet" in f for f in v["flags"])


def test_versions_carry_their_changes_and_the_cities_told() -> None:
    v = view(data())
    [first, second] = v["versions"]
    assert first["action_zh"] == "发出" and first["told"] == []
    assert second["added"] == {"affected_cities": ["shenzhen"]} and second["caused_by"] == 2
    assert second["told"] == [(("深圳", "Shenzhen"), "Update")]
    html = render(data())
    assert "待发送 pending (3 次尝试 attempts" in html  # not delivered: said so


def test_the_places_table_adds_up_quantities_per_role() -> None:
    holding = {"lot_code": "L2", "role": "received", "quantity": 20, "unit": "kg",
               "event_time": None, "counterparty_location_id": None}
    packed = {**holding, "role": "packed", "quantity": 18}
    a = alert()
    a["affected_locations"][0]["holdings"] += [holding, packed]
    market = next(p for p in view(data(alert=a))["places"] if p["location_id"] == "market-gz-01")
    # received 300 + 20; the packing of that food is not added to it
    assert market["held"] == ["包装 packed 18 kg", "收货 received 320 kg"]
    assert market["n"] >= 1 and market["on_map"]
    assert market["roles"] == ["affected"]
    farm = next(p for p in view(data())["places"] if p["location_id"] == "farm-1")
    assert farm["roles"] == ["source"]


def test_times_are_shown_in_china_standard_time() -> None:
    assert local_time("2026-11-27T22:30:00+00:00") == "2026-11-28 06:30:00 +08:00"
    assert local_time(None) == "—"
    assert local_time("2026-11-28T06:30:00") == "2026-11-28 06:30:00 (no offset)"


def test_an_alert_with_fields_missing_still_renders() -> None:
    a = alert()
    a["affected_lots"] = [{"lot_code": "L"}]
    a["source_lots"] = [{"lot_code": "L"}]
    a["affected_locations"] = [{"location_id": "p1", "holdings": [{"lot_code": "L"}]}]
    a["source_locations"] = [{"location_id": "p2"}]
    html = render(data(alert=a, trace=None, findings=[], messages=[], history=[]))
    assert "p1" in html and "p2" in html and "未知 unknown" in html
