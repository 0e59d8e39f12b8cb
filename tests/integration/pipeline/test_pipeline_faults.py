"""Faults of the pipeline end with the same traces and alerts (issue 11, item 5).

Two databases get the same messages. The reference runs validate -> link -> alert
undisturbed after each wave of messages. The faulted one does the same, except
that in the last wave foodtrace_link is SIGKILLed while one of its batches is
inside its transaction (waiting on a row the test holds:
pipeline_faults.kill_link_mid_transaction); the next run of link and alert
completes; then every DAG is run again over the same data. After each, the counts
and the canonical JSON of traces, alerts, lot graph and findings are compared with
the reference, and any difference is printed as a diff.

Two days: on time in one wave (the kill lands in the lab-result batch, after the
chain events' batch committed), and as the world sends it (KDEs left out, late
uploads in a second wave: the kill lands in that wave's chain-event batch, and the
late data re-scopes the open alert).

The same scenario, with the counts and the diff printed: `bench/faults/run.py`.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from pipeline_faults import (
    compare,
    messy_day,
    plain_day,
    run_fault_scenario,
    scratch_database,
    snapshot_of,
)


@pytest.mark.parametrize(
    ("day", "source"),
    [
        pytest.param(plain_day, "lab_result", id="on-time-day"),
        # 2.3 min: the messy day is `make test-long` (bench/faults/run.py --messy too)
        pytest.param(messy_day, "event", id="messy-day-late-wave", marks=pytest.mark.long),
    ],
)
def test_link_killed_mid_transaction_then_rerun_match_an_undisturbed_run(
    day, source: str, fresh_db_url: str, airflow_home: Path
) -> None:
    waves = day(scale=0.3, seed=7, incident="pesticide")
    lab_results = sum(kind == "lab_result" for w in waves for kind, _ in w.items)
    with scratch_database() as reference_url:
        run = run_fault_scenario(waves, reference_url, fresh_db_url, airflow_home)
        print(f"--- killed: {run.killed}")
        print(f"--- after the SIGKILL and the next run\n{run.after_retry.report()}")
        print(f"--- after re-running every DAG\n{run.after_rerun.report()}")

        assert [r["state"] for r in run.reference_runs] == ["success"] * 3 * len(waves)
        assert any(r["result"].get("alerts") for r in run.reference_runs[2::3])

        killed = run.killed
        assert killed.driver_exit == -9  # SIGKILL, not an exception
        assert killed.source == source
        assert "core.link_queue" in killed.waiting_query  # inside link's batch statement
        # the batch had taken its rows off the queue in its open transaction; the
        # dead session's rollback put them all back for the next run
        assert killed.queued_before > 0 and killed.taken_at_kill == killed.queued_before
        assert killed.queued_after == killed.queued_before
        if source == "lab_result":
            assert killed.queued_before == lab_results
            assert killed.events_linked_at_kill > 0  # the events' batch had committed

        assert [r["state"] for r in run.retry_runs] == ["success"] * 2
        assert run.after_retry.same, run.after_retry.report()
        assert [r["state"] for r in run.rerun_runs] == ["success"] * 3
        assert run.rerun_runs[0]["result"]["promoted"] == 0
        assert run.after_rerun.same, run.after_rerun.report()
        counts = run.after_rerun.counts
        assert counts["alerts"][0] >= 1 and counts["link_queue_left"] == (0, 0)
        if day is messy_day:
            assert counts["findings"][0] > 0  # the left-out KDEs were compared too

        # the comparison sees a doubled alert version and a lost trace location
        reference = snapshot_of(reference_url)
        faulted = copy.deepcopy(reference)
        faulted["counts"]["alert_versions"] += 1
        faulted["alerts"][0]["versions"].append(faulted["alerts"][0]["versions"][-1])
        lost = faulted["traces"][faulted["alerts"][0]["lot_code"]]["locations"].pop()
        seen = compare(reference, faulted)
        before, after = seen.counts["alert_versions"]
        assert not seen.same and after == before + 1
        assert any(line.startswith("-") and lost["location_id"] in line for line in seen.diff)
