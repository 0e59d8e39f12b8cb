"""rules.judge / rules.decide: every case of spec section 4 and limits.md."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from alerts_unit_helpers import lab, limit

from foodtrace.alerts.rules import (
    Action,
    OpenAlert,
    Verdict,
    classification,
    decide,
    judge,
    related_analytes,
)

ENZYME = "GB/T 5009.199 enzyme inhibition"
STRIP = "colloidal gold strip"


def rapid(**kw):
    return lab(test_kind="rapid", **kw)


# --- rapid tests -----------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "verdict"),
    [
        (62.5, Verdict.SUSPECT),
        (50, Verdict.SUSPECT),
        (49.9, Verdict.NEGATIVE),
        (3, Verdict.NEGATIVE),
    ],
)
def test_enzyme_inhibition_is_positive_from_50_percent(rate, verdict) -> None:
    j = judge(
        rapid(
            method=ENZYME,
            analyte="organophosphates_carbamates",
            value=rate,
            unit="%",
            result="negative" if rate < 50 else "positive",
        ),
        None,
    )
    assert j.verdict is verdict
    assert (j.threshold, j.threshold_unit) == (Decimal(50), "%")
    assert "5009.199" in j.rule
    assert j.severity == ("warning" if verdict is Verdict.SUSPECT else None)


def test_enzyme_rate_decides_when_the_station_reading_disagrees() -> None:
    j = judge(
        rapid(
            method=ENZYME,
            analyte="organophosphates_carbamates",
            value=71,
            unit="%",
            result="negative",
        ),
        None,
    )
    assert j.verdict is Verdict.SUSPECT
    assert "reported negative" in j.reason


@pytest.mark.parametrize(
    ("result", "verdict"),
    [
        ("positive", Verdict.SUSPECT),
        ("negative", Verdict.NEGATIVE),
        ("inconclusive", Verdict.INCONCLUSIVE),
        (None, Verdict.INVALID),
    ],
)
def test_strip_uses_the_stations_reading(result, verdict) -> None:
    j = judge(rapid(method=STRIP, analyte="clenbuterol", result=result), None)
    assert j.verdict is verdict
    assert j.limit_verified is None  # no number was involved


def test_rapid_positive_is_a_warning_never_critical() -> None:
    j = judge(
        rapid(method=STRIP, analyte="clenbuterol", result="positive"),
        limit("clenbuterol", "food", 0, kind="prohibited"),
    )
    assert j.severity == "warning"


# --- confirmatory results against limits -------------------------------------


@pytest.mark.parametrize(
    ("value", "verdict"),
    [(0.31, Verdict.VIOLATION), (0.3, Verdict.WITHIN_LIMIT), (0.05, Verdict.WITHIN_LIMIT)],
)
def test_confirmatory_above_at_within_limit(value, verdict) -> None:
    j = judge(
        lab(value=value, unit="mg/kg", value_mg_per_kg=value),
        limit("lead", "leafy_vegetables", 0.3),
    )
    assert j.verdict is verdict
    assert j.severity == ("critical" if verdict is Verdict.VIOLATION else None)
    assert j.threshold == Decimal("0.3")


@pytest.mark.parametrize(
    ("value", "unit", "verdict"),
    [
        (150, "ug/kg", Verdict.VIOLATION),
        (90, "ug/kg", Verdict.WITHIN_LIMIT),
        (0.15, "mg/kg", Verdict.VIOLATION),
        (0.09, "mg/kg", Verdict.WITHIN_LIMIT),
    ],
)
def test_units_are_normalised_to_mg_per_kg(value, unit, verdict) -> None:
    vet = limit("enrofloxacin_ciprofloxacin", "meat", 100, unit="ug/kg", kind="vet_drug_mrl")
    j = judge(lab(analyte="enrofloxacin_ciprofloxacin", value=value, unit=unit), vet)
    assert j.verdict is verdict
    expected = Decimal(str(value)) / (1000 if unit == "ug/kg" else 1)
    assert j.value_mg_per_kg == expected
    assert j.threshold == Decimal("0.1")


def test_promoted_normalised_value_is_used_when_present() -> None:
    j = judge(lab(value=500, unit="ug/kg", value_mg_per_kg=0.5), limit("lead", "fish", 0.5))
    assert j.verdict is Verdict.WITHIN_LIMIT
    assert j.value_mg_per_kg == Decimal("0.5")


def test_confirmatory_value_in_percent_cannot_be_judged() -> None:
    j = judge(lab(value=60, unit="%"), limit("lead", "leafy_vegetables", 0.3))
    assert j.verdict is Verdict.INVALID


def test_confirmatory_without_value_is_invalid() -> None:
    assert judge(lab(), limit("lead", "leafy_vegetables", 0.3)).verdict is Verdict.INVALID


@pytest.mark.parametrize(
    ("value", "unit", "result", "verdict"),
    [
        (1.5, "ug/kg", None, Verdict.VIOLATION),
        (0.0001, "mg/kg", None, Verdict.VIOLATION),
        (None, None, "positive", Verdict.VIOLATION),
        (0, "ug/kg", None, Verdict.WITHIN_LIMIT),
        (None, None, "negative", Verdict.WITHIN_LIMIT),
        (None, None, None, Verdict.INVALID),
    ],
)
def test_prohibited_substance_any_detection_is_a_violation(value, unit, result, verdict) -> None:
    banned = limit("clenbuterol", "food", 0, kind="prohibited")
    j = judge(lab(analyte="clenbuterol", value=value, unit=unit, result=result), banned)
    assert j.verdict is verdict


def test_unverified_limit_is_carried() -> None:
    j = judge(
        lab(analyte="omethoate", value=0.2, unit="mg/kg"),
        limit("omethoate", "vegetables", 0.02, kind="mrl", verified=False),
    )
    assert j.verdict is Verdict.VIOLATION
    assert j.limit_verified is False


def test_no_limit_and_exclusion_give_no_verdict() -> None:
    assert judge(lab(analyte="chlorpyrifos", value=0.3, unit="mg/kg"), None).verdict is (
        Verdict.NO_LIMIT
    )
    excluded = limit("cadmium", "root_tuber_vegetables", None)
    j = judge(lab(analyte="cadmium", value=0.3, unit="mg/kg"), excluded)
    assert j.verdict is Verdict.NO_LIMIT


# --- decide: the alert's lifecycle --------------------------------------------


def open_alert(severity: str, analyte: str = "lead") -> OpenAlert:
    return OpenAlert(uuid.uuid4(), analyte, severity, "open", 1)


VIOLATION = judge(lab(value=1, unit="mg/kg"), limit("lead", "leafy_vegetables", 0.3))
WITHIN = judge(lab(value=0.1, unit="mg/kg"), limit("lead", "leafy_vegetables", 0.3))
SUSPECT = judge(rapid(method=STRIP, analyte="lead", result="positive"), None)
NEGATIVE = judge(rapid(method=STRIP, analyte="lead", result="negative"), None)
INCONCLUSIVE = judge(rapid(method=STRIP, analyte="lead", result="inconclusive"), None)


@pytest.mark.parametrize(
    ("current", "j", "action", "severity"),
    [
        (None, VIOLATION, Action.RAISE, "critical"),
        (None, SUSPECT, Action.RAISE, "warning"),
        (None, WITHIN, Action.NONE, None),
        (None, NEGATIVE, Action.NONE, None),
        (None, INCONCLUSIVE, Action.NONE, None),
        ("warning", VIOLATION, Action.UPGRADE, "critical"),
        ("warning", WITHIN, Action.CLEAR, "warning"),
        ("warning", SUSPECT, Action.NOTE, "warning"),
        ("warning", NEGATIVE, Action.NOTE, "warning"),
        ("critical", VIOLATION, Action.NOTE, "critical"),
        ("critical", WITHIN, Action.NOTE, "critical"),
        ("critical", SUSPECT, Action.NOTE, "critical"),
    ],
)
def test_decide(current, j, action, severity) -> None:
    d = decide(open_alert(current) if current else None, j)
    assert d.action is action
    assert d.severity == severity


def test_a_rapid_negative_does_not_clear_a_warning() -> None:
    d = decide(open_alert("warning"), NEGATIVE)
    assert d.action is Action.NOTE
    assert "confirmatory" in d.note


def test_screen_and_specific_analytes_settle_each_other() -> None:
    assert related_analytes("omethoate") == ["omethoate", "organophosphates_carbamates"]
    assert related_analytes("organophosphates_carbamates")[0] == "organophosphates_carbamates"
    assert "omethoate" in related_analytes("organophosphates_carbamates")
    assert related_analytes("lead") == ["lead"]


def test_rasff_style_classification() -> None:
    assert classification("critical") == ("alert", "serious")
    assert classification("warning") == ("information_for_attention", "undecided")
