"""Pure parts of the trace package: role rules, shaping rows, spec 4 sets, CLI text."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib.resources import files
from uuid import uuid4

import pytest

from foodtrace.cli.main import build_parser
from foodtrace.cli.trace_cmd import print_human
from foodtrace.reference import EVENT_TYPES
from foodtrace.trace.api import LotNotFound, build_trace, creation_locations, impact_of
from foodtrace.trace.link import ROLE_RULES

T0 = datetime(2026, 11, 28, 1, 30, tzinfo=UTC)


def _check_roles() -> set[str]:
    sql = files("foodtrace.schemas").joinpath("sql/0004_lot_graph.sql").read_text("utf-8")
    block = sql[sql.index("role IN (") : sql.index("message_id", sql.index("role IN ("))]
    return set(re.findall(r"'([a-z_]+)'", block))


def test_every_event_type_places_its_lots() -> None:
    assert {r[0] for r in ROLE_RULES} == set(EVENT_TYPES)
    assert {r[2] for r in ROLE_RULES} | {"sampled"} == _check_roles()
    assert {r[1] for r in ROLE_RULES} == {"lot", "input", "output"}
    assert {r[3] for r in ROLE_RULES} <= {"here", "destination"}
    assert {r[4] for r in ROLE_RULES} <= {"here", "destination", "source", None}


def _loc(
    lot, location, role, city, minutes, *, cp=None, cp_city=None, event_type="shipping", qty=1
):
    return (
        lot,
        location,
        f"name of {location}",
        "farm",
        city,
        role,
        Decimal(qty),
        "kg",
        T0 + timedelta(minutes=minutes),
        cp,
        cp_city,
        23.0,
        113.0,
        event_type,
        uuid4(),
    )


def _walk(direction, lot, depth, via=None, tlc=None, root=False, capped=False, qty=5):
    return (direction, lot, "spinach", depth, via, tlc, Decimal(qty), "kg", root, capped)


def test_build_trace_and_impact() -> None:
    walk = [
        _walk("up", "L", 0, tlc="plant"),
        _walk("up", "R2", 1, via="L", root=True),  # no TLC source: from its creating event
        _walk("up", "R1", 1, via="L", tlc="farm1", root=True),
        _walk("down", "L", 0, tlc="plant"),
        _walk("down", "D", 1, via="L", capped=True),
    ]
    locs = [
        _loc("R2", "dock", "shipped_to", "zhuhai", 1),
        _loc("R2", "port", "received", "zhuhai", 2, cp="vessel", event_type="first_receiving"),
        _loc("L", "plant", "transformed_from", "dongguan", 3, event_type="transformation"),
        _loc("L", "plant", "shipped_from", "dongguan", 4, cp="m1", cp_city="guangzhou"),
        _loc("D", "plant2", "transformed_from", None, 5, event_type="transformation"),
    ]
    t = build_trace("L", "both", 1, walk, locs)
    assert [u.lot_code for u in t.upstream] == ["R1", "R2"]
    assert t.upstream[1].location_id == "port"  # first receiver, not the earlier dock row
    assert [r.lot_code for r in t.roots] == ["R1", "R2"]
    assert t.depth_capped is True
    assert t.cities == ["dongguan", "guangzhou", "zhuhai"]
    doc = t.to_json()
    assert doc["downstream"] == [
        {
            "lot_code": "D",
            "product_code": "spinach",
            "depth": 1,
            "reached_from": "L",
            "location_id": "plant2",
            "quantity": 5,
            "unit": "kg",
            "is_root": False,
        }
    ]
    impact = impact_of(t)
    assert impact.affected_lots == ["D", "L"]
    assert impact.affected_locations == ["m1", "plant", "plant2"]  # m1: the counterparty
    assert impact.affected_cities == ["dongguan", "guangzhou"]
    assert impact.source_lots == ["R1", "R2"]
    assert impact.source_locations == ["farm1", "port", "vessel"]
    assert impact.depth_capped is True


def test_quantities_become_plain_json_numbers() -> None:
    walk = [_walk("down", "L", 0, qty="12.50"), _walk("down", "D", 1, via="L", qty="3")]
    doc = build_trace("L", "down", 64, walk, []).to_json()
    assert doc["quantity"] == 12.5 and doc["downstream"][0]["quantity"] == 3
    assert isinstance(doc["downstream"][0]["quantity"], int)


def test_creation_location_falls_back_to_earliest_row() -> None:
    rows = build_trace(
        "L",
        "down",
        1,
        [_walk("down", "L", 0)],
        [
            _loc("L", "b", "received", "foshan", 9, event_type="receiving"),
            _loc("L", "a", "shipped_to", "foshan", 2),
        ],
    ).locations
    assert creation_locations(rows) == {"L": "a"}


def test_lot_not_found_message() -> None:
    assert str(LotNotFound("XYZ")) == (
        "no lot XYZ: check the code or run `foodtrace pipeline run` if it was just published"
    )


def test_cli_arguments() -> None:
    parser = build_parser()
    args = parser.parse_args(["trace", "LOT-1", "--direction", "up", "--max-depth", "3", "--json"])
    assert (args.lot_code, args.direction, args.max_depth, args.json) == ("LOT-1", "up", 3, True)
    assert parser.parse_args(["trace", "LOT-1"]).direction == "both"
    for bad in (["--max-depth", "-1"], ["--direction", "sideways"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["trace", "LOT-1", *bad])


def test_human_output_groups_by_city_and_reports_the_cap(capsys) -> None:
    walk = [_walk("up", "L", 0), _walk("up", "R", 1, via="L", tlc="farm", root=True, capped=True)]
    locs = [
        _loc("R", "farm", "created", "zhaoqing", 1, event_type="harvesting"),
        _loc("L", "shop", "sold", None, 2, event_type="sale"),
    ]
    print_human(build_trace("L", "up", 1, walk, locs))
    out = capsys.readouterr().out
    assert "Sources: R (farm)" in out
    assert "[zhaoqing]" in out and "[(unregistered location)]" in out
    assert "Depth cap reached: the trace stops at 1 step(s)" in out
    assert "Downstream" not in out
