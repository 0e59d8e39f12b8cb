"""The rule catalogue (pure): names, CFR citations, reason texts, reference codes."""

from __future__ import annotations

import re

import pytest

from foodtrace.reference import EVENT_TYPES, FOOD_CATEGORIES
from foodtrace.validate.rules import (
    _KDES,
    ALL_RULES,
    AQUATIC_CATEGORIES,
    CHAIN_RULES,
    PRODUCE_CATEGORIES,
    RULES_BY_NAME,
    Rule,
    cap_mg_per_kg,
)

CFR = re.compile(r"^21 CFR 1\.13(25|30|35|40|45|50)(\([a-z0-9]+\))*$|^21 CFR 1\.1320$")
CTE_SECTION = {
    "harvesting": "1.1325(a)",
    "cooling": "1.1325(b)",
    "initial_packing": "1.1330(a)",
    "first_receiving": "1.1335",
    "shipping": "1.1340(a)",
    "receiving": "1.1345(a)",
    "transformation": "1.1350(a)",
}


def test_rule_names_are_unique_and_indexed() -> None:
    assert len({r.name for r in ALL_RULES}) == len(ALL_RULES)
    assert set(RULES_BY_NAME) == {r.name for r in ALL_RULES}


def test_every_cfr_citation_is_well_formed() -> None:
    cited = [r for r in ALL_RULES if r.cfr_section]
    assert cited
    for rule in cited:
        assert CFR.match(rule.cfr_section), rule


def test_every_critical_tracking_event_has_kdes_cited_to_its_own_section() -> None:
    for event_type in EVENT_TYPES:
        kdes = [k for k in _KDES if k[0] == event_type]
        assert kdes, event_type
        if event_type == "sale":  # not a CTE: no citation
            assert all(cfr is None for *_, cfr in kdes)
            continue
        for _, _, _, cfr in kdes:
            if cfr is not None:
                assert cfr.startswith(f"21 CFR {CTE_SECTION[event_type]}"), (event_type, cfr)
    # the contract's required fields per CTE are all checked
    for event_type in ("shipping", "receiving"):
        cols = {c for et, _, c, _ in _KDES if et == event_type}
        assert {"tlc_source", "reference_document", "lots_tlc", "lots_qty"} <= cols
    assert ("receiving", "TLC source", "tlc_source", "21 CFR 1.1345(a)(7)") in _KDES
    assert (
        "shipping",
        "the immediate subsequent recipient",
        "destination_location_id",
        "21 CFR 1.1340(a)(4)",
    ) in _KDES


def test_kde_rules_are_conditional_not_null_checks() -> None:
    kde = [r for r in CHAIN_RULES if r.name.startswith("kde.")]
    assert len(kde) == len(_KDES)
    for rule in kde:
        assert rule.expectation == "ExpectColumnValuesToNotBeNull"
        assert rule.when and rule.when[0] == "event_type" and len(rule.when[1]) == 1
        assert rule.on_failure == "quarantine"


def test_reason_text_formats_the_row_and_appends_the_section() -> None:
    rule = RULES_BY_NAME["kde.receiving.tlc_source"]
    assert rule.reason_text({}) == "receiving event lacks TLC source (21 CFR 1.1345(a)(7))"
    mass = RULES_BY_NAME["mass_balance.shipped_not_more_than_held"]
    text = mass.reason_text(
        {
            "overshipped_lot": "L1",
            "location_id": "farm-1",
            "shipped_kg": 120.0,
            "available_kg": float("nan"),
        }
    )
    assert text == (
        "lot L1 ships more than it had at farm-1: 120 kg shipped so far against "
        "(none) kg that arrived there (tolerance 5%)"
    )


def test_only_referential_rules_hold() -> None:
    holds = {r.name for r in ALL_RULES if r.on_failure == "hold"}
    assert holds == {
        "reference.location_known",
        "reference.products_known",
        "reference.receiving_matches_shipping",
        "reference.lot_known",
        "reference.sampled_location_known",
        "reference.product_known",
    }


def test_category_groups_follow_the_tree() -> None:
    assert {"vegetables", "leafy_vegetables", "brassica_vegetables", "fruit"} <= set(
        PRODUCE_CATEGORIES
    )
    assert "vegetable_products" not in PRODUCE_CATEGORIES  # processed: not a harvest
    assert set(AQUATIC_CATEGORIES) == {"aquatic_products", "fish", "crustaceans"}
    assert set(PRODUCE_CATEGORIES) <= set(FOOD_CATEGORIES)


@pytest.mark.parametrize(("analyte", "cap"), [("lead", 1000.0), ("nitrite", 10000.0)])
def test_sanity_caps(analyte: str, cap: float) -> None:
    assert cap_mg_per_kg(analyte) == cap


def test_rule_column_is_the_checked_column() -> None:
    pair = RULES_BY_NAME["timestamp.tested_after_sampled"]
    assert pair.column == "tested_at_utc"
    assert Rule("x", "s", "E", {"column": "c"}, "m").column == "c"
