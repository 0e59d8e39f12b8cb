"""Every simulated message carries what the contract (spec section 2) requires."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta

import pytest
from sim_helpers import DAY, day, event_lots

from foodtrace.reference import (
    ANALYTES,
    CITIES,
    CITY_FACTS,
    EVENT_TYPES,
    FOOD_CATEGORIES,
    LOCATION_KINDS,
    QUANTITY_UNITS,
    UNITS,
)

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
TLC_REQUIRED = {"harvesting", "initial_packing", "first_receiving", "transformation"}
CASES = [(11, 1.0, "pesticide"), (3, 0.2, "clenbuterol"), (8, 0.5, "malachite_green")]


def _time(value: str) -> datetime:
    assert RFC3339.match(value), value
    t = datetime.fromisoformat(value)
    assert t.utcoffset() == timedelta(hours=8)
    assert t.date() == DAY, value
    return t


def _uuid(value: str) -> None:
    assert uuid.UUID(value).version == 4


@pytest.mark.parametrize(("seed", "scale", "incident"), CASES)
def test_master_data(seed: int, scale: float, incident: str) -> None:
    sim = day(seed, scale, incident)
    ids = [loc["location_id"] for loc in sim.locations]
    assert len(ids) == len(set(ids))
    for loc in sim.locations:
        _uuid(loc["message_id"])
        assert set(loc) == {
            "schema",
            "message_id",
            "location_id",
            "name",
            "kind",
            "city",
            "lat",
            "lon",
            # the optional location description of spec 2.3 (the FDA spreadsheet's)
            "business_name",
            "address",
            "postal_code",
            "phone",
            "country",
        }
        assert loc["schema"] == "foodtrace/location/v1"
        city_zh = CITY_FACTS[loc["city"]].name_zh
        assert loc["business_name"].startswith(city_zh), loc  # a Chinese business name
        assert loc["address"].startswith(f"广东省{city_zh}"), loc
        assert re.fullmatch(r"5[12]\d{4}", loc["postal_code"]), loc
        assert re.fullmatch(r"\+86 \d{2,3} \d{4} \d{4}", loc["phone"]), loc
        assert loc["country"] == "CN"
        assert loc["kind"] in LOCATION_KINDS and loc["city"] in CITIES
        assert 21.5 < loc["lat"] < 24.0 and 111.8 < loc["lon"] < 115.0
    assert {loc["kind"] for loc in sim.locations} == set(LOCATION_KINDS)
    assert {loc["city"] for loc in sim.locations} <= set(CITIES)
    for prod in sim.products:
        _uuid(prod["message_id"])
        assert prod["schema"] == "foodtrace/product/v1"
        assert prod["category"] in FOOD_CATEGORIES
        assert {"commodity", "variety", "pack_size", "pack_style"} <= set(prod), prod


@pytest.mark.parametrize(("seed", "scale", "incident"), CASES)
def test_chain_events(seed: int, scale: float, incident: str) -> None:
    sim = day(seed, scale, incident)
    locations = {loc["location_id"] for loc in sim.locations}
    products = {p["product_code"] for p in sim.products}
    times = []
    for ev in sim.chain_events:
        _uuid(ev["message_id"])
        assert ev["schema"] == "foodtrace/chain-event/v1"
        kind = ev["event_type"]
        assert kind in EVENT_TYPES
        times.append(_time(ev["event_time"]))
        assert ev["actor_id"] == ev["location_id"] and ev["location_id"] in locations
        doc = ev["reference_document"]
        assert doc["type"] in ("BOL", "PO", "INV") and doc["number"]
        if kind == "transformation":
            assert "lots" not in ev and ev["inputs"] and ev["outputs"]
        else:
            assert "inputs" not in ev and "outputs" not in ev and len(ev["lots"]) == 1
        for line in event_lots(ev):
            assert set(line) == {"lot_code", "product_code", "quantity", "unit"}
            assert line["product_code"] in products
            assert line["unit"] in QUANTITY_UNITS and line["quantity"] > 0
        if kind == "shipping":
            assert ev["destination_location_id"] in locations
        if kind == "receiving":
            assert ev["source_location_id"] in locations
        if kind in TLC_REQUIRED:
            assert ev["tlc_source_location_id"] in locations
    assert times == sorted(times), "chain events are published in time order"
    ids = [e["message_id"] for e in sim.chain_events]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(("seed", "scale", "incident"), CASES)
def test_lab_results(seed: int, scale: float, incident: str) -> None:
    sim = day(seed, scale, incident)
    locations = {loc["location_id"]: loc for loc in sim.locations}
    lots = {line["lot_code"] for ev in sim.chain_events for line in event_lots(ev)}
    samples = set()
    for r in sim.lab_results:
        _uuid(r["message_id"])
        assert r["schema"] == "foodtrace/lab-result/v1"
        assert locations[r["lab_id"]]["kind"] == "lab"
        assert r["lot_code"] in lots and r["sampled_location_id"] in locations
        assert r["analyte"] in ANALYTES and r["test_kind"] in ("rapid", "confirmatory")
        assert _time(r["tested_at"]) >= _time(r["sampled_at"])
        assert (r["lab_id"], r["sample_id"]) not in samples
        samples.add((r["lab_id"], r["sample_id"]))
        if r["test_kind"] == "rapid":
            assert r["result"] in ("positive", "negative")
            if r["method"].startswith("GB/T 5009.199"):
                assert r["unit"] == "%" and 0 <= r["value"] <= 100
                assert (r["value"] >= 50) == (r["result"] == "positive")
        else:
            assert isinstance(r["value"], float) and r["unit"] in UNITS
    positives = [r for r in sim.lab_results if r.get("result") == "positive"]
    assert len(positives) == 1 and positives[0]["lot_code"] == sim.truth.lot_code
    assert [r["tested_at"] for r in sim.lab_results] == sorted(
        r["tested_at"] for r in sim.lab_results
    )


def test_a_plain_day_has_no_positive_result() -> None:
    sim = day(11, 1.0)
    assert sim.truth is None
    assert len(sim.lab_results) > 20
    assert all(r.get("result") != "positive" for r in sim.lab_results)
    assert {r["test_kind"] for r in sim.lab_results} == {"rapid", "confirmatory"}
