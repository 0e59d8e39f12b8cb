"""scope_diff / describe: what a re-scoped alert version says changed (pure)."""

from __future__ import annotations

from foodtrace.alerts.rescope import describe, scope_diff


def _place(lid: str, city: str | None, qty: float = 10) -> dict:
    return {
        "location_id": lid,
        "name": lid,
        "kind": "retailer",
        "city": city,
        "lat": None,
        "lon": None,
        "holdings": [{"lot_code": "L", "role": "received", "quantity": qty}],
    }


BASE = {
    "affected_lots": [{"lot_code": "L"}],
    "affected_locations": [_place("m", "guangzhou")],
    "affected_cities": ["guangzhou"],
    "source_lots": [{"lot_code": "L"}],
    "source_locations": [{"location_id": "farm", "city": "zhaoqing"}],
    "lot_traced": True,
    "depth_capped": False,
}


def test_the_same_scope_is_no_change() -> None:
    assert scope_diff(BASE, dict(BASE)) == {}


def test_added_and_removed_per_set() -> None:
    new = {
        **BASE,
        "affected_lots": [{"lot_code": "L"}, {"lot_code": "L2"}],
        "affected_locations": [_place("m", "guangzhou"), _place("s", "zhuhai")],
        "affected_cities": ["guangzhou", "zhuhai"],
        "source_lots": [{"lot_code": "R"}],
    }
    diff = scope_diff(BASE, new)
    assert diff == {
        "added": {
            "affected_lots": ["L2"],
            "affected_locations": ["s"],
            "affected_cities": ["zhuhai"],
            "source_lots": ["R"],
        },
        "removed": {"source_lots": ["L"]},
    }
    text = describe(diff)
    assert "added affected cities: zhuhai" in text and "removed source lots: L" in text


def test_quantities_and_master_data_are_changes_too() -> None:
    more = {**BASE, "affected_locations": [_place("m", "guangzhou", qty=30)]}
    assert scope_diff(BASE, more) == {"holdings_changed": ["m"]}
    named = {**BASE, "source_locations": [{"location_id": "farm", "city": "foshan"}]}
    assert scope_diff(BASE, named) == {"locations_completed": ["source_locations"]}
    traced = {**BASE, "lot_traced": False}
    assert scope_diff(traced, BASE) == {"lot_traced": True}
    assert "now in the lot graph" in describe({"lot_traced": True})


def test_long_lists_are_shortened_in_words() -> None:
    many = [f"l{i:02d}" for i in range(12)]
    text = describe({"added": {"affected_lots": many}})
    assert text.endswith("l07 and 4 more")
