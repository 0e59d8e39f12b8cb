"""Alert rules (spec section 4), as pure functions.

    judge(result, limit)     -> Judgement   what one lab result says
    decide(open_alert, j)    -> Decision    what that does to the (lot, analyte) alert

Rapid tests (快检) are screens: a positive is a suspicion (`warning`: hold the lot
and confirm), never a violation. Enzyme-inhibition tests for organophosphate and
carbamate pesticides are judged on the rate (>= 50 % is positive, GB/T 5009.199-2003)
when the station reports it; colloidal-gold strips on the station's own reading.
Confirmatory results are judged against core.limits (most specific food category
up the tree): above the maximum level is a violation (`critical`: withdraw); at or
below it is compliant (GB limits are maxima, "≤"); for a prohibited substance any
detection is a violation.

One open alert per (lot, analyte). A later confirmatory result upgrades a warning
to critical, or clears it (closed, resolution cleared_by_confirmatory). A confirmed
violation is never cleared automatically: a later compliant sample does not undo an
earlier non-compliant one, so an operator closes it after review.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from foodtrace.alerts.limits import Limit, UnitError, number, to_mg_per_kg

ENZYME_INHIBITION_POSITIVE_PCT = Decimal(50)
ENZYME_INHIBITION_RULE = "GB/T 5009.199-2003: enzyme inhibition rate >= 50 % is positive"

# Rapid screens and the specific analytes a laboratory confirms them with: a
# confirmatory omethoate result settles an organophosphate/carbamate screen.
SCREENS: dict[str, frozenset[str]] = {
    "organophosphates_carbamates": frozenset(
        {"chlorpyrifos", "omethoate", "phorate", "carbofuran", "methamidophos"}
    ),
}

WARNING = "warning"
CRITICAL = "critical"


class Verdict(StrEnum):
    VIOLATION = "violation"  # confirmatory above the limit, or a prohibited substance found
    SUSPECT = "suspect"  # rapid test positive
    WITHIN_LIMIT = "within_limit"  # confirmatory at or below the limit / not detected
    NEGATIVE = "negative"  # rapid test negative
    INCONCLUSIVE = "inconclusive"  # rapid test inconclusive
    NO_LIMIT = "no_limit"  # confirmatory, but no applicable limit is known
    INVALID = "invalid"  # cannot be judged (no value, wrong unit, no result)


class Action(StrEnum):
    RAISE = "raised"
    UPGRADE = "upgraded"
    CLEAR = "cleared"
    NOTE = "noted"  # recorded in the alert's history, nothing published
    NONE = "none"


@dataclass(frozen=True)
class LabResult:
    """A core.lab_results row with the product's category."""

    message_id: UUID
    tested_at: datetime
    lab_id: str
    sample_id: str
    lot_code: str
    product_code: str | None
    category: str | None
    sampled_at: datetime
    sampled_location_id: str
    test_kind: str  # rapid | confirmatory
    method: str
    analyte: str
    value: Decimal | None
    unit: str | None
    value_mg_per_kg: Decimal | None  # normalised at promotion; recomputed when missing
    result: str | None  # positive | negative | inconclusive

    @property
    def is_enzyme_inhibition(self) -> bool:
        method = self.method.lower()
        return self.unit == "%" or "enzyme" in method or "5009.199" in method


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    reason: str  # one sentence, for the alert and its history
    rule: str  # what the result was judged by (a citation)
    value_mg_per_kg: Decimal | None = None
    limit: Limit | None = None  # the core.limits row used (confirmatory)
    threshold: Decimal | None = None  # what the value was compared with ...
    threshold_unit: str | None = None  # ... in this unit ('%' or 'mg/kg')

    @property
    def severity(self) -> str | None:
        return {Verdict.VIOLATION: CRITICAL, Verdict.SUSPECT: WARNING}.get(self.verdict)

    @property
    def limit_verified(self) -> bool | None:
        """Whether the number judged against was checked against the standard text
        (None when no limit was involved, e.g. a strip read by the station)."""
        if self.limit is not None:
            return self.limit.verified
        return True if self.threshold is not None else None


def judge(result: LabResult, limit: Limit | None) -> Judgement:
    """What one lab result says; `limit` is the lookup for its analyte and category."""
    if result.test_kind == "rapid":
        return _judge_rapid(result)
    if result.test_kind == "confirmatory":
        return _judge_confirmatory(result, limit)
    return Judgement(Verdict.INVALID, f"unknown test kind {result.test_kind!r}", "contract")


def _judge_rapid(r: LabResult) -> Judgement:
    if r.is_enzyme_inhibition and r.value is not None:
        rate = Decimal(str(r.value))
        positive = rate >= ENZYME_INHIBITION_POSITIVE_PCT
        reason = (
            f"enzyme inhibition {number(rate)} % "
            f"{'>=' if positive else '<'} {number(ENZYME_INHIBITION_POSITIVE_PCT)} %"
        )
        reported = "positive" if positive else "negative"
        if r.result is not None and r.result != reported:
            reason += f" (the station reported {r.result}; the rate decides)"
        return Judgement(
            Verdict.SUSPECT if positive else Verdict.NEGATIVE,
            reason,
            ENZYME_INHIBITION_RULE,
            threshold=ENZYME_INHIBITION_POSITIVE_PCT,
            threshold_unit="%",
        )
    rule = f"rapid test ({r.method}): the station's reading"
    verdicts = {
        "positive": Verdict.SUSPECT,
        "negative": Verdict.NEGATIVE,
        "inconclusive": Verdict.INCONCLUSIVE,
    }
    if r.result not in verdicts:
        return Judgement(Verdict.INVALID, "rapid test without a result", rule)
    return Judgement(verdicts[r.result], f"rapid test {r.result} ({r.method})", rule)


