"""Limits: unit normalisation and the lookup down the food-category tree."""

from __future__ import annotations

from decimal import Decimal

import pytest
from alerts_unit_helpers import limit, table

from foodtrace.alerts.limits import LimitsTable, UnitError, number, to_mg_per_kg


def test_to_mg_per_kg() -> None:
    assert to_mg_per_kg(100, "ug/kg") == Decimal("0.1")
    assert to_mg_per_kg(Decimal("0.3"), "mg/kg") == Decimal("0.3")
    assert to_mg_per_kg(None, "ug/kg") is None
    with pytest.raises(UnitError):
        to_mg_per_kg(55, "%")
    with pytest.raises(UnitError):
        to_mg_per_kg(1, None)


LIMITS = table(
    limit("lead", "vegetables", 0.1, verified=False),
    limit("lead", "brassica_vegetables", 0.2),
    limit("lead", "leafy_vegetables", 0.3, verified=False),
    limit("cadmium", "vegetables", 0.05),
    limit("cadmium", "root_tuber_vegetables", None),
    limit("clenbuterol", "food", 0, kind="prohibited"),
)


@pytest.mark.parametrize(
    ("analyte", "category", "found_on"),
    [
        ("lead", "leafy_vegetables", "leafy_vegetables"),  # its own row
        ("lead", "brassica_vegetables", "brassica_vegetables"),
        ("lead", "root_tuber_vegetables", "vegetables"),  # inherited from the parent
        ("cadmium", "leafy_vegetables", "vegetables"),
        ("cadmium", "root_tuber_vegetables", "root_tuber_vegetables"),  # exclusion row
        ("clenbuterol", "livestock_meat", "food"),  # two levels up to the root
        ("clenbuterol", None, "food"),  # unknown category: the root still applies
        ("clenbuterol", "not_a_category", "food"),
        ("lead", "fruit", None),
        # no category known (master data late): the strictest row of the analyte,
        # never "no applicable limit" (spec 4: missing data widens)
        ("lead", None, "vegetables"),
        ("cadmium", None, "vegetables"),  # the exclusion row (no value) is skipped
    ],
)
def test_lookup_takes_the_most_specific_row_up_the_tree(analyte, category, found_on) -> None:
    found = LIMITS.lookup(analyte, category)
    assert (found.category if found else None) == found_on


def test_lookup_survives_a_cycle_in_the_category_data() -> None:
    cyclic = LimitsTable.build([limit("lead", "a", 1)], {"a": "b", "b": "a"})
    assert cyclic.lookup("lead", "b").category == "a"
    assert cyclic.lookup("cadmium", "b") is None


def test_citation_and_json() -> None:
    row = limit("lead", "brassica_vegetables", 0.2)
    assert row.citation == "GB 2762-2022, brassica_vegetables row"
    assert row.to_json()["limit_mg_per_kg"] == 0.2
    assert number(Decimal("0.10000000000")) == 0.1
    assert number(Decimal("12.000")) == 12
