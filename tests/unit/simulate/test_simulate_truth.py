"""The ground truth agrees with a breadth-first search over the published events."""

from __future__ import annotations

import pytest
from sim_helpers import EventGraph, day

from foodtrace.simulate import INCIDENTS

CASES = [
    (seed, scale, kind) for kind in INCIDENTS for seed, scale in ((11, 1.0), (4, 0.3), (9, 0.15))
]


@pytest.mark.parametrize(("seed", "scale", "incident"), CASES)
def test_truth_matches_an_independent_trace(seed: int, scale: float, incident: str) -> None:
    sim = day(seed, scale, incident)
    truth = sim.truth
    graph = EventGraph(sim.chain_events)
    lot = truth.lot_code
    downstream = graph.reach(lot, graph.children)
    upstream = graph.reach(lot, graph.parents)
    affected = {lot} | downstream
    places = set().union(*(graph.places[x] for x in affected))
    city = {loc["location_id"]: loc["city"] for loc in sim.locations}
    roots = {
        x for x in upstream | {lot} if graph.created_by[x] in ("harvesting", "first_receiving")
    }

    assert set(truth.downstream_lots) == downstream
    assert set(truth.upstream_lots) == upstream
    assert set(truth.affected_lots) == affected
    assert set(truth.affected_locations) == places
    assert set(truth.affected_cities) == {city[p] for p in places}
    assert set(truth.source_lots) == roots and roots
    assert set(truth.source_locations) == {graph.tlc_source[r] for r in roots}
    # lists are sorted and free of duplicates (stable for comparisons)
    for name in ("affected_lots", "affected_locations", "affected_cities", "source_lots"):
        values = getattr(truth, name)
        assert list(values) == sorted(set(values))


@pytest.mark.parametrize("incident", INCIDENTS)
def test_incident_results_name_the_lot_where_it_was(incident: str) -> None:
    sim = day(11, 1.0, incident)
    truth = sim.truth
    results = {r["message_id"]: r for r in sim.lab_results}
    rapid, confirm = (results[a.message_id] for a in truth.expected_alerts)
    assert rapid["test_kind"] == "rapid" and rapid["result"] == "positive"
    assert confirm["test_kind"] == "confirmatory" and confirm["value"] > 0
    assert rapid["analyte"] == truth.rapid_analyte
    assert confirm["analyte"] == truth.confirmatory_analyte
    assert rapid["lot_code"] == confirm["lot_code"] == truth.lot_code
    assert rapid["sampled_location_id"] == truth.sampled_location_id
    assert truth.sampled_location_id in truth.affected_locations
    assert confirm["sampled_at"] > rapid["tested_at"]
    received = [
        e
        for e in sim.chain_events
        if e["event_type"] == "receiving"
        and e["location_id"] == truth.sampled_location_id
        and e["lots"][0]["lot_code"] == truth.lot_code
    ]
    assert received and received[0]["event_time"] < rapid["sampled_at"]
    station = next(loc for loc in sim.locations if loc["location_id"] == rapid["lab_id"])
    market = next(loc for loc in sim.locations if loc["location_id"] == truth.sampled_location_id)
    assert (station["lat"], station["lon"]) == (market["lat"], market["lon"])


def test_incident_shapes() -> None:
    pesticide = day(11, 1.0, "pesticide").truth
    assert pesticide.product_code == "VEG-CHOYSUM"
    assert pesticide.source_lots == (pesticide.lot_code,)  # contaminated at the farm
    assert pesticide.downstream_lots, "the choy sum went on into processed food"
    clen = day(11, 1.0, "clenbuterol").truth
    assert clen.product_code == "PRK-CHILLED" and clen.upstream_lots
    assert clen.lot_code not in clen.source_lots
    mg = day(11, 1.0, "malachite_green").truth
    assert mg.product_code.startswith("AQU-")


def test_truth_json_shape() -> None:
    data = day(11, 1.0, "pesticide").truth.to_json()
    assert set(data) == {
        "incident",
        "lot_code",
        "product_code",
        "sampled_location_id",
        "rapid_analyte",
        "confirmatory_analyte",
        "expected_alerts",
        "affected_lots",
        "affected_locations",
        "affected_cities",
        "source_lots",
        "source_locations",
        "upstream_lots",
        "downstream_lots",
    }
    assert [a["severity"] for a in data["expected_alerts"]] == ["warning", "critical"]
    assert all(isinstance(data[k], list) for k in ("affected_lots", "source_lots"))
