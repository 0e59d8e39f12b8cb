"""The validation rules, as data: one `Rule` per great_expectations expectation.

Pure (no great_expectations import): suites.py turns these into GE suites once per
process; promote.py computes the columns they name (some in SQL against core:
referential and mass-balance facts become columns such as `unknown_lot` or
`shipped_ratio`, which an expectation then asserts); decide.py maps failing rows
to reasons. So every check, row-local or SQL-derived, is reported the same way:
as a GE expectation result with its rule name and, for FSMA 204 Key Data
Elements, the 21 CFR section (see ../shared/domain/fsma204.md).

`on_failure` (spec 2.4: missing data widens and flags an answer, never narrows it):
- quarantine: the row cannot be placed in the lot graph at all (no lot code, no
  location or time, a transformation without outputs, a value that is no number
  or unit); it goes to landing.quarantine (stage 'validation').
- finding: the row is promoted and traced all the same, and the failure is
  recorded on it in core.findings with its severity: a KDE gap, no reference
  document, a mass-balance excess, a time anomaly, or a reference that is not
  known yet (a location, product or lot; resolved when it arrives). Findings
  whose rule has a `resolves_by` are answered later by the graph itself
  (`derived`: the TLC source from the event that assigned the lot code, a
  harvest's next recipient from the lot's first shipping) or by the reference
  arriving (`reference_arrived`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from foodtrace.reference import (
    ANALYTES,
    CITY_CODES,
    EVENT_TYPES,
    FOOD_CATEGORIES,
    LOCATION_KINDS,
    MAX_CLOCK_SKEW,
    RESULTS,
    TEST_KINDS,
    UNITS,
)

OnFailure = Literal["quarantine", "finding"]
Severity = Literal["info", "warning", "error"]
ResolvesBy = Literal["derived", "reference_arrived"]

# Suites, one per message shape.
CHAIN_EVENTS = "foodtrace.chain_events"
LAB_RESULTS = "foodtrace.lab_results"
LOCATIONS = "foodtrace.locations"
PRODUCTS = "foodtrace.products"
SUITES: tuple[str, ...] = (CHAIN_EVENTS, LAB_RESULTS, LOCATIONS, PRODUCTS)

# Tolerances and sanity bounds.
CLOCK_SKEW_S = MAX_CLOCK_SKEW.total_seconds()  # ahead of our clock, not yet "future"
MASS_BALANCE_TOLERANCE = 0.05  # outputs / shipments may exceed what went in by 5 %
PERCENT_ANALYTES: frozenset[str] = frozenset({"organophosphates_carbamates"})  # enzyme inhibition
DEFAULT_CAP_MG_PER_KG = 1_000.0  # 0.1 % of the sample: far above any real residue
ANALYTE_CAP_MG_PER_KG: dict[str, float] = {
    # additives and adulterants legitimately reach hundreds of mg/kg
    "nitrite": 10_000.0,
    "formaldehyde": 10_000.0,
    "borax": 10_000.0,
}
MASS_UNITS_KG: dict[str, float] = {"kg": 1.0, "t": 1000.0}
# A receiving dated before the shipping it matches: clocks of two businesses
# differ by minutes, not by this much.
RECEIVED_BEFORE_SHIPPED_TOLERANCE_S = 900.0


def cap_mg_per_kg(analyte: str) -> float:
    return ANALYTE_CAP_MG_PER_KG.get(analyte, DEFAULT_CAP_MG_PER_KG)


def _descendants(*roots: str) -> tuple[str, ...]:
    """Categories under (and including) `roots` in the FOOD_CATEGORIES tree."""
    out = set(roots)
    changed = True
    while changed:
        changed = False
        for code, (parent, _, _) in FOOD_CATEGORIES.items():
            if parent in out and code not in out:
                out.add(code)
                changed = True
    return tuple(sorted(out))


# Harvest-area KDEs depend on what was harvested: a field for produce
# (21 CFR 1.1325(a)(1)(v)), a container for aquaculture ((a)(1)(vi)).
PRODUCE_CATEGORIES: tuple[str, ...] = _descendants("vegetables", "fruit")
AQUATIC_CATEGORIES: tuple[str, ...] = _descendants("aquatic_products")


@dataclass(frozen=True)
class Rule:
    """One expectation. `message` is formatted with the failing row's columns."""

    name: str  # stable id, e.g. "kde.receiving.tlc_source"
    suite: str
    expectation: str  # great_expectations.expectations class name
    kwargs: dict[str, Any]
    message: str
    cfr_section: str | None = None  # "21 CFR 1.1345(a)(7)"
    when: tuple[str, tuple[str, ...]] | None = None  # row condition: column IN values
    on_failure: OnFailure = "quarantine"
    code: str = "validation"  # reason code: kde_missing, timestamp, reference, ...
    context: tuple[str, ...] = field(default=())  # extra columns the message uses
    severity: Severity = "warning"  # of the finding (on_failure == "finding")
    resolves_by: ResolvesBy | None = None  # how a later run may answer the finding

    @property
    def column(self) -> str | None:
        return self.kwargs.get("column") or self.kwargs.get("column_A")

    def reason_text(self, row: dict[str, Any]) -> str:
        text = self.message.format_map(_Blanks(row))
        return f"{text} ({self.cfr_section})" if self.cfr_section else text


