"""decide() (promote / quarantine / hold / timeout) and the report rendering (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from foodtrace.validate.decide import RuleResult, RuleTally, decide
from foodtrace.validate.report import RunReport, render_html, render_markdown, write_report
from foodtrace.validate.rules import RULES_BY_NAME

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
TLC = RULES_BY_NAME["kde.receiving.tlc_source"]
MATCH = RULES_BY_NAME["reference.receiving_matches_shipping"]
LOT = RULES_BY_NAME["reference.lot_known"]


def _decide(results, held_since=None, rows=None):
    ids = ["a", "b", "c", "d"]
    return {
        d.message_id: d
        for d in decide(
            ids,
            results,
            rows or {},
            held_since=held_since or {},
            now=NOW,
            hold_timeout=timedelta(hours=24),
        )
    }


def test_no_failure_promotes() -> None:
    out = _decide([RuleResult(TLC, 4, [])])
    assert {d.outcome for d in out.values()} == {"promoted"}
    assert all(d.reasons == [] for d in out.values())


def test_a_quarantine_rule_beats_a_hold_rule() -> None:
    out = _decide(
        [RuleResult(MATCH, 4, ["a", "b"]), RuleResult(TLC, 4, ["a"])],
        rows={"a": {"unmatched_lot": "L1"}, "b": {"unmatched_lot": "L2", "location_id": "m"}},
    )
    assert out["a"].outcome == "quarantined"
    assert [r["rule"] for r in out["a"].reasons] == [TLC.name, MATCH.name]
    assert (
        out["a"].reasons[0]["message"] == "receiving event lacks TLC source (21 CFR 1.1345(a)(7))"
    )
    assert out["a"].reasons[0]["cfr_section"] == "21 CFR 1.1345(a)(7)"
    assert out["a"].reasons[0]["expectation"] == "ExpectColumnValuesToNotBeNull"
    assert out["b"].outcome == "held"
    assert out["b"].reasons[0]["message"].startswith("receiving of lot L2 at m matches no")
    assert out["c"].outcome == "promoted"


def test_a_hold_times_out_into_unmatched_reference() -> None:
    results = [RuleResult(LOT, 4, ["a", "b", "c"])]
    since = {"a": NOW - timedelta(hours=25), "b": NOW - timedelta(hours=23)}
    out = _decide(results, held_since=since, rows={"a": {"unknown_lot": "L9"}})
    assert out["a"].outcome == "quarantined"
    assert out["a"].reasons[0]["code"] == "unmatched_reference"
    assert out["a"].reasons[0]["message"] == (
        "unmatched reference after 24 h on hold: lot L9 is not known (no chain event names it yet)"
    )
    assert out["b"].outcome == "held"  # not long enough
    assert out["c"].outcome == "held"  # first time: held from now on


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
    run.tallies[TLC.name] = RuleTally(TLC, 3, 1, ["m-1"])
    run.tallies[MATCH.name] = RuleTally(MATCH, 3, 0, [])
    run.checked, run.quarantined, run.promoted = 3, 1, 2
    run.add_example("quarantined", "m-1", [{"message": "receiving event lacks <TLC> source"}])
    return run


def test_report_lists_every_expectation_and_escapes_html(tmp_path: Path) -> None:
    page = render_html([_run()], NOW)
    assert "kde.receiving.tlc_source" in page and "21 CFR 1.1345(a)(7)" in page
    assert "reference.receiving_matches_shipping" in page
    assert "&lt;TLC&gt;" in page and "<TLC>" not in page
    md = render_markdown([_run()], NOW)
    assert "| kde.receiving.tlc_source | 21 CFR 1.1345(a)(7) | quarantine | 3 | 1 |" in md
    path = write_report(tmp_path / "r", [_run()], NOW)
    assert path.name == "validation-20261128T120000Z-run7.html" and path.exists()
    assert path.with_suffix(".md").exists()
