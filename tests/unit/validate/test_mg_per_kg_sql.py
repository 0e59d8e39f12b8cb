"""The mg/kg conversion of validation's SQL comes from the table alerts use."""

from __future__ import annotations

from decimal import Decimal

from foodtrace.alerts.limits import to_mg_per_kg
from foodtrace.reference import MASS_UNITS_TO_MG_PER_KG, UNITS
from foodtrace.validate import sql


def test_every_mass_unit_is_converted_in_sql_as_in_python() -> None:
    assert set(MASS_UNITS_TO_MG_PER_KG) == set(UNITS) - {"%"}
    expr = sql.mg_per_kg("v", "u")
    assert expr == "CASE u WHEN 'mg/kg' THEN v WHEN 'ug/kg' THEN v / 1000 END"
    for unit, factor in MASS_UNITS_TO_MG_PER_KG.items():
        divisor = 1 if factor == 1 else int(1 / factor)
        assert to_mg_per_kg(Decimal(250), unit) == Decimal(250) / divisor
        assert f"WHEN '{unit}' THEN v" + (f" / {divisor}" if divisor != 1 else "") in expr
    assert sql.mg_per_kg("b.value", "b.unit") in sql.FRAME_LAB
    assert sql.mg_per_kg("b.value", "b.unit", convert="trim_scale({})") in sql.PROMOTE_LAB[0]
