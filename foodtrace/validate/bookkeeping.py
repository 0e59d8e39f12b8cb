"""What a validation run records besides the promotion itself: the counts it
returns (PromoteStats), its row in ops.validation_runs with the per-rule results,
the run's snapshot of landing.validation_queue, and each batch's marks
(core.processed_messages, the queue rows taken off).

No function here opens, commits or rolls back a transaction: promote.py, which
owns the run's connection, decides where each transaction begins and ends.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from foodtrace.db.rows import one
from foodtrace.validate import sql
from foodtrace.validate.decide import Decision, RuleResult, RuleTally
from foodtrace.validate.kinds import Kind
from foodtrace.validate.report import RunReport
from foodtrace.validate.rules import RULES_BY_SUITE


@dataclass
class KindStats:
    kind: str
    run_id: int | None = None
    checked: int = 0
    promoted: int = 0
    quarantined: int = 0
    findings: int = 0  # recorded on promoted rows
    batches: int = 0
    engine: str | None = None  # gx | compiled (of the last batch)


@dataclass
class PromoteStats:
    kinds: dict[str, KindStats] = field(default_factory=dict)
    report_path: str | None = None
    seconds: float = 0.0
    retractions: int = 0  # EPCIS error declarations recorded (retractions.py)

    def _sum(self, attr: str) -> int:
        return sum(getattr(k, attr) for k in self.kinds.values())

    @property
    def checked(self) -> int:
        return self._sum("checked")

    @property
    def promoted(self) -> int:
        return self._sum("promoted")

    @property
    def quarantined(self) -> int:
        return self._sum("quarantined")

    @property
    def findings(self) -> int:
        return self._sum("findings")

    @property
    def run_ids(self) -> list[int]:
        return [k.run_id for k in self.kinds.values() if k.run_id is not None]

    @property
    def engines(self) -> dict[str, str]:
        return {k.kind: k.engine for k in self.kinds.values() if k.engine}

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "promoted": self.promoted,
            "quarantined": self.quarantined,
            "findings": self.findings,
            "run_ids": self.run_ids,
            "engines": self.engines,
            "report_path": self.report_path,
            "seconds": self.seconds,
            "retractions": self.retractions,
            "kinds": {name: asdict(k) for name, k in self.kinds.items()},
        }


class BatchClock:
    """Seconds per phase of a batch, for the debug log and the benchmark."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + now - self._last
        self._last = now

    def __str__(self) -> str:
        return ", ".join(f"{k} {v:.2f}s" for k, v in self.laps.items())


# --- the run's snapshot of the queue (ft_snapshot, a session temp table) -------------


def requeue(conn: psycopg.Connection, kinds: Sequence[Kind]) -> None:
    """Queue every landing row of `kinds` that validation never decided about."""
    for kind in kinds:
        conn.execute(sql.requeue(kind.table), {"kind": kind.name})


def take_snapshot(conn: psycopg.Connection, kind: Kind) -> int:
    """Number the queued rows of `kind` in judging order (ft_snapshot, kept past
    COMMIT so the run's batches are slices of it); how many there are. Queue rows
    whose landing row is gone are dropped first."""
    conn.execute(sql.drop_orphans(kind.table), {"kind": kind.name})
    conn.execute(sql.DROP_SNAPSHOT)
    conn.execute(sql.snapshot(kind.table, kind.order_by), {"kind": kind.name})
    conn.execute(sql.SNAPSHOT_INDEX)
    count: int = one(conn.execute("SELECT count(*) FROM ft_snapshot"))[0]
    return count


def drop_snapshot(conn: psycopg.Connection) -> None:
    conn.execute(sql.DROP_SNAPSHOT)


# --- ops.validation_runs ------------------------------------------------------------


def start_run(conn: psycopg.Connection, kind: Kind) -> RunReport:
    """The run's row in ops.validation_runs, and its report with a tally per rule."""
    suite_name = "+".join(kind.suites)
    started_at = datetime.now(UTC)
    run_id: int = one(conn.execute(sql.START_RUN, (kind.name, suite_name, started_at)))[0]
    run = RunReport(run_id=run_id, kind=kind.name, suite_name=suite_name, started_at=started_at)
    for suite in kind.suites:
        for rule in RULES_BY_SUITE[suite]:
            run.tallies[rule.name] = RuleTally(rule)
    return run


def finish_run(conn: psycopg.Connection, run: RunReport) -> None:
    """Close the run's row (counts, success) and record each rule's result."""
    run.finished_at = datetime.now(UTC)
    conn.execute(
        sql.FINISH_RUN,
        {
            "finished_at": run.finished_at,
            "checked": run.checked,
            "passed": run.promoted,
            "failed": run.quarantined,
            "findings": run.findings,
            "success": run.success,
            "run_id": run.run_id,
        },
    )
    with conn.cursor() as cur:
        cur.executemany(
            sql.INSERT_RESULT,
            [
                (
                    run.run_id,
                    t.rule.name,
                    t.rule.expectation,
                    t.rule.column,
                    t.rule.cfr_section,
                    t.rule.on_failure,
                    t.success,
                    t.element_count,
                    t.unexpected_count,
                    t.sample,
                )
                for t in run.tallies.values()
            ],
        )


def record_report_path(conn: psycopg.Connection, path: Path, runs: Sequence[RunReport]) -> None:
    conn.execute(sql.SET_REPORT_PATH, (str(path), [r.run_id for r in runs]))


# --- per batch -------------------------------------------------------------------------


def copy_decisions(cur: psycopg.Cursor[Any], decisions: Sequence[Decision]) -> None:
    """The batch's decisions into ft_decision, which the PROMOTE statements read."""
    # One INSERT from arrays rather than COPY: as fast at these sizes, and it also
    # works through servers that do not speak COPY (the TimescaleDB test target).
    cur.execute(
        "INSERT INTO ft_decision (message_id, outcome, reasons) "
        "SELECT * FROM unnest(%s::uuid[], %s::text[], %s::jsonb[])",
        (
            [d.message_id for d in decisions],
            [d.outcome for d in decisions],
            [json.dumps(d.reasons, default=str) for d in decisions],
        ),
    )


def mark_processed(cur: psycopg.Cursor[Any], kind: Kind, now: datetime, run_id: int) -> None:
    """Every decided row into core.processed_messages, and off the queue."""
    cur.execute(sql.MARK_PROCESSED, {"kind": kind.name, "now": now, "run_id": run_id})
    cur.execute(sql.DEQUEUE, {"kind": kind.name})


def account_batch(
    run: RunReport,
    kstats: KindStats,
    decisions: Sequence[Decision],
    results: Sequence[RuleResult],
    engine: str,
) -> None:
    """Add a committed batch to the run's report and the kind's counts."""
    for res in results:
        run.tallies[res.rule.name].add(res)
    counts = {"promoted": 0, "quarantined": 0, "findings": 0}
    for d in decisions:
        counts[d.outcome] += 1
        counts["findings"] += d.findings
        if d.reasons:
            run.add_example(d.outcome, d.message_id, d.reasons)
    for name, n in counts.items():
        setattr(run, name, getattr(run, name) + n)
        setattr(kstats, name, getattr(kstats, name) + n)
    run.checked += len(decisions)
    kstats.checked += len(decisions)
    kstats.batches += 1
    kstats.engine = engine
