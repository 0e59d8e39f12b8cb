"""decide() (promote with findings / quarantine) and the report rendering (pure)."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from pathlib import Path

from foodtrace.validate.decide import RuleResult, RuleTally, decide
from foodtrace.validate.report import RunReport, render_html, render_markdown, write_report
from foodtrace.validate.rules import RULES_BY_NAME

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
TLC = RULES_BY_NAME["kde.receiving.tlc_source"]  # finding, warning, resolved by derivation
LOTS = RULES_BY_NAME["kde.receiving.lots_tlc"]  # quarantine: the event cannot be placed
MATCH = RULES_BY_NAME["reference.receiving_matches_shipping"]  # info, reference_arrived
LOT = RULES_BY_NAME["reference.lot_known"]
ASSIGNED = RULES_BY_NAME["reference.tlc_assigned_once"]  # finding, error

TLC_REASON = {
    "code": "kde_missing",
    "message": "receiving event lacks TLC source (21 CFR 1.1345(a)(7))",
    "path": "tlc_source",
    "rule": "kde.receiving.tlc_source",
    "expectation": "ExpectColumnValuesToNotBeNull",
    "cfr_section": "21 CFR 1.1345(a)(7)",
    "on_failure": "finding",
    "severity": "warning",
}
LOTS_REASON = {
    "code": "kde_missing",
    "message": "receiving event lacks the traceability lot code (21 CFR 1.1345(a)(1))",
    "path": "lots_tlc",
    "rule": "kde.receiving.lots_tlc",
    "expectation": "ExpectColumnValuesToNotBeNull",
    "cfr_section": "21 CFR 1.1345(a)(1)",
    "on_failure": "quarantine",
    "severity": "error",
}


def _match_reason(lot: str | None, location: str = "(none)") -> dict[str, object]:
    return {
        "code": "reference",
        "message": f"receiving of lot {lot or '(none)'} at {location} matches no shipping of "
        "that lot from (none) to this location yet",
        "path": "unmatched_lot",
        "rule": "reference.receiving_matches_shipping",
        "expectation": "ExpectColumnValuesToBeNull",
        "cfr_section": None,
        "on_failure": "finding",
        "severity": "info",
        "value": lot,
    }


def _decide(results, rows=None):
    ids = ["a", "b", "c", "d"]
    out = {d.message_id: d for d in decide(ids, results, rows or {})}
    assert list(out) == ids  # one decision per id, in order
    return out


def test_no_failure_promotes() -> None:
    out = _decide([RuleResult(TLC, 4, []), RuleResult(LOTS, 4, [])])
    assert {d.outcome for d in out.values()} == {"promoted"}
    assert all(d.reasons == [] and d.findings == 0 for d in out.values())


def test_a_quarantine_rule_quarantines_and_names_every_failed_rule() -> None:
    out = _decide(
        [RuleResult(MATCH, 4, ["a", "b"]), RuleResult(LOTS, 4, ["a"]), RuleResult(TLC, 4, ["a"])],
        rows={"a": {"unmatched_lot": "L1"}, "b": {"unmatched_lot": "L2", "location_id": "m"}},
    )
    assert out["a"].outcome == "quarantined"
    # every failed rule, findings too, so the sender learns all at once
    assert out["a"].reasons == [_match_reason("L1"), LOTS_REASON, TLC_REASON]
    assert out["a"].findings == 0  # a quarantined row records no findings
    assert out["b"].outcome == "promoted"
    assert out["b"].reasons == [_match_reason("L2", "m")]
    assert out["b"].findings == 1
    assert (out["c"].outcome, out["c"].reasons) == ("promoted", [])
    assert (out["d"].outcome, out["d"].reasons) == ("promoted", [])


def test_findings_alone_promote_the_row_with_their_severities() -> None:
    out = _decide(
        [RuleResult(TLC, 4, ["a", "b"]), RuleResult(ASSIGNED, 4, ["b"])],
        rows={"b": {"tlc_conflict_lot": "L7"}},
    )
    assert (out["a"].outcome, out["a"].reasons, out["a"].findings) == (
        "promoted",
        [TLC_REASON],
        1,
    )
    assert out["b"].outcome == "promoted"
    assert [(r["rule"], r["on_failure"], r["severity"]) for r in out["b"].reasons] == [
        ("kde.receiving.tlc_source", "finding", "warning"),
        ("reference.tlc_assigned_once", "finding", "error"),  # an error, still promoted
    ]
    assert out["b"].reasons[1]["message"] == (
        "lot code L7 was already assigned by another event; a traceability lot code is "
        "assigned once (21 CFR 1.1320)"
    )
    assert out["b"].findings == 2
    # only reference_arrived rules carry the value a later run looks up
    assert all("value" not in r for r in out["a"].reasons + out["b"].reasons)


def test_an_unknown_reference_is_a_finding_that_never_times_out() -> None:
    """What used to be held (and quarantined as 'unmatched reference' after a timeout)
    is promoted at once with an info finding naming the value to look up later."""
    assert set(inspect.signature(decide).parameters) == {"message_ids", "results", "rows"}
    results = [RuleResult(LOT, 4, ["a", "b", "c"])]
    rows = {"a": {"unknown_lot": "L9"}, "b": {"unknown_lot": 42}}
    for _ in range(2):  # the same answer on every run: no hold, no timeout
        out = _decide(results, rows=rows)
        assert {mid: d.outcome for mid, d in out.items()} == dict.fromkeys("abcd", "promoted")
        assert out["a"].reasons == [
            {
                "code": "reference",
                "message": "lot L9 is not known (no chain event names it yet)",
                "path": "unknown_lot",
                "rule": "reference.lot_known",
                "expectation": "ExpectColumnValuesToBeNull",
                "cfr_section": None,
                "on_failure": "finding",
                "severity": "info",
                "value": "L9",
            }
        ]
        assert out["b"].reasons[0]["value"] == "42"  # always text
        assert out["c"].reasons[0]["value"] is None  # the row did not say
        assert out["d"].reasons == []
        assert all(r["code"] != "unmatched_reference" for d in out.values() for r in d.reasons)


def test_tally_keeps_a_bounded_sample() -> None:
    tally = RuleTally(TLC)
    tally.add(RuleResult(TLC, 100, [str(i) for i in range(30)]))
    tally.add(RuleResult(TLC, 50, ["x"]))
    assert (tally.element_count, tally.unexpected_count, len(tally.sample)) == (150, 31, 10)
    assert not tally.success


def _run() -> RunReport:
    run = RunReport(
        run_id=7, kind="chain_event", suite_name="foodtrace.chain_events", started_at=NOW
    )
    assert run.examples == {"quarantined": [], "promoted": []}
    run.tallies[TLC.name] = RuleTally(TLC, 3, 1, ["m-1"])
    run.tallies[LOTS.name] = RuleTally(LOTS, 3, 1, ["m-2"])
    run.tallies[MATCH.name] = RuleTally(MATCH, 3, 0, [])
    run.checked, run.promoted, run.quarantined, run.findings = 3, 2, 1, 1
    run.add_example("promoted", "m-1", [{"message": "receiving event lacks <TLC> source"}])
    run.add_example("quarantined", "m-2", [{"message": "receiving event lacks a lot & code"}])
    return run


def test_report_lists_every_expectation_and_escapes_html(tmp_path: Path) -> None:
    page = render_html([_run()], NOW)
    assert "kde.receiving.tlc_source" in page and "21 CFR 1.1345(a)(7)" in page
    assert "reference.receiving_matches_shipping" in page
    assert "<td class='finding'>kde.receiving.tlc_source</td>" in page
    assert "<td class='fail'>kde.receiving.lots_tlc</td>" in page
    assert "<td class='ok'>reference.receiving_matches_shipping</td>" in page
    assert "<th>findings on promoted rows</th>" in page
    assert "<tr><td>3</td><td>2</td><td>1</td><td>1</td></tr>" in page
    assert "Quarantined rows (first 1)" in page and "Promoted rows with findings (first 1)" in page
    assert page.index("Quarantined rows") < page.index("Promoted rows with findings")
    assert "&lt;TLC&gt;" in page and "<TLC>" not in page
    assert "a lot &amp; code" in page
    assert "<th>held</th>" not in page and "Held rows" not in page
    md = render_markdown([_run()], NOW)
    assert "checked 3, promoted 2, quarantined 1, findings 1; suite(s)" in md
    assert "| kde.receiving.tlc_source | 21 CFR 1.1345(a)(7) | finding | 3 | 1 |" in md
    assert "| kde.receiving.lots_tlc | 21 CFR 1.1345(a)(1) | quarantine | 3 | 1 |" in md
    assert "| reference.receiving_matches_shipping |  | finding | 3 | 0 |" in md
    assert "- quarantined rows `m-2`: receiving event lacks a lot & code" in md
    assert "- promoted rows with findings `m-1`: receiving event lacks <TLC> source" in md
    assert " held " not in md and "- held " not in md
    path = write_report(tmp_path / "r", [_run()], NOW)
    assert path.name == "validation-20261128T120000Z-run7.html" and path.exists()
    assert path.with_suffix(".md").exists()
