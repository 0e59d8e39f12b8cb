"""The seed data of 0006_alerts.sql agrees with the reference codes and limits.md."""

from __future__ import annotations

from decimal import Decimal

from foodtrace.alerts import limits
from foodtrace.reference import ANALYTES, FOOD_CATEGORIES


def test_food_categories_equal_the_reference_tree(conn) -> None:
    rows = conn.execute("SELECT category, parent, name_en, name_zh FROM core.food_categories")
    assert {r[0]: tuple(r[1:]) for r in rows} == FOOD_CATEGORIES


def test_limits_use_reference_codes_and_flag_unverified_rows(conn) -> None:
    table = limits.load(conn)
    assert {a for a, _ in table.limits} <= set(ANALYTES)
    assert {c for _, c in table.limits} <= set(FOOD_CATEGORIES)
    verified = {key: lim.verified for key, lim in table.limits.items()}
    # read from the GB 2762-2022 database: verified
    for key in [
        ("lead", "brassica_vegetables"),
        ("lead", "vegetable_products"),
        ("cadmium", "vegetables"),
        ("total_mercury", "vegetables"),
        ("total_arsenic", "vegetables"),
        ("chromium", "vegetables"),
    ]:
        assert verified[key] is True, key
    # marked "(verify)" in limits.md: shipped, but flagged
    for key in [
        ("lead", "leafy_vegetables"),
        ("cadmium", "leafy_vegetables"),
        ("omethoate", "vegetables"),
        ("enrofloxacin_ciprofloxacin", "meat"),
    ]:
        assert verified[key] is False, key


def test_lookup_against_the_seeded_table(conn) -> None:
    table = limits.load(conn)
    spinach_lead = table.lookup("lead", "leafy_vegetables")
    assert (spinach_lead.limit_mg_per_kg, spinach_lead.verified) == (Decimal("0.3"), False)
    choy_sum_lead = table.lookup("lead", "brassica_vegetables")
    assert (choy_sum_lead.limit_mg_per_kg, choy_sum_lead.verified) == (Decimal("0.2"), True)
    enro = table.lookup("enrofloxacin_ciprofloxacin", "livestock_meat")
    assert (enro.source_value, enro.source_unit, enro.limit_mg_per_kg) == (
        Decimal(100),
        "ug/kg",
        Decimal("0.1"),
    )
    assert table.lookup("clenbuterol", "meat_products").kind == "prohibited"
    assert table.lookup("cadmium", "root_tuber_vegetables").limit_mg_per_kg is None
