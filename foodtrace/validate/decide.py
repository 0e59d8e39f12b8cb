"""From expectation results to a decision per row: promote (with its findings) or
quarantine (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from foodtrace.validate.rules import Rule

Outcome = Literal["promoted", "quarantined"]
SAMPLE_SIZE = 10  # message ids kept per failed expectation in ops.validation_results


@dataclass
class RuleResult:
    """One expectation's result over one batch, mapped back to message ids."""

    rule: Rule
    element_count: int
    failing: list[str]  # message ids of the unexpected rows

    @property
    def success(self) -> bool:
        return not self.failing


@dataclass
class RuleTally:
    """One expectation's result accumulated over every batch of a run."""

    rule: Rule
    element_count: int = 0
    unexpected_count: int = 0
    sample: list[str] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return self.unexpected_count == 0

    def add(self, result: RuleResult) -> None:
        self.element_count += result.element_count
        self.unexpected_count += len(result.failing)
        room = SAMPLE_SIZE - len(self.sample)
        if room > 0:
            self.sample.extend(result.failing[:room])


@dataclass(frozen=True)
class Decision:
    """`reasons`: why a quarantined row was refused (every failed rule), or the
    findings of a promoted row (empty when it passed everything)."""

    message_id: str
    outcome: Outcome
    reasons: list[dict[str, Any]]

    @property
    def findings(self) -> int:
        return len(self.reasons) if self.outcome == "promoted" else 0


def reason(rule: Rule, row: Mapping[str, Any]) -> dict[str, Any]:
    """A reason in the edge's shape ({code, message, path}) plus the rule, the GE
    expectation, the CFR section, what the failure does and how bad it is; for a
    rule a later run may answer, `value` is what the row named (e.g. the unknown
    location id), which that run looks up."""
    out = {
        "code": rule.code,
        "message": rule.reason_text(dict(row)),
        "path": rule.column,
        "rule": rule.name,
        "expectation": rule.expectation,
        "cfr_section": rule.cfr_section,
        "on_failure": rule.on_failure,
        "severity": rule.severity if rule.on_failure == "finding" else "error",
    }
    if rule.resolves_by == "reference_arrived" and rule.column:
        value = row.get(rule.column)
        out["value"] = None if value is None else str(value)
    return out


def decide(
    message_ids: Sequence[str],
    results: Iterable[RuleResult],
    rows: Mapping[str, Mapping[str, Any]],
) -> list[Decision]:
    """A failed quarantine rule quarantines (the reasons name every failed rule, so
    the sender learns all at once); failed finding rules alone promote the row
    with those findings."""
    failed: dict[str, list[Rule]] = {}
    for res in results:
        for mid in res.failing:
            failed.setdefault(mid, []).append(res.rule)
    decisions = []
    for mid in message_ids:
        rules = failed.get(mid, [])
        row = rows.get(mid, {})
        reasons = [reason(r, row) for r in rules]
        refused = any(r.on_failure == "quarantine" for r in rules)
        decisions.append(Decision(mid, "quarantined" if refused else "promoted", reasons))
    return decisions
