"""impact.shape: spec 4's affected/source sets with quantities, from a trace."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from foodtrace.alerts.impact import shape, untraced_impact
from foodtrace.trace.api import LotLocation, Trace, TracedLot

T = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)


def lot(code, depth, qty, *, via=None, root=False, at=None) -> TracedLot:
    return TracedLot(
        lot_code=code,
        product_code="P",
        depth=depth,
        reached_from=via,
        location_id=at,
        quantity=Decimal(qty),
        unit="kg",
        is_root=root,
    )


def where(code, loc, city, role, qty, minutes, counterparty=None, cp_city=None) -> LotLocation:
    return LotLocation(
        lot_code=code,
        location_id=loc,
        location_name=loc.title(),
        kind="k",
        city=city,
        role=role,
        quantity=Decimal(qty),
        unit="kg",
        event_time=T + timedelta(minutes=minutes),
        counterparty_location_id=counterparty,
        counterparty_city=cp_city,
        lat=23.0,
        lon=113.0,
        event_type="shipping",
        message_id=uuid.uuid4(),
    )


def test_shape_affected_and_sources_with_quantities() -> None:
    # source S (farm) -> A (the alerted lot, made at the plant) -> X (downstream)
    t = Trace(
        lot=lot("A", 0, 200, at="plant"),
        direction="both",
        max_depth=64,
        upstream=[lot("S", 1, 150, via="A", root=True, at="farm")],
        downstream=[lot("X", 1, 180, via="A", at="plant")],
        locations=[
            where("S", "farm", "zhaoqing", "created", 500, 0),
            where("A", "plant", "foshan", "transformed_from", 200, 10),
            where("A", "plant", "foshan", "shipped_from", 120, 20, "market", "guangzhou"),
            where("A", "market", "guangzhou", "received", 120, 60, "plant", "foshan"),
            where("X", "plant", "foshan", "transformed_from", 180, 30),
        ],
        cities=["foshan", "guangzhou", "zhaoqing"],
    )
    places = {
        "farm": {"name": "Farm", "kind": "farm", "city": "zhaoqing", "lat": 23.0, "lon": 112.5},
        "plant": {
            "name": "Plant",
            "kind": "processor",
            "city": "foshan",
            "lat": 23.0,
            "lon": 113.1,
        },
        "market": {
            "name": "Market",
            "kind": "wholesale_market",
            "city": "guangzhou",
            "lat": 23.1,
            "lon": 113.3,
        },
    }
    imp = shape(t, places)
    assert [(x["lot_code"], x["quantity"], x["depth"]) for x in imp.affected_lots] == [
        ("A", 200, 0),
        ("X", 180, 1),
    ]
    # the upstream farm holds only the source lot: not an affected location
    assert [p["location_id"] for p in imp.affected_locations] == ["market", "plant"]
    plant = next(p for p in imp.affected_locations if p["location_id"] == "plant")
    assert {(h["lot_code"], h["role"], h["quantity"]) for h in plant["holdings"]} == {
        ("A", "transformed_from", 200),
        ("A", "shipped_from", 120),
        ("X", "transformed_from", 180),
    }
    assert plant["city"] == "foshan" and plant["name"] == "Plant"
    assert imp.affected_cities == ["foshan", "guangzhou"]
    assert [(s["lot_code"], s["quantity"], s["location_id"]) for s in imp.source_lots] == [
        ("S", 150, "farm")
    ]
    assert [s["location_id"] for s in imp.source_locations] == ["farm"]
    assert imp.lot_traced and not imp.depth_capped


def test_untraced_lot_still_reaches_the_sampling_city() -> None:
    imp = untraced_impact(
        "L",
        "market",
        {
            "market": {
                "city": "guangzhou",
                "name": "M",
                "kind": "wholesale_market",
                "lat": 1,
                "lon": 2,
            }
        },
    )
    assert imp.affected_cities == ["guangzhou"]
    assert imp.affected_lots[0]["lot_code"] == "L"
    assert not imp.lot_traced
