"""trace() / affected_and_sources() and `foodtrace trace` on a known supply chain.

The chain (prefix omitted):

    farm1 (zhaoqing) harvests r1 ─┐                      ┌─> m1 (guangzhou) receives, sells
    farm2 (huizhou)  harvests r2 ─┼─ plant (dongguan) ─> mix ─ ships to m1, m2 (shenzhen)
    port  (zhuhai) first-receives r3 from vessel ┘        └─> plant2 (foshan) makes soup
"""

from __future__ import annotations

import json

import psycopg
import pytest
from trace_helpers import ChainBuilder

from foodtrace.cli.main import main
from foodtrace.trace.api import LotNotFound, affected_and_sources, trace
from foodtrace.trace.link import link


@pytest.fixture
def supply(chain: ChainBuilder) -> ChainBuilder:
    c = chain
    c.location("farm1", "zhaoqing", "farm")
    c.location("farm2", "huizhou", "farm")
    c.location("port", "zhuhai", "distributor")
    c.location("plant", "dongguan", "processor")
    c.location("m1", "guangzhou", "wholesale_market")
    c.location("m2", "shenzhen", "retailer")
    c.location("plant2", "foshan", "processor")
    c.harvest("r1", 100, "farm1")
    c.harvest("r2", 200, "farm2")
    c.event("first_receiving", "port", [("r3", 50)], source="vessel")
    c.event("shipping", "farm1", [("r1", 100)], to="plant")
    c.transform("plant", inputs=[("r1", 100), ("r2", 200), ("r3", 50)], outputs=[("mix", 340)])
    c.event("shipping", "plant", [("mix", 120)], to="m1")
    c.event("receiving", "m1", [("mix", 120)], source="plant")
    c.event("sale", "m1", [("mix", 2)])
    c.event("shipping", "plant", [("mix", 100)], to="m2")
    c.transform("plant2", inputs=[("mix", 120)], outputs=[("soup", 300, "each")])
    link(c.conn)
    return c


def test_trace_both_json_contract(supply: ChainBuilder) -> None:
    c, L, P = supply, supply.lot, supply.loc
    doc = trace(c.conn, L("mix"), "both").to_json()
    assert doc["lot_code"] == L("mix") and doc["depth_capped"] is False
    assert {"lot_code", "upstream", "downstream", "locations", "cities", "depth_capped"} <= set(doc)
    assert [
        (u["lot_code"], u["depth"], u["quantity"], u["unit"], u["location_id"], u["is_root"])
        for u in doc["upstream"]
    ] == [
        (L("r1"), 1, 100, "kg", P("farm1"), True),
        (L("r2"), 1, 200, "kg", P("farm2"), True),
        (L("r3"), 1, 50, "kg", P("port"), True),
    ]
    assert [
        (d["lot_code"], d["depth"], d["quantity"], d["unit"], d["location_id"])
        for d in doc["downstream"]
    ] == [(L("soup"), 1, 300, "each", P("plant2"))]
    for entry in doc["upstream"] + doc["downstream"] + doc["locations"]:
        assert {"lot_code", "location_id", "depth", "quantity", "unit"} <= set(entry)
    depth_of = {(loc["lot_code"], loc["depth"]) for loc in doc["locations"]}
    assert depth_of == {(L("mix"), 0), (L("r1"), 1), (L("r2"), 1), (L("r3"), 1), (L("soup"), 1)}
    # both: locations of the lot, its sources and its descendants
    assert {loc["lot_code"] for loc in doc["locations"]} == {
        L("mix"),
        L("r1"),
        L("r2"),
        L("r3"),
        L("soup"),
    }
    assert doc["cities"] == sorted(
        ["zhaoqing", "huizhou", "zhuhai", "dongguan", "guangzhou", "shenzhen", "foshan"]
    )
    json.dumps(doc)  # JSON-ready as it is


