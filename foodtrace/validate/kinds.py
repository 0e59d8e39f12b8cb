"""The message kinds validation works through, as data: where each lands, in which
order its rows are judged, its suites, and the SQL (sql.py) that stages, frames,
promotes and answers earlier findings for it; plus the parameters those frame and
resolve statements bind."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from foodtrace.reference import ANALYTES, FOOD_CATEGORIES, QUANTITY_UNITS
from foodtrace.validate import sql
from foodtrace.validate.rules import (
    AQUATIC_CATEGORIES,
    CHAIN_EVENTS,
    LAB_RESULTS,
    LOCATIONS,
    PERCENT_ANALYTES,
    PRODUCE_CATEGORIES,
    PRODUCTS,
    RECEIVED_BEFORE_SHIPPED_TOLERANCE_S,
    cap_mg_per_kg,
)


@dataclass(frozen=True)
class Kind:
    name: str
    table: str  # the landing table, schema-qualified
    order_by: str  # SQL: the order its queued rows are judged in (sql.snapshot)
    suites: tuple[str, ...]
    stage: tuple[str, ...]
    frames: tuple[tuple[str, str], ...]  # (suite, frame SQL)
    promote: tuple[str, ...]
    resolve: tuple[str, ...]  # earlier findings the batch may answer
    exclude: str | None = None  # in-batch references: see sql.EXCLUDE_CHAIN
    related: str | None = None  # the rows to judge again then: sql.RELATED_CHAIN
    analyze: tuple[str, ...] = ()  # core tables whose statistics the next batch relies on


KINDS: tuple[Kind, ...] = (
    Kind(
        "master_data",
        "landing.master_data",
        "l.ingest_seq",
        (LOCATIONS, PRODUCTS),
        sql.STAGE_MASTER,
        ((LOCATIONS, sql.FRAME_LOCATIONS), (PRODUCTS, sql.FRAME_PRODUCTS)),
        sql.PROMOTE_MASTER,
        (sql.RESOLVE_MASTER,),
    ),
    Kind(
        "chain_event",
        "landing.chain_events",
        "ops.try_timestamptz(l.payload->>'event_time') NULLS FIRST, l.ingest_seq",
        (CHAIN_EVENTS,),
        sql.STAGE_CHAIN,
        ((CHAIN_EVENTS, sql.FRAME_CHAIN),),
        sql.PROMOTE_CHAIN,
        sql.RESOLVE_CHAIN,
        exclude=sql.EXCLUDE_CHAIN,
        related=sql.RELATED_CHAIN,
        analyze=("core.events", "core.event_lots", "core.lots"),
    ),
    Kind(
        "lab_result",
        "landing.lab_results",
        "l.ingest_seq",
        (LAB_RESULTS,),
        sql.STAGE_LAB,
        ((LAB_RESULTS, sql.FRAME_LAB),),
        sql.PROMOTE_LAB,
        (),
    ),
)

KIND_NAMES: tuple[str, ...] = tuple(k.name for k in KINDS)


def frame_params(now: datetime) -> dict[str, Any]:
    """What the FRAME queries bind; `now` is the reference for "in the future"."""
    return {
        "now": now,
        "units": list(QUANTITY_UNITS),
        "produce": list(PRODUCE_CATEGORIES),
        "aquatic": list(AQUATIC_CATEGORIES),
        "percent_analytes": sorted(PERCENT_ANALYTES),
        "cap_analytes": list(ANALYTES),
        "cap_values": [cap_mg_per_kg(a) for a in ANALYTES],
        "categories": list(FOOD_CATEGORIES),
        "early_tolerance_s": RECEIVED_BEFORE_SHIPPED_TOLERANCE_S,
    }


# The rule names each RESOLVE_* statement answers.
RESOLVE_PARAMS: dict[str, Any] = {
    "tlc_rules": ["kde.shipping.tlc_source", "kde.receiving.tlc_source"],
    "recipient_rules": ["kde.harvesting.next_recipient", "kde.cooling.next_recipient"],
    "location_rules": ["reference.location_known", "reference.sampled_location_known"],
    "product_rules": ["reference.products_known", "reference.product_known"],
}
