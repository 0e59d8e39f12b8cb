"""Builders for the alerts unit tests (pure data, no database)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from foodtrace.alerts.limits import Limit, LimitsTable
from foodtrace.alerts.rules import LabResult
from foodtrace.reference import FOOD_CATEGORIES

TESTED = datetime(2026, 11, 28, 1, 30, tzinfo=UTC)


def lab(**kw: Any) -> LabResult:
    base: dict[str, Any] = {
        "message_id": uuid.uuid4(),
        "tested_at": TESTED,
        "lab_id": "lab-gz-01",
        "sample_id": "S-1",
        "lot_code": "LOT-1",
        "product_code": "VEG-SPINACH",
        "category": "leafy_vegetables",
        "sampled_at": TESTED - timedelta(hours=1),
        "sampled_location_id": "market-gz-01",
        "test_kind": "confirmatory",
        "method": "GB 5009.268 ICP-MS",
        "analyte": "lead",
        "value": None,
        "unit": None,
        "value_mg_per_kg": None,
        "result": None,
    }
    base.update(kw)
    for key in ("value", "value_mg_per_kg"):
        if base[key] is not None and not isinstance(base[key], Decimal):
            base[key] = Decimal(str(base[key]))
    return LabResult(**base)


def limit(
    analyte: str,
    category: str,
    value: float | None,
    unit: str | None = "mg/kg",
    kind: str = "contaminant_max",
    verified: bool = True,
) -> Limit:
    source = None if value is None else Decimal(str(value))
    mg = None if source is None else source / (1000 if unit == "ug/kg" else 1)
    return Limit(
        analyte,
        category,
        kind,
        source,
        unit if value is not None else None,
        mg,
        None,
        "GB 2762",
        "2022",
        f"{category} row",
        verified,
        None,
    )


def table(*limits: Limit) -> LimitsTable:
    parents = {code: parent for code, (parent, _en, _zh) in FOOD_CATEGORIES.items()}
    return LimitsTable.build(limits, parents)