def test_trace_directions_limit_locations(supply: ChainBuilder) -> None:
    c, L = supply, supply.lot
    down = trace(c.conn, L("mix"), "down")
    assert down.upstream == [] and [d.lot_code for d in down.downstream] == [L("soup")]
    assert {loc.lot_code for loc in down.locations} == {L("mix"), L("soup")}
    up = trace(c.conn, L("mix"), "up")
    assert up.downstream == [] and len(up.upstream) == 3
    assert {loc.lot_code for loc in up.locations} == {L("mix"), L("r1"), L("r2"), L("r3")}
    # mix itself went to plant2 (foshan): its city is on every direction's trace
    assert "foshan" in up.cities and "huizhou" not in down.cities


def test_affected_and_sources(supply: ChainBuilder) -> None:
    c, L, P = supply, supply.lot, supply.loc
    impact = affected_and_sources(c.conn, L("mix"))
    assert impact.affected_lots == sorted([L("mix"), L("soup")])
    assert impact.affected_locations == sorted([P("plant"), P("m1"), P("m2"), P("plant2")])
    assert impact.affected_cities == sorted(["dongguan", "guangzhou", "shenzhen", "foshan"])
    assert impact.source_lots == sorted([L("r1"), L("r2"), L("r3")])
    # TLC sources, plus where the first receiver got r3 from
    assert impact.source_locations == sorted([P("farm1"), P("farm2"), P("port"), P("vessel")])
    assert impact.depth_capped is False
    # a root is its own source
    root = affected_and_sources(c.conn, L("r1"))
    assert root.source_lots == [L("r1")] and root.source_locations == [P("farm1")]
    assert root.affected_lots == sorted([L("r1"), L("mix"), L("soup")])
    assert P("farm1") in root.affected_locations and P("m2") in root.affected_locations


def test_sampled_location_is_affected(supply: ChainBuilder) -> None:
    c, L, P = supply, supply.lot, supply.loc
    c.location("stall", "zhongshan", "retailer")
    c.lab_result("soup", "stall")
    link(c.conn)
    impact = affected_and_sources(c.conn, L("soup"))
    assert P("stall") in impact.affected_locations and "zhongshan" in impact.affected_cities


def test_unknown_lot_and_bad_arguments(conn: psycopg.Connection) -> None:
    with pytest.raises(
        LotNotFound, match="no lot NOPE-1: check the code or run `foodtrace pipeline run`"
    ):
        trace(conn, "NOPE-1")
    with pytest.raises(ValueError, match="direction"):
        trace(conn, "x", "sideways")
    with pytest.raises(ValueError, match="max_depth"):
        trace(conn, "x", "both", -1)


def test_cli_json_and_human(supply: ChainBuilder, db_url: str, monkeypatch, capsys) -> None:
    L = supply.lot
    monkeypatch.setenv("FOODTRACE_DATABASE_URL", db_url)
    assert main(["trace", L("mix"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc == json.loads(json.dumps(trace(supply.conn, L("mix")).to_json()))

    assert main(["trace", L("r1"), "--direction", "down", "--max-depth", "1"]) == 0
    out = capsys.readouterr().out
    assert "Downstream: 1 lot(s)" in out and L("mix") in out
    assert "Depth cap reached" in out  # soup lies at depth 2
    assert "[guangzhou]" in out and "[zhaoqing]" in out

    assert main(["trace", L("mix"), "--direction", "up"]) == 0
    out = capsys.readouterr().out
    assert "3 source lot(s)" in out and "Depth cap" not in out


def test_cli_unknown_lot_exit_code(db_url: str, monkeypatch, capsys) -> None:
    monkeypatch.setenv("FOODTRACE_DATABASE_URL", db_url)
    assert main(["trace", "XYZ-404", "--json"]) == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no lot XYZ-404: check the code or run `foodtrace pipeline run`" in captured.err


def test_cli_on_an_unmigrated_database(empty_db_url: str, monkeypatch, capsys) -> None:
    monkeypatch.setenv("FOODTRACE_DATABASE_URL", empty_db_url)
    assert main(["trace", "ANY-1"]) == 2
    assert "run `foodtrace db migrate`" in capsys.readouterr().err
