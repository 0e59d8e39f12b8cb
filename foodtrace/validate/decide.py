"""From expectation results to a decision per row: promote, quarantine or hold (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from foodtrace.validate.rules import UNMATCHED_REFERENCE, Rule

Outcome = Literal["promoted", "quarantined", "held"]
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
    message_id: str
    outcome: Outcome
    reasons: list[dict[str, Any]]


def reason(rule: Rule, row: Mapping[str, Any]) -> dict[str, Any]:
    """A quarantine reason in the edge's shape ({code, message, path}) plus the rule,
    the GE expectation and the CFR section, so a reader can tell which check failed."""
    return {
        "code": rule.code,
        "message": rule.reason_text(dict(row)),
        "path": rule.column,
        "rule": rule.name,
        "expectation": rule.expectation,
        "cfr_section": rule.cfr_section,
    }


def decide(
    message_ids: Sequence[str],
    results: Iterable[RuleResult],
    rows: Mapping[str, Mapping[str, Any]],
    *,
    held_since: Mapping[str, datetime | None],
    now: datetime,
    hold_timeout: timedelta,
) -> list[Decision]:
    """A failed quarantine rule quarantines; otherwise a failed hold rule holds the
    row, until it has been held for `hold_timeout` ('unmatched reference')."""
    failed: dict[str, list[Rule]] = {}
    for res in results:
        for mid in res.failing:
            failed.setdefault(mid, []).append(res.rule)
    decisions = []
    for mid in message_ids:
        rules = failed.get(mid)
        if not rules:
            decisions.append(Decision(mid, "promoted", []))
            continue
        row = rows.get(mid, {})
        bad = [r for r in rules if r.on_failure == "quarantine"]
        waits = [r for r in rules if r.on_failure == "hold"]
        if bad:
            decisions.append(Decision(mid, "quarantined", [reason(r, row) for r in bad + waits]))
            continue
        wait_reasons = [reason(r, row) for r in waits]
        since = held_since.get(mid)
        if since is not None and now - since >= hold_timeout:
            hours = hold_timeout.total_seconds() / 3600
            summary = "; ".join(r["message"] for r in wait_reasons)
            decisions.append(
                Decision(
                    mid,
                    "quarantined",
                    [
                        {
                            "code": UNMATCHED_REFERENCE.code,
                            "message": f"unmatched reference after {hours:g} h on hold: {summary}",
                            "path": None,
                            "rule": UNMATCHED_REFERENCE.name,
                            "expectation": None,
                            "cfr_section": None,
                            "held_since": since.isoformat(),
                        },
                        *wait_reasons,
                    ],
                )
            )
        else:
            decisions.append(Decision(mid, "held", wait_reasons))
    return decisions