def _judge_confirmatory(r: LabResult, limit: Limit | None) -> Judgement:
    try:
        value = (
            r.value_mg_per_kg if r.value_mg_per_kg is not None else to_mg_per_kg(r.value, r.unit)
        )
    except UnitError as exc:
        return Judgement(Verdict.INVALID, f"confirmatory value not comparable: {exc}", "contract")
    where = r.category or "an unknown food category"
    if limit is None:
        return Judgement(
            Verdict.NO_LIMIT,
            f"no limit for {r.analyte} on {where} in the limits table",
            "core.limits",
            value_mg_per_kg=value,
        )
    rule = limit.citation
    if limit.prohibited:
        detected = (value is not None and value > 0) or r.result == "positive"
        if detected:
            shown = f" at {_show(r)}" if value is not None and value > 0 else ""
            return Judgement(
                Verdict.VIOLATION,
                f"prohibited substance {r.analyte} detected{shown}",
                rule,
                value,
                limit,
                Decimal(0),
                "mg/kg",
            )
        if value is None and r.result is None:
            return Judgement(
                Verdict.INVALID, "confirmatory result without a value", rule, None, limit
            )
        return Judgement(
            Verdict.WITHIN_LIMIT,
            f"{r.analyte} not detected",
            rule,
            value,
            limit,
            Decimal(0),
            "mg/kg",
        )
    if limit.limit_mg_per_kg is None:
        return Judgement(
            Verdict.NO_LIMIT,
            f"no applicable limit for {r.analyte} on {where}: {limit.note or 'excluded'}",
            rule,
            value,
            limit,
        )
    if value is None:
        return Judgement(Verdict.INVALID, "confirmatory result without a value", rule, None, limit)
    maximum = limit.limit_mg_per_kg
    above = value > maximum
    relation = ">" if above else ("=" if value == maximum else "<")
    return Judgement(
        Verdict.VIOLATION if above else Verdict.WITHIN_LIMIT,
        f"{r.analyte} {number(value)} mg/kg {relation} limit {number(maximum)} mg/kg",
        rule,
        value,
        limit,
        maximum,
        "mg/kg",
    )


def _show(r: LabResult) -> str:
    return f"{number(Decimal(str(r.value)))} {r.unit}" if r.value is not None else "?"


# ---------------------------------------------------------------------------
# What a judgement does to the open alert of its (lot, analyte)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenAlert:
    alert_id: UUID
    analyte: str
    severity: str
    status: str  # open | acknowledged
    version: int


@dataclass(frozen=True)
class Decision:
    action: Action
    severity: str | None = None  # the alert's severity after the action
    note: str = ""


def related_analytes(analyte: str) -> list[str]:
    """Analytes whose open alert a result on `analyte` settles, the exact one first:
    a screen and the analytes it screens for belong together."""
    related = [analyte]
    if analyte in SCREENS:
        related += sorted(SCREENS[analyte])
    related += sorted(s for s, members in SCREENS.items() if analyte in members)
    return related


def decide(open_alert: OpenAlert | None, j: Judgement) -> Decision:
    if open_alert is None:
        if j.verdict is Verdict.VIOLATION:
            return Decision(Action.RAISE, CRITICAL, j.reason)
        if j.verdict is Verdict.SUSPECT:
            return Decision(Action.RAISE, WARNING, j.reason)
        return Decision(Action.NONE)
    sev = open_alert.severity
    if sev == WARNING:
        if j.verdict is Verdict.VIOLATION:
            return Decision(Action.UPGRADE, CRITICAL, f"confirmed: {j.reason}")
        if j.verdict is Verdict.WITHIN_LIMIT:
            return Decision(Action.CLEAR, WARNING, f"cleared by confirmatory result: {j.reason}")
        if j.verdict is Verdict.SUSPECT:
            return Decision(Action.NOTE, sev, f"another positive rapid test: {j.reason}")
        if j.verdict in (Verdict.NEGATIVE, Verdict.INCONCLUSIVE):
            return Decision(
                Action.NOTE,
                sev,
                f"{j.reason}; a rapid test does not clear a warning, a confirmatory result does",
            )
        return Decision(Action.NOTE, sev, f"confirmatory result not judged: {j.reason}")
    # critical: a confirmed violation stays until an operator closes it
    if j.verdict is Verdict.VIOLATION:
        return Decision(Action.NOTE, sev, f"violation confirmed again: {j.reason}")
    if j.verdict is Verdict.WITHIN_LIMIT:
        return Decision(
            Action.NOTE,
            sev,
            f"later confirmatory result within the limit ({j.reason}); a confirmed violation "
            "is not cleared automatically: review and close it",
        )
    return Decision(Action.NOTE, sev, j.reason)


def classification(severity: str) -> tuple[str, str]:
    """EU RASFF-style (classification, risk decision) for a severity."""
    if severity == CRITICAL:
        return "alert", "serious"
    return "information_for_attention", "undecided"
