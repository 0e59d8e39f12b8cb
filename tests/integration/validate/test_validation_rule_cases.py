"""A good and a bad row for every validation rule, through the real pipeline step.

All cases land in one database and one validate_and_promote() call (as a real
batch would), then each case is checked: the good rows are promoted, every bad
row gets the outcome its rule prescribes (quarantined, or promoted with a finding
in core.findings) with the reason text and, for FSMA 204 KDEs, the 21 CFR section. A coverage test makes sure no
rule is left without a bad case.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from validation_helpers import DROP, Builder, land, run, with_, without

from foodtrace.db import connect
from foodtrace.validate.rules import _KDES, ALL_RULES, PLACING_COLUMNS

B = Builder()
FUTURE = (datetime.now(UTC) + timedelta(days=1)).isoformat()


@dataclass(frozen=True)
class Case:
    rule: str
    kind: str  # location | product | chain_event | lab_result
    payload: dict[str, Any]
    outcome: str  # quarantined | promoted (with a finding)
    text: str  # expected in one reason's message


def _fresh(name: str) -> str:
    return B.lot(f"bad-{name}")


def _kde_base(event_type: str, column: str, lot: str) -> dict[str, Any]:
    if event_type == "harvesting":
        return B.harvesting_fish(lot) if column == "container_kde" else B.harvesting(lot)
    return {
        "cooling": lambda: B.cooling(lot),
        "initial_packing": lambda: B.initial_packing(lot),
        "first_receiving": lambda: B.first_receiving(lot),
        "shipping": lambda: B.shipping(lot, B.farm, B.market, 10, 1),
        "receiving": lambda: B.receiving(lot, B.farm, B.market, 10, 2),
        "transformation": lambda: B.transformation([(lot, 10)], [(lot + "-out", 8)]),
        "sale": lambda: B.sale(lot, 1, 3),
    }[event_type]()


def _break_kde(payload: dict[str, Any], column: str) -> dict[str, Any]:
    if column == "next_recipient":
        return without(
            payload, "kdes.immediate_subsequent_recipient_location_id", "destination_location_id"
        )
    if column == "harvest_farm":
        return without(payload, "kdes.harvest_location_id", "tlc_source_location_id")
    if column == "event_time_utc":
        return with_(payload, event_time="2026-02-30T10:00:00+08:00")
    role, _, what = column.partition("_")
    if role in ("lots", "inputs", "outputs") and what in ("tlc", "product", "qty"):
        broken = without(
            payload,
            f"{role}.0.lot_code"
            if what == "tlc"
            else f"{role}.0.product_code"
            if what == "product"
            else f"{role}.0.quantity",
        )
        return broken
    path = {
        "field_kde": "kdes.field_id",
        "container_kde": "kdes.container_id",
        "catch_kde": "kdes.harvest_area",
        "harvest_date": "kdes.harvest_date",
        "tlc_source": "tlc_source_location_id",
    }.get(column, column)
    return without(payload, path)


def _kde_cases() -> list[Case]:
    cases = []
    for n, (event_type, label, column, cfr) in enumerate(_KDES):
        payload = _break_kde(_kde_base(event_type, column, _fresh(f"kde{n}")), column)
        placing = column in PLACING_COLUMNS
        suffix = (
            f" ({cfr})" if cfr else (" (required by foodtrace/chain-event/v1)" if placing else "")
        )
        cases.append(
            Case(
                f"kde.{event_type}.{column}",
                "chain_event",
                payload,
                "quarantined" if placing else "promoted",
                f"{event_type} event lacks {label}{suffix}",
            )
        )
    return cases


def _chain_cases() -> list[Case]:
    over_lot, dup_lot = _fresh("over"), B.lot("L1")
    return [
        Case(
            "chain.event_type",
            "chain_event",
            with_(B.shipping(_fresh("et"), B.farm, B.market, 5, 1), event_type="packing"),
            "quarantined",
            "event_type packing is not a known Critical Tracking Event",
        ),
        Case(
            "chain.event_type_present",
            "chain_event",
            without(B.shipping(_fresh("etp"), B.farm, B.market, 5, 1), "event_type"),
            "quarantined",
            "event has no event_type",
        ),
        Case(
            "chain.lots_only_where_allowed",
            "chain_event",
            with_(
                B.shipping(_fresh("mix"), B.farm, B.market, 5, 1),
                inputs=[B.line(_fresh("mix2"), 1)],
            ),
            "quarantined",
            "shipping event lists inputs/outputs",
        ),
        Case(
            "epcis.mapping",
            "chain_event",
            with_(B.shipping(_fresh("epcis"), B.farm, B.market, 5, 1),
                  kdes={"epcis_findings": ["quantityList[1]: urn:epc:idpat:sgtin:4012345.012345.* "
                                           "names a product class without a lot (batch): not "
                                           "traced"]}),
            "promoted",
            "EPCIS event mapped in part: quantityList[1]: urn:epc:idpat:sgtin:4012345.012345.*",
        ),
        Case(
            "timestamp.event_time_not_future",
            "chain_event",
            with_(B.shipping(_fresh("fut"), B.farm, B.market, 5, 1), event_time=FUTURE),
            "promoted",
            "is in the future",
        ),
        # A second event assigning the lot code of the good harvest L1 (later in time).
        Case(
            "reference.tlc_assigned_once",
            "chain_event",
            B.harvesting(dup_lot, 10, 0.25),
            "promoted",
            f"lot code {dup_lot} was already assigned by another event; a "
            "traceability lot code is assigned once (21 CFR 1.1320)",
        ),
        Case(
            "mass_balance.transformation_yield",
            "chain_event",
            B.transformation([(_fresh("yin"), 100)], [(_fresh("yout"), 200)]),
            "promoted",
            "transformation outputs (200 kg) exceed its inputs (100 kg) by more than 5%",
        ),
        # 100 kg harvested (case setup below), 80 kg shipped, then 40 kg more.
        Case(
            "mass_balance.shipped_not_more_than_held",
            "chain_event",
            B.shipping(over_lot, B.farm, B.market, 40, 3),
            "promoted",
            f"lot {over_lot} ships more than it had at {B.farm}: 120 kg shipped "
            "so far against 100 kg that arrived there (tolerance 5%)",
        ),
        Case(
            "reference.location_known",
            "chain_event",
            B.shipping(_fresh("loc"), B.lot("nowhere"), B.market, 5, 1),
            "promoted",
            f"location {B.lot('nowhere')} is not known (no master data for it yet)",
        ),
        Case(
            "reference.products_known",
            "chain_event",
            B.shipping(_fresh("prod"), B.farm, B.market, 5, 1, product=B.lot("NOPRODUCT")),
            "promoted",
            f"product {B.lot('NOPRODUCT')} is not known",
        ),
        Case(
            "reference.receiving_matches_shipping",
            "chain_event",
            B.receiving(_fresh("rcv"), B.packer, B.market, 5, 2),
            "promoted",
            f"receiving of lot {_fresh('rcv')} at {B.market} matches no shipping of "
            f"that lot from {B.packer} to this location yet",
        ),
        # Shipped at hour 3 (case setup below), received at hour 1.
        Case(
            "timestamp.received_before_shipped",
            "chain_event",
            B.receiving(B.lot("bad-early"), B.farm, B.market, 5, 1),
            "promoted",
            f"receiving of lot {B.lot('bad-early')} at {B.market}",
        ),
    ]


CASE_SETUP = [
    B.harvesting(B.lot("bad-over"), 100, 0),
    B.shipping(B.lot("bad-over"), B.farm, B.packer, 80, 2),
    B.harvesting(B.lot("bad-early"), 100, 0),
    B.shipping(B.lot("bad-early"), B.farm, B.market, 5, 3),
]


def _lab(**over: Any) -> dict[str, Any]:
    return B.lab_result(B.lot("L1"), **over)


def _lab_cases() -> list[Case]:
    present = [
        ("sample_id", "sample_id"),
        ("lot_code", "the lot code of the sampled product"),
        ("sampled_location_id", "the sampled location"),
        ("method", "the test method"),
        ("analyte", "the analyte"),
        ("test_kind", "test_kind"),
    ]
    cases = [
        Case(
            f"lab.{col}_present",
            "lab_result",
            _lab(**{col: DROP}),
            "quarantined",
            f"lab result lacks {label}",
        )
        for col, label in present
    ]
    t = B.at(10)
    cases += [
        Case(
            "lab.test_kind",
            "lab_result",
            _lab(test_kind="screening"),
            "quarantined",
            "test_kind screening is neither rapid nor confirmatory",
        ),
        Case(
            "lab.analyte",
            "lab_result",
            _lab(analyte="unobtainium"),
            "quarantined",
            "analyte unobtainium is not in the analyte list",
        ),
        Case(
            "lab.result",
            "lab_result",
            _lab(result="maybe"),
            "quarantined",
            "result maybe is not positive, negative or inconclusive",
        ),
        Case(
            "lab.rapid_has_result",
            "lab_result",
            _lab(result=DROP),
            "quarantined",
            "a rapid test needs a result",
        ),
        Case(
            "lab.confirmatory_has_value",
            "lab_result",
            _lab(
                test_kind="confirmatory",
                analyte="lead",
                value=DROP,
                unit=DROP,
                result=DROP,
                method="ICP-MS",
            ),
            "quarantined",
            "a confirmatory result needs a numeric value",
        ),
        Case(
            "units.value_has_unit",
            "lab_result",
            _lab(unit=DROP),
            "quarantined",
            "value 20.5 has no unit",
        ),
        Case(
            "units.known_unit",
            "lab_result",
            _lab(unit="ppm", analyte="lead"),
            "quarantined",
            "unit ppm is not one of mg/kg, ug/kg, %",
        ),
        Case(
            "units.unit_fits_analyte",
            "lab_result",
            _lab(analyte="lead"),
            "quarantined",
            "unit % does not fit analyte lead",
        ),
        Case(
            "range.percent",
            "lab_result",
            _lab(value=150),
            "quarantined",
            "inhibition rate 150 % is outside 0..100",
        ),
        Case(
            "range.concentration",
            "lab_result",
            _lab(
                test_kind="confirmatory",
                analyte="lead",
                value=2_000_000,
                unit="ug/kg",
                result=DROP,
                method="ICP-MS",
            ),
            "quarantined",
            "2000000 ug/kg of lead is outside the plausible range 0 <= value < 1000 mg/kg",
        ),
        Case(
            "timestamp.sampled_at_valid",
            "lab_result",
            _lab(sampled_at="yesterday"),
            "quarantined",
            "sampled_at yesterday is not a valid RFC 3339 time",
        ),
        Case(
            "timestamp.tested_at_valid",
            "lab_result",
            _lab(tested_at="2026-13-01T00:00:00+08:00"),
            "quarantined",
            "tested_at 2026-13-01T00:00:00+08:00 is not a valid RFC 3339 time",
        ),
        Case(
            "timestamp.tested_not_future",
            "lab_result",
            _lab(tested_at=FUTURE),
            "promoted",
            f"tested_at {FUTURE} is in the future",
        ),
        Case(
            "timestamp.sampled_not_future",
            "lab_result",
            _lab(sampled_at=FUTURE, tested_at=FUTURE),
            "promoted",
            f"sampled_at {FUTURE} is in the future",
        ),
        Case(
            "timestamp.tested_after_sampled",
            "lab_result",
            _lab(sampled_at=t, tested_at=B.at(9)),
            "promoted",
            f"tested_at {B.at(9)} is before sampled_at {t}",
        ),
        Case(
            "reference.lot_known",
            "lab_result",
            B.lab_result(B.lot("NOLOT")),
            "promoted",
            f"lot {B.lot('NOLOT')} is not known",
        ),
        Case(
            "reference.sampled_location_known",
            "lab_result",
            _lab(sampled_location_id=B.lot("nowhere")),
            "promoted",
            f"sampled location {B.lot('nowhere')} is not known",
        ),
        Case(
            "reference.product_known",
            "lab_result",
            _lab(product_code=B.lot("NOPROD")),
            "promoted",
            f"product {B.lot('NOPROD')} is not known",
        ),
    ]
    return cases


def _master_cases() -> list[Case]:
    loc = B.location(B.lot("badloc"), "farm")
    prod = B.product(B.lot("BADPROD"), "leafy_vegetables")
    cases = [
        Case(
            f"location.{col}_present",
            "location",
            without(loc, col),
            "quarantined",
            f"location lacks {col}",
        )
        for col in ("location_id", "name", "kind", "city")
    ]
    cases += [
        Case(
            f"product.{col}_present",
            "product",
            without(prod, col),
            "quarantined",
            f"product lacks {col}",
        )
        for col in ("product_code", "name", "category")
    ]
    cases += [
        Case(
            "location.kind",
            "location",
            with_(loc, kind="castle"),
            "quarantined",
            "location kind castle is not one of farm, packer",
        ),
        Case(
            "location.city",
            "location",
            with_(loc, city="beijing"),
            "quarantined",
            "city beijing is not a Pearl River Delta city code",
        ),
        Case(
            "range.latitude",
            "location",
            with_(loc, lat=95.0),
            "quarantined",
            "latitude 95 is outside -90..90",
        ),
        Case(
            "range.longitude",
            "location",
            with_(loc, lon=200.0),
            "quarantined",
            "longitude 200 is outside -180..180",
        ),
        Case(
            "reference.category_known",
            "product",
            with_(prod, category="sweets"),
            "quarantined",
            "food category sweets is not in the category tree",
        ),
    ]
    return cases


CASES = _kde_cases() + _chain_cases() + _lab_cases() + _master_cases()
GOOD_LOCATIONS = B.locations()
GOOD_PRODUCTS = B.products()
GOOD_CHAIN = B.good_chain()
GOOD_LABS = [
    B.lab_result(B.lot("L1")),
    B.lab_result(
        B.lot("L2"),
        test_kind="confirmatory",
        analyte="lead",
        value=0.05,
        unit="mg/kg",
        result=DROP,
        method="ICP-MS",
        product_code=B.mix,
    ),
    B.lab_result(
        B.lot("L3"),
        test_kind="confirmatory",
        analyte="malachite_green",
        value=1.5,
        unit="ug/kg",
        result=DROP,
        method="LC-MS/MS",
    ),
    B.lab_result(
        B.lot("L4"),
        analyte="clenbuterol",
        value=DROP,
        unit=DROP,
        result="positive",
        method="colloidal gold strip",
    ),
]


@pytest.fixture(scope="module")
def validated(module_db_url: str, tmp_path_factory) -> dict[str, Any]:
    with connect(module_db_url) as conn:
        for payload in GOOD_LOCATIONS:
            land(conn, "location", payload, commit=False)
        for payload in GOOD_PRODUCTS:
            land(conn, "product", payload, commit=False)
        for payload in GOOD_CHAIN + CASE_SETUP:
            land(conn, "chain_event", payload, commit=False)
        for payload in GOOD_LABS:
            land(conn, "lab_result", payload, commit=False)
        for case in CASES:
            land(conn, case.kind, case.payload, commit=False)
        conn.commit()
        stats = run(conn, tmp_path_factory.mktemp("reports"))
        decided = {
            str(mid): (outcome, reasons)
            for mid, outcome, reasons in conn.execute(
                "SELECT message_id, outcome, reasons FROM core.processed_messages"
            )
        }
        quarantine = {
            str(mid): (stage, bytes(raw), reasons, sender)
            for mid, stage, raw, reasons, sender in conn.execute(
                "SELECT message_id, stage, raw, reasons, sender_id FROM landing.quarantine"
            )
        }
        findings = {
            (str(mid), rule): (severity, cfr, message)
            for mid, rule, severity, cfr, message in conn.execute(
                "SELECT message_id, rule, severity, cfr_section, message FROM core.findings"
            )
        }
        results = {
            rule: (element_count, unexpected_count, cfr)
            for rule, element_count, unexpected_count, cfr in conn.execute(
                "SELECT rule, element_count, unexpected_count, cfr_section "
                "FROM ops.validation_results"
            )
        }
    return {
        "stats": stats,
        "decided": decided,
        "quarantine": quarantine,
        "results": results,
        "findings": findings,
    }


def test_every_rule_has_a_bad_case() -> None:
    assert {c.rule for c in CASES} == {r.name for r in ALL_RULES}


def test_good_rows_are_promoted(validated: dict[str, Any]) -> None:
    landed_good = GOOD_LOCATIONS + GOOD_PRODUCTS + GOOD_CHAIN + CASE_SETUP + GOOD_LABS
    outcomes = {p["message_id"]: validated["decided"].get(p["message_id"]) for p in landed_good}
    assert {mid: o[0] if o else None for mid, o in outcomes.items()} == {
        mid: "promoted" for mid in outcomes
    }, [o[1] for o in outcomes.values() if o and o[0] != "promoted"]
    good_findings = [k for k in validated["findings"] if k[0] in outcomes]
    assert good_findings == []


def test_every_rule_checked_good_rows(validated: dict[str, Any]) -> None:
    """Each expectation ran over rows (the good ones of its kind among them) and
    recorded its CFR section."""
    results = validated["results"]
    for rule in ALL_RULES:
        element_count, unexpected, cfr = results[rule.name]
        assert element_count > unexpected, rule.name
        assert cfr == rule.cfr_section


@pytest.mark.parametrize("case", CASES, ids=[c.rule for c in CASES])
def test_bad_row(case: Case, validated: dict[str, Any]) -> None:
    outcome, reasons = validated["decided"][case.payload["message_id"]]
    assert outcome == case.outcome, reasons
    texts = [r["message"] for r in reasons]
    assert any(case.text in t for t in texts), texts
    mine = [r for r in reasons if r["rule"] == case.rule]
    assert mine, [r["rule"] for r in reasons]
    rule = next(r for r in ALL_RULES if r.name == case.rule)
    assert mine[0]["cfr_section"] == rule.cfr_section
    assert mine[0]["expectation"] == rule.expectation
    if case.outcome == "quarantined":
        stage, raw, q_reasons, _ = validated["quarantine"][case.payload["message_id"]]
        assert stage == "validation"
        assert q_reasons == reasons
        assert json.loads(raw) == case.payload  # the payload as landed
    else:
        # stored, and the failure recorded on it as a finding
        assert case.payload["message_id"] not in validated["quarantine"]
        severity, cfr, message = validated["findings"][(case.payload["message_id"], case.rule)]
        assert (severity, cfr) == (rule.severity, rule.cfr_section)
        assert case.text in message


def test_counts_add_up(validated: dict[str, Any]) -> None:
    stats = validated["stats"]
    promoted = sum(c.outcome == "promoted" for c in CASES)
    assert stats.quarantined == len(CASES) - promoted
    assert stats.findings >= promoted
    assert stats.promoted == promoted + len(
        GOOD_LOCATIONS + GOOD_PRODUCTS + GOOD_CHAIN + CASE_SETUP + GOOD_LABS
    )
    assert stats.report_path and stats.report_path.endswith(".html")


def test_kde_reason_names_the_cfr_section(validated: dict[str, Any]) -> None:
    """The brief's example, word for word."""
    case = next(c for c in CASES if c.rule == "kde.receiving.tlc_source")
    _, reasons = validated["decided"][case.payload["message_id"]]
    assert "receiving event lacks TLC source (21 CFR 1.1345(a)(7))" in [
        r["message"] for r in reasons
    ]
