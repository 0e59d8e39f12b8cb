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
        assert rule.code == "kde_missing"


# The KDEs without which an event cannot be placed in the lot graph: its lot lines,
# where and when. Only these quarantine; every other KDE gap is a finding (spec 2.2).
PLACING_KDES = {
    "lots_tlc",
    "lots_qty",
    "lots_product",
    "inputs_tlc",
    "inputs_qty",
    "inputs_product",
    "outputs_tlc",
    "outputs_qty",
    "outputs_product",
    "location_id",
    "event_time_utc",
}
FINDING_KDES = {
    "next_recipient",
    "field_kde",
    "container_kde",
    "reference_document",
    "tlc_source",
    "harvest_farm",
    "harvest_date",
    "catch_kde",
    "destination_location_id",
    "source_location_id",
}
DERIVED_KDES = {"tlc_source", "next_recipient"}  # the lot graph answers them later


def test_placing_kdes_quarantine_and_every_other_kde_is_a_finding() -> None:
    kde = [r for r in CHAIN_RULES if r.name.startswith("kde.")]
    assert {r.column for r in kde} == PLACING_KDES | FINDING_KDES
    assert not PLACING_KDES & FINDING_KDES
    for rule in kde:
        if rule.column in PLACING_KDES:
            assert (rule.on_failure, rule.resolves_by) == ("quarantine", None), rule.name
        else:
            assert rule.on_failure == "finding", rule.name
            assert rule.severity == "warning", rule.name
            want = "derived" if rule.column in DERIVED_KDES else None
            assert rule.resolves_by == want, rule.name
    # every event type has placing KDEs that quarantine and a reference document finding
    for event_type in EVENT_TYPES:
        own = {r.column: r for r in kde if r.when == ("event_type", (event_type,))}
        assert own["location_id"].on_failure == "quarantine"
        assert own["event_time_utc"].on_failure == "quarantine"
        assert own["reference_document"].on_failure == "finding"
    findings = {r.name for r in kde if r.on_failure == "finding"}
    assert {
        "kde.receiving.tlc_source",
        "kde.shipping.tlc_source",
        "kde.harvesting.next_recipient",
        "kde.shipping.reference_document",
        "kde.sale.reference_document",
        "kde.initial_packing.harvest_date",
    } <= findings
    assert {
        "kde.shipping.lots_tlc",
        "kde.transformation.outputs_tlc",
        "kde.transformation.inputs_qty",
        "kde.sale.lots_tlc",
    }.isdisjoint(findings)


def test_only_a_missing_placing_kde_cites_the_contract_when_no_section_does() -> None:
    assert RULES_BY_NAME["kde.sale.lots_tlc"].reason_text({}) == (
        "sale event lacks a lot code (required by foodtrace/chain-event/v1)"
    )
    assert RULES_BY_NAME["kde.sale.reference_document"].reason_text({}) == (
        "sale event lacks a reference document type and number"
    )
    assert RULES_BY_NAME["kde.harvesting.tlc_source"].reason_text({}) == (
        "harvesting event lacks TLC source"
    )


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


REFERENCES_NOT_YET_KNOWN = {
    "reference.location_known",
    "reference.products_known",
    "reference.receiving_matches_shipping",
    "reference.lot_known",
    "reference.sampled_location_known",
    "reference.product_known",
}


def test_exactly_which_rules_are_findings() -> None:
    assert {r.on_failure for r in ALL_RULES} == {"quarantine", "finding"}  # no "hold" left
    findings = {
        r.name for r in ALL_RULES if r.on_failure == "finding" and not r.name.startswith("kde.")
    }
    assert findings == REFERENCES_NOT_YET_KNOWN | {
        "reference.tlc_assigned_once",
        "mass_balance.transformation_yield",
        "mass_balance.shipped_not_more_than_held",
        "timestamp.event_time_not_future",
        "timestamp.received_before_shipped",
        "timestamp.tested_not_future",
        "timestamp.sampled_not_future",
        "timestamp.tested_after_sampled",
        "epcis.mapping",  # what an EPCIS event's mapping could not read
    }
    # a row whose values, units or ranges are wrong, or master data that is, quarantines
    for name in (
        "chain.event_type",
        "chain.lots_only_where_allowed",
        "lab.lot_code_present",
        "lab.confirmatory_has_value",
        "units.known_unit",
        "units.unit_fits_analyte",
        "range.concentration",
        "timestamp.tested_at_valid",
        "location.city",
        "range.latitude",
        "reference.category_known",
    ):
        assert RULES_BY_NAME[name].on_failure == "quarantine", name
    assert all(r.resolves_by is None for r in ALL_RULES if r.on_failure == "quarantine")


def test_unknown_references_are_info_findings_resolved_when_they_arrive() -> None:
    arriving = {r.name for r in ALL_RULES if r.resolves_by == "reference_arrived"}
    assert arriving == REFERENCES_NOT_YET_KNOWN
    for name in REFERENCES_NOT_YET_KNOWN:
        rule = RULES_BY_NAME[name]
        assert (rule.on_failure, rule.severity, rule.code) == ("finding", "info", "reference")
        assert rule.column  # the column whose value a later run looks up
    derived = {r.name for r in ALL_RULES if r.resolves_by == "derived"}
    assert derived == {r.name for r in CHAIN_RULES if r.column in DERIVED_KDES}
    assert {"kde.receiving.tlc_source", "kde.harvesting.next_recipient"} <= derived


def test_finding_severities() -> None:
    severities = {
        r.name: r.severity
        for r in ALL_RULES
        if r.on_failure == "finding" and r.name not in REFERENCES_NOT_YET_KNOWN
    }
    assert {n for n, s in severities.items() if s == "error"} == {"reference.tlc_assigned_once"}
    assert set(severities.values()) == {"warning", "error"}


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
