"""The pure parts of withdrawal coordination: quantities held, deadlines, actions,
which notices an alert version means, and the notice state machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import pytest

from foodtrace.withdrawals import states
from foodtrace.withdrawals.holdings import held_at
from foodtrace.withdrawals.plan import Live, action_for, plan
from foodtrace.withdrawals.progress import empty, shape
from foodtrace.withdrawals.reports import check
from foodtrace.withdrawals.settings import RecallSettings, parse_classes, recall_settings

NOW = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)


def row(role, lot="L1", qty=10, unit="kg"):
    return {"role": role, "lot_code": lot, "quantity": qty, "unit": unit}


def test_held_is_received_minus_shipped_minus_sold_per_lot_and_unit() -> None:
    held = held_at([row("received", qty=100), row("shipped_from", qty=30), row("sold", qty=5),
                    row("received", lot="L2", qty=7, unit="box")])
    assert [(h.lot_code, h.unit, h.quantity) for h in held] == [
        ("L1", "kg", Decimal(65)), ("L2", "box", Decimal(7))]


def test_production_and_transformation() -> None:
    # made here by a transformation, partly shipped; an input partly consumed
    held = held_at([row("transformed_from", "X", 220), row("shipped_from", "X", 100),
                    row("received", "A", 200), row("transformed_into", "A", 150)])
    assert {h.lot_code: h.quantity for h in held} == {"A": 50, "X": 120}


def test_in_transit_counts_as_held_and_unknowns_stay_unknown() -> None:
    [transit] = held_at([row("shipped_to", qty=40)])
    assert transit.quantity == 40
    [unknown] = held_at([row("received", qty=None)])
    assert unknown.quantity is None
    [sampled] = held_at([row("sampled", qty=None)])
    assert sampled.quantity is None


def test_more_out_than_in_is_zero_and_flagged() -> None:
    [h] = held_at([row("received", qty=10), row("shipped_from", qty=15)])
    assert h.quantity == 0 and h.inconsistent


def test_recall_classes_and_deadlines() -> None:
    s = RecallSettings()
    assert s.deadline("critical", NOW) == NOW + timedelta(hours=24)
    assert s.deadline("warning", NOW) == NOW + timedelta(hours=48)
    s3 = recall_settings({"FOODTRACE_RECALL_CLASSES": "warning=3"})
    assert s3.deadline("warning", NOW) == NOW + timedelta(hours=72)
    assert s3.recall_class("critical") == 1
    assert s3.recall_class("unknown") == 1  # strictest when in doubt
    with pytest.raises(ValueError, match="1, 2 or 3"):
        parse_classes("critical=4")
    with pytest.raises(ValueError, match="severity=class"):
        parse_classes("urgent=1")


def test_actions() -> None:
    assert action_for("critical", "retailer") == "withdraw"
    assert action_for("warning", "retailer") == "stop_sale"
    assert action_for("warning", "wholesale_market") == "stop_sale"
    assert action_for("warning", "distributor") == "hold_for_testing"


def _alert(severity="warning", status="open", locations=None, version=1):
    return {
        "alert_id": "00000000-0000-0000-0000-0000000000aa", "version": version,
        "status": status, "severity": severity, "lot_code": "L1",
        "affected_lots": [{"lot_code": "L1", "product_code": "P"}],
        "affected_locations": locations if locations is not None else [
            {"location_id": "shop", "kind": "retailer", "city": "shenzhen",
             "holdings": [row("received", qty=100), row("sold", qty=5)]},
            {"location_id": "dc", "kind": "distributor", "city": "foshan",
             "holdings": [row("received", qty=50), row("shipped_from", qty=50)]},
            {"location_id": "truck", "kind": "distributor", "city": "foshan", "holdings": []},
        ],
    }


def _live(p) -> Live:
    return Live(p.notice_id, p.location_id, p.actor_id, p.action, p.lots)


def test_plan_one_notice_per_business_with_quantities() -> None:
    out = plan(_alert(), {"shop": "shop-co", "dc": "dc-co"}, [], RecallSettings(), NOW)
    got = {p.actor_id: (p.action, p.lots, p.deadline, p.supersedes) for p in out}
    assert got == {
        "shop-co": ("stop_sale", [{"lot_code": "L1", "product_code": "P", "quantity_held": 95,
                                   "unit": "kg"}], NOW + timedelta(hours=48), None),
        "dc-co": ("hold_for_testing", [{"lot_code": "L1", "product_code": "P",
                                        "quantity_held": 0, "unit": "kg"}],
                  NOW + timedelta(hours=48), None),
    }  # the truck: no business recorded holding anything there
    payload = out[0].payload
    for key in ("notice_id", "alert_id", "alert_version", "location_id", "lots", "action",
                "deadline", "issued_at"):
        assert key in payload


def test_plan_supersedes_what_changed_and_releases_who_left() -> None:
    first = plan(_alert(), {"shop": "shop-co", "dc": "dc-co"}, [], RecallSettings(), NOW)
    live = [_live(p) for p in first]
    # same scope: nothing new
    assert plan(_alert(), {"shop": "shop-co", "dc": "dc-co"}, live, RecallSettings(), NOW) == []
    # the shop sold 10 more, the dc is gone, a new market appears
    later = _alert(version=2, locations=[
        {"location_id": "shop", "kind": "retailer", "city": "shenzhen",
         "holdings": [row("received", qty=100), row("sold", qty=15)]},
        {"location_id": "mkt", "kind": "wholesale_market", "city": "guangzhou",
         "holdings": [row("received", qty=20)]},
    ])
    ids = iter([UUID(int=i) for i in range(1, 10)])
    out = plan(later, {"shop": "shop-co", "mkt": "mkt-co"}, live, RecallSettings(), NOW,
               new_id=lambda: next(ids))
    by_actor = {p.actor_id: p for p in out}
    before = {p.actor_id: p.notice_id for p in first}
    assert set(by_actor) == {"shop-co", "mkt-co", "dc-co"}
    assert by_actor["shop-co"].supersedes == before["shop-co"]
    assert by_actor["shop-co"].lots[0]["quantity_held"] == 85
    assert by_actor["mkt-co"].supersedes is None
    assert by_actor["dc-co"].action == "released" and by_actor["dc-co"].lots == []
    assert by_actor["dc-co"].payload["release_reason"] == "no_longer_affected"
    assert by_actor["dc-co"].deadline is None


def test_an_upgrade_changes_the_action_and_a_clear_releases_everyone() -> None:
    first = plan(_alert(), {"shop": "shop-co"}, [], RecallSettings(), NOW)
    up = plan(_alert("critical", version=2), {"shop": "shop-co"}, [_live(p) for p in first],
              RecallSettings(), NOW)
    assert [(p.action, p.deadline) for p in up] == [("withdraw", NOW + timedelta(hours=24))]
    cleared = plan(_alert(status="closed", version=3), {"shop": "shop-co"},
                   [_live(p) for p in up], RecallSettings(), NOW)
    assert [(p.action, p.payload["release_reason"]) for p in cleared] == [
        ("released", "alert_cleared")]


def test_state_machine() -> None:
    assert states.on_report("issued", "acknowledged", True) == "acknowledged"
    assert states.on_report("overdue", "acknowledged", True) == "overdue"
    assert states.on_report("overdue", "withdrawn", True) == "withdrawn"
    assert states.on_report("acknowledged", "withdrawn", True) == "withdrawn"
    assert states.on_report("withdrawn", "acknowledged", True) == "withdrawn"
    assert states.on_report("issued", "not_held", False) == "withdrawn"
    assert states.on_report("issued", "not_held", True) == "acknowledged"
    assert states.on_report("superseded", "withdrawn", True) == "superseded"
    assert states.on_report("verified", "withdrawn", True) == "verified"
    deadline = NOW + timedelta(hours=24)
    assert not states.is_overdue("issued", deadline, NOW)
    assert states.is_overdue("issued", deadline, deadline + timedelta(seconds=1))
    assert states.is_overdue("acknowledged", deadline, deadline + timedelta(hours=1))
    assert not states.is_overdue("withdrawn", deadline, deadline + timedelta(hours=1))
    assert states.on_verify("withdrawn") == "verified"
    assert states.on_verify("overdue") == "verified"
    for final in ("verified", "superseded"):
        with pytest.raises(states.TransitionError):
            states.on_verify(final)


def test_report_findings() -> None:
    lots = [{"lot_code": "L1", "unit": "kg", "quantity_held": 95}]
    over = check({"status": "withdrawn", "lots": [{"lot_code": "L1", "quantity": 60, "unit": "kg"}]},
                 lots, {("L1", "kg"): Decimal(40)})
    assert [f.rule for f in over] == ["over_withdrawal"]
    assert check({"status": "withdrawn", "lots": [{"lot_code": "L1", "quantity": 95,
                                                   "unit": "kg"}]}, lots, {}) == []
    assert [f.rule for f in check({"status": "withdrawn", "lots": [
        {"lot_code": "L9", "quantity": 1, "unit": "kg"}]}, lots, {})] == ["lot_not_in_notice"]
    assert [f.rule for f in check({"status": "not_held"}, lots, {})] == [
        "not_held_contradicts_graph"]
    assert check({"status": "not_held"}, [{"lot_code": "L1", "unit": "kg",
                                           "quantity_held": 0}], {}) == []


def test_progress_rows_are_shaped_not_computed() -> None:
    # the figures come from the SQL views (0020); shape() only arranges their rows
    counts = [("a", None, 3, 2, 1, 0, 1, Decimal("0.7500")),
              ("a", "guangzhou", 3, 2, 1, 0, 1, None)]
    units = [("a", None, "kg", Decimal(200), Decimal(150), Decimal("0.7500")),
             ("a", "guangzhou", "kg", Decimal(120), Decimal("37.5"), Decimal("0.3125")),
             ("a", "guangzhou", "box", Decimal(80), Decimal(0), Decimal(0)),
             ("b", None, "kg", Decimal(1), Decimal(1), Decimal(1))]  # no counts row: ignored
    got = shape(counts, units)
    whole = got[("a", None)]
    assert (whole["notices"], whole["answered"], whole["overdue"], whole["share"]) == (3, 2, 1, 0.75)
    assert whole["units"] == {"kg": {"held": 200, "withdrawn_or_accounted": 150, "share": 0.75}}
    city = got[("a", "guangzhou")]
    assert city["share"] is None and list(city["units"]) == ["box", "kg"]
    assert city["units"]["kg"]["withdrawn_or_accounted"] == 37.5
    assert ("b", None) not in got and empty()["share"] is None