class _Blanks(dict[str, str]):
    """format_map helper: missing or null values print as '(none)'."""

    def __init__(self, row: dict[str, Any]) -> None:
        super().__init__({k: _show(v) for k, v in row.items()})

    def __missing__(self, key: str) -> str:
        return "(none)"


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    try:
        if value != value:  # NaN / NaT
            return "(none)"
    except (TypeError, ValueError):
        pass
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def _not_null(column: str) -> dict[str, Any]:
    return {"column": column}


# --------------------------------------------------------------------------------------
# FSMA 204 Key Data Elements per Critical Tracking Event.
# (event type, KDE label, column, CFR section). Columns are computed in SQL
# (promote.py): a KDE column is NULL exactly when the KDE is missing.
# Section numbers follow 21 CFR 1.1325-1.1350 (the items are numbered in the order
# of ../shared/domain/fsma204.md).
# --------------------------------------------------------------------------------------
_KDES: tuple[tuple[str, str, str, str | None], ...] = (
    # Harvesting, 21 CFR 1.1325(a)(1)
    (
        "harvesting",
        "the immediate subsequent recipient",
        "next_recipient",
        "21 CFR 1.1325(a)(1)(i)",
    ),
    ("harvesting", "the commodity (product code)", "lots_product", "21 CFR 1.1325(a)(1)(ii)"),
    ("harvesting", "a quantity and unit of measure", "lots_qty", "21 CFR 1.1325(a)(1)(iii)"),
    ("harvesting", "a lot code for the harvested lot", "lots_tlc", "21 CFR 1.1325(a)(1)"),
    ("harvesting", "the farm location", "location_id", "21 CFR 1.1325(a)(1)(iv)"),
    ("harvesting", "the field or growing area (produce)", "field_kde", "21 CFR 1.1325(a)(1)(v)"),
    (
        "harvesting",
        "the container harvested from (aquaculture)",
        "container_kde",
        "21 CFR 1.1325(a)(1)(vi)",
    ),
    ("harvesting", "a valid harvest date", "event_time_utc", "21 CFR 1.1325(a)(1)(vii)"),
    (
        "harvesting",
        "a reference document type and number",
        "reference_document",
        "21 CFR 1.1325(a)(1)(viii)",
    ),
    ("harvesting", "TLC source", "tlc_source", None),  # required by foodtrace/chain-event/v1
    # Cooling, 21 CFR 1.1325(b)(1)
    ("cooling", "the immediate subsequent recipient", "next_recipient", "21 CFR 1.1325(b)(1)(i)"),
    ("cooling", "the commodity (product code)", "lots_product", "21 CFR 1.1325(b)(1)(ii)"),
    ("cooling", "a quantity and unit of measure", "lots_qty", "21 CFR 1.1325(b)(1)(iii)"),
    ("cooling", "a lot code for the cooled lot", "lots_tlc", "21 CFR 1.1325(b)(1)"),
    ("cooling", "the cooling location", "location_id", "21 CFR 1.1325(b)(1)(iv)"),
    ("cooling", "a valid cooling date", "event_time_utc", "21 CFR 1.1325(b)(1)(v)"),
    ("cooling", "the farm where the food was harvested", "harvest_farm", "21 CFR 1.1325(b)(1)(vi)"),
    (
        "cooling",
        "a reference document type and number",
        "reference_document",
        "21 CFR 1.1325(b)(1)(vii)",
    ),
    # Initial packing, 21 CFR 1.1330(a)
    (
        "initial_packing",
        "the farm where the food was harvested",
        "harvest_farm",
        "21 CFR 1.1330(a)(4)",
    ),
    ("initial_packing", "the harvest date", "harvest_date", "21 CFR 1.1330(a)(8)"),
    ("initial_packing", "the traceability lot code", "lots_tlc", "21 CFR 1.1330(a)(11)"),
    ("initial_packing", "a product description", "lots_product", "21 CFR 1.1330(a)(12)"),
    ("initial_packing", "a quantity and unit of measure", "lots_qty", "21 CFR 1.1330(a)(13)"),
    ("initial_packing", "TLC source", "tlc_source", "21 CFR 1.1330(a)(14)"),
    ("initial_packing", "the packing location", "location_id", "21 CFR 1.1330(a)(14)"),
    ("initial_packing", "a valid packing date", "event_time_utc", "21 CFR 1.1330(a)(15)"),
    (
        "initial_packing",
        "a reference document type and number",
        "reference_document",
        "21 CFR 1.1330(a)(16)",
    ),
    # First land-based receiving, 21 CFR 1.1335
    ("first_receiving", "the traceability lot code", "lots_tlc", "21 CFR 1.1335(a)"),
    ("first_receiving", "a product description", "lots_product", "21 CFR 1.1335(b)"),
    ("first_receiving", "a quantity and unit of measure", "lots_qty", "21 CFR 1.1335(c)"),
    (
        "first_receiving",
        "the harvest date range and area of the trip",
        "catch_kde",
        "21 CFR 1.1335(d)",
    ),
    ("first_receiving", "TLC source", "tlc_source", "21 CFR 1.1335(e)"),
    ("first_receiving", "the receiver location", "location_id", "21 CFR 1.1335(e)"),
    ("first_receiving", "a valid landing date", "event_time_utc", "21 CFR 1.1335(f)"),
    (
        "first_receiving",
        "a reference document type and number",
        "reference_document",
        "21 CFR 1.1335(g)",
    ),
    # Shipping, 21 CFR 1.1340(a)
    ("shipping", "the traceability lot code", "lots_tlc", "21 CFR 1.1340(a)(1)"),
    ("shipping", "a quantity and unit of measure", "lots_qty", "21 CFR 1.1340(a)(2)"),
    ("shipping", "a product description", "lots_product", "21 CFR 1.1340(a)(3)"),
    (
        "shipping",
        "the immediate subsequent recipient",
        "destination_location_id",
        "21 CFR 1.1340(a)(4)",
    ),
    ("shipping", "the ship-from location", "location_id", "21 CFR 1.1340(a)(5)"),
    ("shipping", "a valid ship date", "event_time_utc", "21 CFR 1.1340(a)(6)"),
    ("shipping", "TLC source", "tlc_source", "21 CFR 1.1340(a)(7)"),
    (
        "shipping",
        "a reference document type and number",
        "reference_document",
        "21 CFR 1.1340(a)(8)",
    ),
    # Receiving, 21 CFR 1.1345(a)
    ("receiving", "the traceability lot code", "lots_tlc", "21 CFR 1.1345(a)(1)"),
    ("receiving", "a quantity and unit of measure", "lots_qty", "21 CFR 1.1345(a)(2)"),
    ("receiving", "a product description", "lots_product", "21 CFR 1.1345(a)(3)"),
    ("receiving", "the immediate previous source", "source_location_id", "21 CFR 1.1345(a)(4)"),
    ("receiving", "the receiving location", "location_id", "21 CFR 1.1345(a)(5)"),
    ("receiving", "a valid receive date", "event_time_utc", "21 CFR 1.1345(a)(6)"),
    ("receiving", "TLC source", "tlc_source", "21 CFR 1.1345(a)(7)"),
    (
        "receiving",
        "a reference document type and number",
        "reference_document",
        "21 CFR 1.1345(a)(8)",
    ),
    # Transformation, 21 CFR 1.1350(a)
    ("transformation", "input lot codes", "inputs_tlc", "21 CFR 1.1350(a)(1)(i)"),
    ("transformation", "input product descriptions", "inputs_product", "21 CFR 1.1350(a)(1)(ii)"),
    ("transformation", "input quantities and units", "inputs_qty", "21 CFR 1.1350(a)(1)(iii)"),
    ("transformation", "new lot codes for its outputs", "outputs_tlc", "21 CFR 1.1350(a)(2)(i)"),
    ("transformation", "TLC source", "tlc_source", "21 CFR 1.1350(a)(2)(ii)"),
    ("transformation", "the transformation location", "location_id", "21 CFR 1.1350(a)(2)(ii)"),
    ("transformation", "a valid completion date", "event_time_utc", "21 CFR 1.1350(a)(2)(iii)"),
    ("transformation", "output product descriptions", "outputs_product", "21 CFR 1.1350(a)(2)(iv)"),
    ("transformation", "output quantities and units", "outputs_qty", "21 CFR 1.1350(a)(2)(v)"),
    (
        "transformation",
        "a reference document type and number",
        "reference_document",
        "21 CFR 1.1350(a)(2)(vi)",
    ),
    # A retail sale is not a Critical Tracking Event; the contract still wants these.
    ("sale", "a lot code", "lots_tlc", None),
    ("sale", "a quantity and unit of measure", "lots_qty", None),
    ("sale", "a product code", "lots_product", None),
    ("sale", "the point of sale", "location_id", None),
    ("sale", "a valid sale date", "event_time_utc", None),
    ("sale", "a reference document type and number", "reference_document", None),
)


