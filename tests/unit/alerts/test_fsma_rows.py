"""fsma_export.build_rows: the sortable spreadsheet's rows, without a database."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from foodtrace.alerts.fsma_export import EventLotRecord, build_rows, columns, utc_date_time
from foodtrace.reference import EVENT_TYPES

CST = timezone(timedelta(hours=8))
PLACES = {
    "farm": {"name": "Farm", "kind": "farm", "city": "zhaoqing", "lat": 23.05, "lon": 112.47},
    "farm2": {"name": "Farm 2", "kind": "farm", "city": "huizhou", "lat": 23.1, "lon": 114.4},
    "plant": {"name": "Plant", "kind": "processor", "city": "foshan", "lat": 23.0, "lon": 113.1},
    "vessel": {"name": "Vessel", "kind": "farm", "city": "other", "lat": None, "lon": None},
}


def rec(
    event_type,
    role,
    pos,
    lot,
    qty,
    *,
    at="plant",
    when=None,
    mid=None,
    source=None,
    dest=None,
    event_tlc=None,
    lot_tlc=None,
    kdes=None,
) -> EventLotRecord:
    return EventLotRecord(
        message_id=mid or uuid.uuid4(),
        event_time=when or datetime(2026, 11, 28, 7, 5, tzinfo=CST),
        event_type=event_type,
        actor_id=at,
        location_id=at,
        source_location_id=source,
        destination_location_id=dest,
        event_tlc_source=event_tlc,
        reference_document_type="BOL",
        reference_document_number="B-1",
        kdes=kdes or {},
        role=role,
        position=pos,
        lot_code=lot,
        product_code="P",
        quantity=Decimal(qty),
        unit="kg",
        product_name="Choy sum",
        category="brassica_vegetables",
        lot_tlc_source=lot_tlc,
    )


def test_times_are_normalised_to_utc_before_the_split() -> None:
    # 07:05 in Guangzhou on the 28th is 23:05 UTC on the 27th
    assert utc_date_time(datetime(2026, 11, 28, 7, 5, tzinfo=CST)) == ("2026-11-27", "23:05:00")
    with pytest.raises(ValueError):
        utc_date_time(datetime(2026, 11, 28, 7, 5))


def test_transformation_is_one_row_per_input_and_output_joined_by_event_id() -> None:
    mid = uuid.uuid4()
    rows = build_rows(
        [
            rec("transformation", "input", 0, "A", 150, mid=mid, event_tlc="plant", lot_tlc="farm"),
            rec(
                "transformation", "input", 1, "B", 100, mid=mid, event_tlc="plant", lot_tlc="farm2"
            ),
            rec(
                "transformation", "output", 2, "X", 220, mid=mid, event_tlc="plant", lot_tlc="plant"
            ),
        ],
        PLACES,
    )["transformation"]
    assert len(rows) == 3  # 2 inputs + 1 output, not 2 x 1 pairs plus duplicates
    assert {r["event_id"] for r in rows} == {str(mid)}
    assert [
        (r["transformation_role"], r["traceability_lot_code"], r["quantity"]) for r in rows
    ] == [("input", "A", 150), ("input", "B", 100), ("output", "X", 220)]
    # an input keeps its own TLC source; the output's is the transformation site
    assert [r["tlc_source_location_id"] for r in rows] == ["farm", "farm2", "plant"]
    assert rows[1]["tlc_source_city"] == "huizhou"
    assert rows[0]["event_date_utc"] == "2026-11-27" and rows[0]["event_time_utc"] == "23:05:00"


def test_shipping_and_receiving_keep_counterparty_and_tlc_source() -> None:
    sheets = build_rows(
        [
            rec("shipping", "lot", 0, "A", 300, at="farm", dest="plant", event_tlc="farm"),
            rec("receiving", "lot", 0, "A", 300, at="plant", source="farm", lot_tlc="farm"),
            rec(
                "first_receiving", "lot", 0, "F", 70, at="plant", source="vessel", event_tlc="plant"
            ),
            rec(
                "harvesting",
                "lot",
                0,
                "A",
                500,
                at="farm",
                event_tlc="farm",
                kdes={
                    "immediate_subsequent_recipient_location_id": "plant",
                    "field_id": "F7",
                    "tlc_source_reference": "REF-9",
                },
            ),
        ],
        PLACES,
    )
    ship = sheets["shipping"][0]
    assert (
        ship["location_location_id"],
        ship["ship_to_location_id"],
        ship["ship_to_city"],
        ship["ship_to_business_name"],
    ) == ("farm", "plant", "foshan", "Plant")
    assert (
        ship["tlc_source_location_id"],
        ship["tlc_source_region"],
        ship["tlc_source_country"],
    ) == ("farm", "Guangdong", "CN")
    recv = sheets["receiving"][0]
    assert (
        recv["location_location_id"],
        recv["ship_from_location_id"],
        recv["ship_from_latitude"],
    ) == ("plant", "farm", 23.05)
    assert recv["tlc_source_location_id"] == "farm"  # from the lot when the event names none
    first = sheets["first_receiving"][0]
    assert (
        first["previous_source_location_id"],
        first["previous_source_city"],
        first["previous_source_region"],
    ) == ("vessel", "other", "")
    harvest = sheets["harvesting"][0]
    assert harvest["next_recipient_location_id"] == "plant"
    assert harvest["tlc_source_reference"] == "REF-9"
    assert '"field_id": "F7"' in harvest["other_kdes"]
    for event_type, rows in sheets.items():
        for row in rows:
            assert set(row) == set(columns(event_type))


def test_every_event_type_has_a_sheet() -> None:
    assert list(build_rows([], PLACES)) == list(EVENT_TYPES)
    assert "ship_to_location_id" in columns("shipping")
    assert "ship_from_location_id" in columns("receiving")
    assert "transformation_role" in columns("transformation")
