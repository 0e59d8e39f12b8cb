"""foodtrace.fsma: the tabs' rows and the recorded times, without a database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from foodtrace.fsma import build_tabs
from foodtrace.fsma.layout import CTE_TABS, TAB_BY_EVENT_TYPE, TABS
from foodtrace.fsma.rows import EXCEL_CELL_LIMIT, EventLotRecord
from foodtrace.fsma.times import OFFSET_NOT_RECORDED, recorded_time
from foodtrace.fsma.write import fit_cell
from foodtrace.reference import EVENT_TYPES

CST = timezone(timedelta(hours=8))
PLACES = {
    "farm": {"name": "Farm", "kind": "farm", "city": "zhaoqing", "lat": 23.05, "lon": 112.47,
             "business_name": "肇庆市菜心种植专业合作社", "phone": "+86 758 2345 6789",
             "address": "广东省肇庆市高要区人民路1号", "postal_code": "526100", "country": "CN"},
    "farm2": {"name": "Farm 2", "kind": "farm", "city": "huizhou", "lat": 23.1, "lon": 114.4},
    "plant": {"name": "Plant", "kind": "processor", "city": "foshan", "lat": 23.0, "lon": 113.1},
    "vessel": {"name": "Vessel", "kind": "farm", "city": "other", "lat": None, "lon": None},
}
PRODUCTS = {"P": {"name": "Choy sum 菜心", "category": "brassica_vegetables", "brand": "岭南鲜",
                  "commodity": "菜心", "variety": "四九菜心", "pack_size": "10 kg",
                  "pack_style": "筐"}}


def rec(event_type, role, pos, lot, qty, *, at="plant", when=None, offset="+08:00", mid=None,
        source=None, dest=None, event_tlc=None, lot_tlc=None, kdes=None,
        findings=()) -> EventLotRecord:
    return EventLotRecord(
        message_id=mid or uuid.uuid4(),
        event_time=when or datetime(2026, 11, 28, 7, 5, tzinfo=CST),
        event_time_offset=offset, event_type=event_type, actor_id=at, location_id=at,
        source_location_id=source, destination_location_id=dest, event_tlc_source=event_tlc,
        reference_document_type="BOL", reference_document_number="B-1", kdes=kdes or {},
        source_document_id=None, role=role, position=pos, lot_code=lot, product_code="P",
        quantity=Decimal(qty), unit="kg", lot_tlc_source=lot_tlc, findings=findings)


def test_thirteen_tabs_an_explanation_first_and_one_per_event_type() -> None:
    assert len(TABS) == 13 and TABS[0].key == "readme"
    assert [t.event_type for t in CTE_TABS] == list(EVENT_TYPES)
    assert all(len(t.title) <= 31 for t in TABS)  # Excel's sheet-name limit
    assert TAB_BY_EVENT_TYPE["shipping"].columns[1].heading == \
        "可追溯批次代码 Traceability lot code (TLC)"


def test_the_date_is_the_place_s_own_and_utc_is_beside_it() -> None:
    # 06:30 in Guangzhou on the 28th is 22:30 UTC on the 27th: the 28th, as on the BOL
    t = recorded_time(datetime(2026, 11, 27, 22, 30, tzinfo=UTC), "+08:00")
    assert (t.date_local, t.time_local, t.utc_offset, t.datetime_utc) == (
        "2026-11-28", "06:30:00", "+08:00", "2026-11-27T22:30:00Z")
    for unknown in ("Z", "-00:00", None):  # sent in UTC only, or never kept: not invented
        t = recorded_time(datetime(2026, 11, 27, 22, 30, tzinfo=UTC), unknown)
        assert (t.date_local, t.utc_offset, t.datetime_utc) == (
            OFFSET_NOT_RECORDED, OFFSET_NOT_RECORDED, "2026-11-27T22:30:00Z")
    assert recorded_time(datetime(2026, 11, 28, 1, 0, tzinfo=UTC), "-05:00").date_local == \
        "2026-11-27"
    with pytest.raises(ValueError):
        recorded_time(datetime(2026, 11, 28, 7, 5), "+08:00")


def test_transformation_is_one_row_per_input_and_output_joined_by_event_id() -> None:
    mid = uuid.uuid4()
    rows = build_tabs([
        rec("transformation", "input", 0, "A", 150, mid=mid, event_tlc="plant", lot_tlc="farm"),
        rec("transformation", "input", 1, "B", 100, mid=mid, event_tlc="plant", lot_tlc="farm2"),
        rec("transformation", "output", 2, "X", 220, mid=mid, event_tlc="plant", lot_tlc="plant"),
    ], PLACES, PRODUCTS)["transformation"]
    assert len(rows) == 3 and {r["event_id"] for r in rows} == {str(mid)}
    assert [(r["transformation_role"], r["traceability_lot_code"], r["quantity"])
            for r in rows] == [("input", "A", 150), ("input", "B", 100), ("output", "X", 220)]
    # an input keeps its own TLC source; the output's is the transformation site
    assert [r["tlc_source_location_id"] for r in rows] == ["farm", "farm2", "plant"]
    assert rows[1]["tlc_source_city"] == "惠州市 Huizhou"
    assert (rows[0]["date_local"], rows[0]["datetime_utc"]) == ("2026-11-28",
                                                                "2026-11-27T23:05:00Z")


def test_counterparty_tlc_source_and_descriptions_are_kept() -> None:
    tabs = build_tabs([
        rec("shipping", "lot", 0, "A", 300, at="farm", dest="plant", event_tlc="farm"),
        rec("receiving", "lot", 0, "A", 300, at="plant", source="farm", lot_tlc="farm"),
        rec("first_receiving", "lot", 0, "F", 70, at="plant", source="vessel", event_tlc="plant"),
        rec("harvesting", "lot", 0, "A", 500, at="farm", event_tlc="farm",
            kdes={"immediate_subsequent_recipient_location_id": "plant", "field_id": "F7",
                  "tlc_source_reference": "REF-9", "harvest_date": "2026-11-28"}),
    ], PLACES, PRODUCTS)
    ship = tabs["shipping"][0]
    assert (ship["location_business_name"], ship["location_phone"], ship["location_postal_code"],
            ship["location_address"]) == ("肇庆市菜心种植专业合作社", "+86 758 2345 6789", "526100",
                                          "广东省肇庆市高要区人民路1号")
    assert (ship["ship_to_location_id"], ship["ship_to_city"], ship["ship_to_business_name"]) \
        == ("plant", "佛山市 Foshan", "Plant")
    assert (ship["tlc_source_region"], ship["tlc_source_country"]) == ("广东省 Guangdong", "CN")
    assert (ship["brand"], ship["variety"], ship["pack_size"]) == ("岭南鲜", "四九菜心", "10 kg")
    recv = tabs["receiving"][0]
    assert (recv["ship_from_location_id"], recv["ship_from_latitude"]) == ("farm", 23.05)
    assert recv["tlc_source_location_id"] == "farm" and "TLC source" in recv["derived_kdes"]
    first = tabs["first_receiving"][0]
    assert (first["previous_source_city"], first["previous_source_region"]) == ("other", "")
    harvest = tabs["harvesting"][0]
    assert (harvest["next_recipient_location_id"], harvest["derived_kdes"]) == ("plant", "")
    assert (harvest["tlc_source_reference"], harvest["kde_field_or_growing_area"]) == (
        "REF-9", "F7")
    assert '"harvest_date": "2026-11-28"' in harvest["other_kdes"]
    for tab in CTE_TABS:
        for row in tabs[tab.key]:
            assert set(row) - {"_derived"} == {c.key for c in tab.columns}, tab.key
    assert {r["location_location_id"] for r in tabs["locations"]} == {"farm", "plant", "vessel"}


def test_a_harvest_without_next_recipient_takes_the_lot_s_first_shipping() -> None:
    later = datetime(2026, 11, 28, 9, 0, tzinfo=CST)
    first = rec("shipping", "lot", 0, "A", 300, at="farm", dest="plant", event_tlc="farm")
    tabs = build_tabs([
        rec("harvesting", "lot", 0, "A", 500, at="farm", event_tlc="farm",
            when=datetime(2026, 11, 28, 5, 0, tzinfo=CST)),
        rec("shipping", "lot", 0, "A", 200, at="farm", dest="farm2", when=later),
        first,
    ], PLACES, PRODUCTS)
    harvest = tabs["harvesting"][0]
    assert harvest["next_recipient_location_id"] == "plant"
    assert "next recipient" in harvest["derived_kdes"] and str(first.message_id) in \
        harvest["derived_kdes"]
    assert "next_recipient_location_id" in harvest["_derived"]


def test_findings_are_listed_and_long_cells_fit() -> None:
    finding = {"rule": "kde.shipping.tlc_source", "severity": "warning", "resolution": None,
               "value": None, "cfr": "21 CFR 1.1340(a)(7)", "message": "no TLC source"}
    tabs = build_tabs([rec("shipping", "lot", 0, "A", 1, at="farm", dest="plant",
                           findings=[finding])], PLACES, PRODUCTS)
    [row] = tabs["findings"]
    assert (row["rule"], row["cfr"], row["status"], row["traceability_lot_code"]) == (
        "kde.shipping.tlc_source", "21 CFR 1.1340(a)(7)", "open", "A")
    assert "kde.shipping.tlc_source [warning, open]" in tabs["shipping"][0]["findings"]
    cut = fit_cell("x" * (EXCEL_CELL_LIMIT + 10))
    assert len(cut) == EXCEL_CELL_LIMIT and "cut" in cut
    assert fit_cell("short") == "short"