# KDE columns without which an event cannot be placed in the lot graph: the
# lines (lot, product, quantity), where and when. A gap here quarantines; every
# other KDE gap is a finding on the promoted event.
PLACING_COLUMNS: frozenset[str] = frozenset(
    {
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
)
# KDEs the lot graph can answer once the event that knows them is there.
DERIVABLE_COLUMNS: frozenset[str] = frozenset({"tlc_source", "next_recipient"})


def _kde_rules() -> Iterator[Rule]:
    for event_type, label, column, cfr in _KDES:
        placing = column in PLACING_COLUMNS
        yield Rule(
            name=f"kde.{event_type}.{column}",
            suite=CHAIN_EVENTS,
            expectation="ExpectColumnValuesToNotBeNull",
            kwargs=_not_null(column),
            message=f"{event_type} event lacks {label}"
            + ("" if cfr or not placing else " (required by foodtrace/chain-event/v1)"),
            cfr_section=cfr,
            when=("event_type", (event_type,)),
            code="kde_missing",
            on_failure="quarantine" if placing else "finding",
            resolves_by="derived" if column in DERIVABLE_COLUMNS else None,
        )


_LIMIT = 1.0 + MASS_BALANCE_TOLERANCE

CHAIN_RULES: tuple[Rule, ...] = (
    Rule(
        "chain.event_type",
        CHAIN_EVENTS,
        "ExpectColumnValuesToBeInSet",
        {"column": "event_type", "value_set": list(EVENT_TYPES)},
        "event_type {event_type} is not a known Critical Tracking Event",
        code="value",
    ),
    Rule(
        "chain.event_type_present",
        CHAIN_EVENTS,
        "ExpectColumnValuesToNotBeNull",
        _not_null("event_type"),
        "event has no event_type",
        code="value",
    ),
    Rule(
        "chain.lots_only_where_allowed",
        CHAIN_EVENTS,
        "ExpectColumnValuesToBeNull",
        {"column": "misplaced_lines"},
        "{event_type} event lists {misplaced_lines} (transformations use inputs/outputs, "
        "every other event uses lots)",
        code="value",
    ),
    Rule(
        "timestamp.event_time_not_future",
        CHAIN_EVENTS,
        "ExpectColumnValuesToBeBetween",
        {"column": "seconds_in_future", "max_value": CLOCK_SKEW_S},
        "event_time {event_time_raw} is in the future",
        code="timestamp",
        on_failure="finding",
    ),
    *_kde_rules(),
    # Lot codes are globally unique: only one event may assign one.
    Rule(
        "reference.tlc_assigned_once",
        CHAIN_EVENTS,
        "ExpectColumnValuesToBeNull",
        {"column": "tlc_conflict_lot"},
        "lot code {tlc_conflict_lot} was already assigned by another event; a traceability "
        "lot code is assigned once",
        cfr_section="21 CFR 1.1320",
        code="reference",
        on_failure="finding",
        severity="error",
    ),
    # Mass balance (kg and t only; other units are not comparable).
    Rule(
        "mass_balance.transformation_yield",
        CHAIN_EVENTS,
        "ExpectColumnValuesToBeBetween",
        {"column": "transformation_yield", "min_value": 0, "max_value": _LIMIT},
        "transformation outputs ({outputs_kg} kg) exceed its inputs ({inputs_kg} kg) by more "
        f"than {MASS_BALANCE_TOLERANCE:.0%}",
        code="mass_balance",
        on_failure="finding",
    ),
    Rule(
        "mass_balance.shipped_not_more_than_held",
        CHAIN_EVENTS,
        "ExpectColumnValuesToBeBetween",
        {"column": "shipped_ratio", "min_value": 0, "max_value": _LIMIT},
        "lot {overshipped_lot} ships more than it had at {location_id}: {shipped_kg} kg shipped "
        f"so far against {{available_kg}} kg that arrived there (tolerance "
        f"{MASS_BALANCE_TOLERANCE:.0%})",
        code="mass_balance",
        on_failure="finding",
    ),
    Rule(
        "timestamp.received_before_shipped",
        CHAIN_EVENTS,
        "ExpectColumnValuesToBeNull",
        {"column": "early_receipt_lot"},
        "receiving of lot {early_receipt_lot} at {location_id} ({event_time_raw}) is dated "
        "before the shipping it matches ({matched_shipped_at}) by more than "
        f"{RECEIVED_BEFORE_SHIPPED_TOLERANCE_S / 60:g} minutes",
        code="timestamp",
        on_failure="finding",
    ),
    # References not known yet: linked under the id as given, completed on arrival.
    Rule(
        "reference.location_known",
        CHAIN_EVENTS,
        "ExpectColumnValuesToBeNull",
        {"column": "unknown_location"},
        "location {unknown_location} is not known (no master data for it yet)",
        on_failure="finding",
        code="reference",
        severity="info",
        resolves_by="reference_arrived",
    ),
    Rule(
        "reference.products_known",
        CHAIN_EVENTS,
        "ExpectColumnValuesToBeNull",
        {"column": "unknown_product"},
        "product {unknown_product} is not known (no master data for it yet)",
        on_failure="finding",
        code="reference",
        severity="info",
        resolves_by="reference_arrived",
    ),
    Rule(
        "reference.receiving_matches_shipping",
        CHAIN_EVENTS,
        "ExpectColumnValuesToBeNull",
        {"column": "unmatched_lot"},
        "receiving of lot {unmatched_lot} at {location_id} matches no shipping of that lot "
        "from {source_location_id} to this location yet",
        on_failure="finding",
        code="reference",
        severity="info",
        resolves_by="reference_arrived",
    ),
    Rule(
        # What the EPCIS mapping could not read (a line without a lot, a unit
        # foodtrace has no counterpart for, a pallet whose contents are not known):
        # the event is traced with the lines it has, and the gap is shown.
        "epcis.mapping",
        CHAIN_EVENTS,
        "ExpectColumnValuesToBeNull",
        {"column": "epcis_mapping_note"},
        "EPCIS event mapped in part: {epcis_mapping_note}",
        on_failure="finding",
        code="epcis_mapping",
    ),
)

LAB_RULES: tuple[Rule, ...] = (
    *(
        Rule(
            f"lab.{col}_present",
            LAB_RESULTS,
            "ExpectColumnValuesToNotBeNull",
            _not_null(col),
            f"lab result lacks {label}",
            code="missing",
        )
        for col, label in (
            ("sample_id", "sample_id"),
            ("lot_code", "the lot code of the sampled product"),
            ("sampled_location_id", "the sampled location"),
            ("method", "the test method"),
            ("analyte", "the analyte"),
            ("test_kind", "test_kind"),
        )
    ),
    Rule(
        "lab.test_kind",
        LAB_RESULTS,
        "ExpectColumnValuesToBeInSet",
        {"column": "test_kind", "value_set": list(TEST_KINDS)},
        "test_kind {test_kind} is neither rapid nor confirmatory",
        code="value",
    ),
    Rule(
        "lab.analyte",
        LAB_RESULTS,
        "ExpectColumnValuesToBeInSet",
        {"column": "analyte", "value_set": list(ANALYTES)},
        "analyte {analyte} is not in the analyte list",
        code="value",
    ),
    Rule(
        "lab.result",
        LAB_RESULTS,
        "ExpectColumnValuesToBeInSet",
        {"column": "result", "value_set": list(RESULTS)},
        "result {result} is not positive, negative or inconclusive",
        code="value",
    ),
    Rule(
        "lab.rapid_has_result",
        LAB_RESULTS,
        "ExpectColumnValuesToNotBeNull",
        _not_null("result"),
        "a rapid test needs a result (positive, negative or inconclusive)",
        when=("test_kind", ("rapid",)),
        code="missing",
    ),
    Rule(
        "lab.confirmatory_has_value",
        LAB_RESULTS,
        "ExpectColumnValuesToNotBeNull",
        _not_null("value"),
        "a confirmatory result needs a numeric value",
        when=("test_kind", ("confirmatory",)),
        code="missing",
    ),
    Rule(
        "units.value_has_unit",
        LAB_RESULTS,
        "ExpectColumnValuesToNotBeNull",
        _not_null("unit"),
        "value {value} has no unit",
        when=("value_present", ("yes",)),
        code="units",
    ),
    Rule(
        "units.known_unit",
        LAB_RESULTS,
        "ExpectColumnValuesToBeInSet",
        {"column": "unit", "value_set": list(UNITS)},
        "unit {unit} is not one of mg/kg, ug/kg, %",
        code="units",
    ),
    Rule(
        "units.unit_fits_analyte",
        LAB_RESULTS,
        "ExpectColumnValuesToBeNull",
        {"column": "unit_mismatch"},
        "unit {unit} does not fit analyte {analyte} (% is the enzyme-inhibition rate of "
        "organophosphates_carbamates; concentrations are mg/kg or ug/kg)",
        code="units",
    ),
    Rule(
        "range.percent",
        LAB_RESULTS,
        "ExpectColumnValuesToBeBetween",
        {"column": "value", "min_value": 0, "max_value": 100},
        "inhibition rate {value} % is outside 0..100",
        when=("unit", ("%",)),
        code="range",
    ),
    Rule(
        "range.concentration",
        LAB_RESULTS,
        "ExpectColumnValuesToBeBetween",
        {"column": "value_cap_ratio", "min_value": 0, "max_value": 1, "strict_max": True},
        "{value} {unit} of {analyte} is outside the plausible range 0 <= value < "
        "{cap_mg_per_kg} mg/kg",
        code="range",
    ),
    Rule(
        "timestamp.sampled_at_valid",
        LAB_RESULTS,
        "ExpectColumnValuesToNotBeNull",
        _not_null("sampled_at_utc"),
        "sampled_at {sampled_at_raw} is not a valid RFC 3339 time",
        code="timestamp",
    ),
    Rule(
        "timestamp.tested_at_valid",
        LAB_RESULTS,
        "ExpectColumnValuesToNotBeNull",
        _not_null("tested_at_utc"),
        "tested_at {tested_at_raw} is not a valid RFC 3339 time",
        code="timestamp",
    ),
    Rule(
        "timestamp.tested_not_future",
        LAB_RESULTS,
        "ExpectColumnValuesToBeBetween",
        {"column": "tested_in_future_s", "max_value": CLOCK_SKEW_S},
        "tested_at {tested_at_raw} is in the future",
        code="timestamp",
        on_failure="finding",
    ),
    Rule(
        "timestamp.sampled_not_future",
        LAB_RESULTS,
        "ExpectColumnValuesToBeBetween",
        {"column": "sampled_in_future_s", "max_value": CLOCK_SKEW_S},
        "sampled_at {sampled_at_raw} is in the future",
        code="timestamp",
        on_failure="finding",
    ),
    Rule(
        "timestamp.tested_after_sampled",
        LAB_RESULTS,
        "ExpectColumnPairValuesAToBeGreaterThanB",
        {
            "column_A": "tested_at_utc",
            "column_B": "sampled_at_utc",
            "or_equal": True,
            "ignore_row_if": "either_value_is_missing",
        },
        "tested_at {tested_at_raw} is before sampled_at {sampled_at_raw}",
        code="timestamp",
        on_failure="finding",
    ),
    Rule(
        "reference.lot_known",
        LAB_RESULTS,
        "ExpectColumnValuesToBeNull",
        {"column": "unknown_lot"},
        "lot {unknown_lot} is not known (no chain event names it yet)",
        on_failure="finding",
        code="reference",
        severity="info",
        resolves_by="reference_arrived",
    ),
    Rule(
        "reference.sampled_location_known",
        LAB_RESULTS,
        "ExpectColumnValuesToBeNull",
        {"column": "unknown_location"},
        "sampled location {unknown_location} is not known (no master data for it yet)",
        on_failure="finding",
        code="reference",
        severity="info",
        resolves_by="reference_arrived",
    ),
    Rule(
        "reference.product_known",
        LAB_RESULTS,
        "ExpectColumnValuesToBeNull",
        {"column": "unknown_product"},
        "product {unknown_product} is not known (no master data for it yet)",
        on_failure="finding",
        code="reference",
        severity="info",
        resolves_by="reference_arrived",
    ),
)

LOCATION_RULES: tuple[Rule, ...] = (
    *(
        Rule(
            f"location.{col}_present",
            LOCATIONS,
            "ExpectColumnValuesToNotBeNull",
            _not_null(col),
            f"location lacks {col}",
            code="missing",
        )
        for col in ("location_id", "name", "kind", "city")
    ),
    Rule(
        "location.kind",
        LOCATIONS,
        "ExpectColumnValuesToBeInSet",
        {"column": "kind", "value_set": list(LOCATION_KINDS)},
        "location kind {kind} is not one of " + ", ".join(LOCATION_KINDS),
        code="value",
    ),
    Rule(
        "location.city",
        LOCATIONS,
        "ExpectColumnValuesToBeInSet",
        {"column": "city", "value_set": list(CITY_CODES)},
        "city {city} is not a Pearl River Delta city code (or 'other')",
        code="value",
    ),
    Rule(
        "range.latitude",
        LOCATIONS,
        "ExpectColumnValuesToBeBetween",
        {"column": "lat", "min_value": -90, "max_value": 90},
        "latitude {lat} is outside -90..90",
        code="range",
    ),
    Rule(
        "range.longitude",
        LOCATIONS,
        "ExpectColumnValuesToBeBetween",
        {"column": "lon", "min_value": -180, "max_value": 180},
        "longitude {lon} is outside -180..180",
        code="range",
    ),
)

PRODUCT_RULES: tuple[Rule, ...] = (
    *(
        Rule(
            f"product.{col}_present",
            PRODUCTS,
            "ExpectColumnValuesToNotBeNull",
            _not_null(col),
            f"product lacks {col}",
            code="missing",
        )
        for col in ("product_code", "name", "category")
    ),
    Rule(
        "reference.category_known",
        PRODUCTS,
        "ExpectColumnValuesToBeNull",
        {"column": "unknown_category"},
        "food category {unknown_category} is not in the category tree",
        code="reference",
    ),
)

RULES_BY_SUITE: dict[str, tuple[Rule, ...]] = {
    CHAIN_EVENTS: CHAIN_RULES,
    LAB_RESULTS: LAB_RULES,
    LOCATIONS: LOCATION_RULES,
    PRODUCTS: PRODUCT_RULES,
}
ALL_RULES: tuple[Rule, ...] = tuple(r for rules in RULES_BY_SUITE.values() for r in rules)
RULES_BY_NAME: dict[str, Rule] = {r.name: r for r in ALL_RULES}
