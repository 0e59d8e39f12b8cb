"""The flows are physically possible and have the shapes traces must handle."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime

import pytest
from sim_helpers import EventGraph, day, event_lots

SEEDS = [(11, 1.0), (3, 0.2), (8, 0.5), (21, 0.1)]
# Within one second, an arrival is counted before what leaves (never happens here).
_ORDER = {
    "harvesting": 0,
    "first_receiving": 0,
    "receiving": 0,
    "transformation": 1,
    "cooling": 2,
    "initial_packing": 2,
    "shipping": 3,
    "sale": 3,
}


@pytest.mark.parametrize(("seed", "scale"), SEEDS)
def test_nobody_uses_more_of_a_lot_than_they_hold_at_that_time(seed: int, scale: float) -> None:
    events = sorted(
        day(seed, scale).chain_events,
        key=lambda e: (datetime.fromisoformat(e["event_time"]), _ORDER[e["event_type"]]),
    )
    balance: dict[tuple[str, str], float] = defaultdict(float)
    for ev in events:
        loc, kind = ev["location_id"], ev["event_type"]
        if kind in ("harvesting", "first_receiving", "receiving"):
            for line in ev["lots"]:
                balance[line["lot_code"], loc] += line["quantity"]
        elif kind == "transformation":
            for line in ev["inputs"]:
                balance[line["lot_code"], loc] -= line["quantity"]
                assert balance[line["lot_code"], loc] >= -1e-6, ev
            for line in ev["outputs"]:
                balance[line["lot_code"], loc] += line["quantity"]
        elif kind == "initial_packing":
            line = ev["lots"][0]
            assert 0 < line["quantity"] <= balance[line["lot_code"], loc] + 1e-6
            balance[line["lot_code"], loc] = line["quantity"]
        elif kind == "cooling":
            line = ev["lots"][0]
            assert line["quantity"] <= balance[line["lot_code"], loc] + 1e-6
        else:  # shipping, sale
            line = ev["lots"][0]
            balance[line["lot_code"], loc] -= line["quantity"]
            assert balance[line["lot_code"], loc] >= -1e-6, ev


@pytest.mark.parametrize(("seed", "scale"), SEEDS)
def test_transformations_make_no_more_than_they_use(seed: int, scale: float) -> None:
    transformations = [
        ev for ev in day(seed, scale).chain_events if ev["event_type"] == "transformation"
    ]
    assert transformations, "the day has no transformation: choose a seed that has some"
    for ev in transformations:
        used = sum(x["quantity"] for x in ev["inputs"])
        made = sum(x["quantity"] for x in ev["outputs"])
        assert made <= used + 1e-6
        assert ev["tlc_source_location_id"] == ev["location_id"]


@pytest.mark.parametrize(("seed", "scale"), SEEDS)
def test_every_shipment_is_received_later_with_the_same_lot_and_quantity(
    seed: int, scale: float
) -> None:
    by_bol: dict[str, dict[str, dict]] = defaultdict(dict)
    for ev in day(seed, scale).chain_events:
        if ev["event_type"] in ("shipping", "receiving"):
            by_bol[ev["reference_document"]["number"]][ev["event_type"]] = ev
    assert by_bol
    for pair in by_bol.values():
        ship, recv = pair["shipping"], pair["receiving"]
        assert ship["lots"] == recv["lots"]
        assert ship["destination_location_id"] == recv["location_id"]
        assert recv["source_location_id"] == ship["location_id"]
        assert recv["tlc_source_location_id"] == ship["tlc_source_location_id"]
        assert datetime.fromisoformat(recv["event_time"]) > datetime.fromisoformat(
            ship["event_time"]
        )


@pytest.mark.parametrize(("seed", "scale"), SEEDS)
def test_lots_are_created_once_first_and_keep_their_tlc_source(seed: int, scale: float) -> None:
    events = day(seed, scale).chain_events
    graph = EventGraph(events)
    creations = Counter()
    first_seen: dict[str, dict] = {}
    for ev in events:  # published in time order
        if ev["event_type"] in ("harvesting", "first_receiving"):
            creations.update(x["lot_code"] for x in ev["lots"])
        if ev["event_type"] == "transformation":
            creations.update(x["lot_code"] for x in ev["outputs"])
        for line in event_lots(ev):
            first_seen.setdefault(line["lot_code"], ev)
        if "tlc_source_location_id" in ev and ev["event_type"] != "transformation":
            for line in ev["lots"]:
                assert ev["tlc_source_location_id"] == graph.tlc_source[line["lot_code"]]
    assert set(creations) == set(first_seen), "every lot named is created, once"
    assert set(creations.values()) == {1}
    for code, ev in first_seen.items():
        assert ev["event_type"] in ("harvesting", "first_receiving", "transformation")
        if ev["event_type"] == "transformation":
            assert code in {x["lot_code"] for x in ev["outputs"]}


def test_default_day_has_splits_merges_and_multi_level_transformations() -> None:
    events = day(11, 1.0).chain_events
    destinations: dict[tuple[str, str], set[str]] = defaultdict(set)
    for ev in events:
        if ev["event_type"] == "shipping":
            destinations[ev["lots"][0]["lot_code"], ev["location_id"]].add(
                ev["destination_location_id"]
            )
    splits = [k for k, d in destinations.items() if len(d) >= 2]
    assert len(splits) > 50

    transformations = [e for e in events if e["event_type"] == "transformation"]
    merges = [t for t in transformations if len(t["inputs"]) >= 3]
    assert len(merges) >= 5
    cross_product = [
        t for t in transformations if len({x["product_code"] for x in t["inputs"]}) >= 2
    ]
    assert cross_product, "a transformation mixes different products (dumplings)"
    outputs = {x["lot_code"] for t in transformations for x in t["outputs"]}
    second_level = [
        t for t in transformations if any(x["lot_code"] in outputs for x in t["inputs"])
    ]
    assert len(second_level) >= 3
    graph = EventGraph(events)
    depth3 = [
        lot
        for lot in graph.created_by
        if graph.created_by[lot] == "harvesting"
        and any(
            graph.parents.get(c) and any(graph.parents.get(p) for p in graph.parents[c])
            for c in graph.reach(lot, graph.children)
        )
    ]
    assert depth3, "some harvested lot ends up two transformations downstream"
    kinds = Counter(e["event_type"] for e in events)
    assert all(
        kinds[k] > 0
        for k in (
            "harvesting",
            "cooling",
            "initial_packing",
            "first_receiving",
            "shipping",
            "receiving",
            "transformation",
            "sale",
        )
    )
