"""Pipeline step 1: validate what has landed and promote it to core.

`validate_and_promote(conn)` takes the work from landing.validation_queue (filled by
triggers in the landing transactions themselves, so a late commit is never
skipped), in the order master data, chain events (by event time), lab results,
in batches. Per batch, in ONE transaction: parse the rows in SQL, compute the
columns the expectations need (suites.py runs them with great_expectations),
decide per row (decide.py), then promote every row that can be placed in the lot
graph, with its findings (core.findings: KDE gaps with their CFR sections, mass
balance, time anomalies, references not known yet), quarantine the rest (stage
'validation'), queue what each sender is told (core.sender_notices, once per
message), resolve the earlier findings the batch answers (a TLC source derived
from the event that assigned the lot code, master data that arrived), mark every
row in core.processed_messages and take the batch off the queue. Nothing waits:
a row whose references are not there yet is promoted with a finding, so it is
traced (and alerted on) at once and completed when the reference arrives.

Within a batch, rows are references for each other (a shipping and the receiving
that matches it often arrive together). A row refused for a fault of its own is
no reference: it is taken out and the rows sharing a lot with it are judged
again (so a receiving whose shipping was refused has a finding, not a match).

Idempotent and retry-safe: a crash loses at most the open batch, which stays
queued; the inserts are ON CONFLICT DO NOTHING; running again over the same data
changes nothing in core or quarantine. Concurrent callers serialise on an
advisory lock (validation of one batch reads what earlier batches promoted).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import pq

from foodtrace.reference import ANALYTES, FOOD_CATEGORIES, QUANTITY_UNITS
from foodtrace.validate import sql
from foodtrace.validate.decide import Decision, RuleResult, RuleTally, decide
from foodtrace.validate.report import RunReport, write_report
from foodtrace.validate.rules import (
    AQUATIC_CATEGORIES,
    CHAIN_EVENTS,
    LAB_RESULTS,
    LOCATIONS,
    PERCENT_ANALYTES,
    PRODUCE_CATEGORIES,
    PRODUCTS,
    RECEIVED_BEFORE_SHIPPED_TOLERANCE_S,
    RULES_BY_SUITE,
    cap_mg_per_kg,
)

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

_LOCK_KEY = 0x46_54_56_50  # "FTVP": one validator at a time
DEFAULT_BATCH_SIZE = 50_000
ANALYZE_MIN_ROWS = 1_000  # see _refresh_statistics
ANALYZE_GROWTH = 0.2
MAX_PASSES = 4  # judgements of a batch: again after excluding the refused rows
REPORT_DIR_ENV = "FOODTRACE_REPORT_DIR"

_TIMESTAMPTZ_OID = 1184
_FLOAT_OIDS = {700, 701, 1700}


@dataclass
class KindStats:
    kind: str
    run_id: int | None = None
    checked: int = 0
    promoted: int = 0
    quarantined: int = 0
    findings: int = 0  # recorded on promoted rows
    batches: int = 0


@dataclass
class PromoteStats:
    kinds: dict[str, KindStats] = field(default_factory=dict)
    report_path: str | None = None
    seconds: float = 0.0

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

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "promoted": self.promoted,
            "quarantined": self.quarantined,
            "findings": self.findings,
            "run_ids": self.run_ids,
            "report_path": self.report_path,
            "seconds": self.seconds,
            "kinds": {name: asdict(k) for name, k in self.kinds.items()},
        }


@dataclass(frozen=True)
class _Kind:
    name: str
    table: str
    order_by: str
    suites: tuple[str, ...]
    stage: tuple[str, ...]
    frames: tuple[tuple[str, str], ...]  # (suite, frame SQL)
    promote: tuple[str, ...]
    resolve: tuple[str, ...]  # earlier findings the batch may answer
    exclude: str | None = None  # in-batch references: see sql.EXCLUDE_CHAIN
    related: str | None = None  # the rows to judge again then: sql.RELATED_CHAIN
    analyze: tuple[str, ...] = ()  # core tables whose statistics the next batch relies on


KINDS: tuple[_Kind, ...] = (
    _Kind(
        "master_data",
        "landing.master_data",
        "l.ingest_seq",
        (LOCATIONS, PRODUCTS),
        sql.STAGE_MASTER,
        ((LOCATIONS, sql.FRAME_LOCATIONS), (PRODUCTS, sql.FRAME_PRODUCTS)),
        sql.PROMOTE_MASTER,
        (sql.RESOLVE_MASTER,),
    ),
    _Kind(
        "chain_event",
        "landing.chain_events",
        "ops.try_timestamptz(l.payload->>'event_time') NULLS FIRST, l.ingest_seq",
        (CHAIN_EVENTS,),
        sql.STAGE_CHAIN,
        ((CHAIN_EVENTS, sql.FRAME_CHAIN),),
        sql.PROMOTE_CHAIN,
        sql.RESOLVE_CHAIN,
        exclude=sql.EXCLUDE_CHAIN,
        related=sql.RELATED_CHAIN,
        analyze=("core.events", "core.event_lots", "core.lots"),
    ),
    _Kind(
        "lab_result",
        "landing.lab_results",
        "l.ingest_seq",
        (LAB_RESULTS,),
        sql.STAGE_LAB,
        ((LAB_RESULTS, sql.FRAME_LAB),),
        sql.PROMOTE_LAB,
        (),
    ),
)


def _frame_params(now: datetime) -> dict[str, Any]:
    return {
        "now": now,
        "units": list(QUANTITY_UNITS),
        "produce": list(PRODUCE_CATEGORIES),
        "aquatic": list(AQUATIC_CATEGORIES),
        "percent_analytes": sorted(PERCENT_ANALYTES),
        "cap_analytes": list(ANALYTES),
        "cap_values": [cap_mg_per_kg(a) for a in ANALYTES],
        "categories": list(FOOD_CATEGORIES),
        "early_tolerance_s": RECEIVED_BEFORE_SHIPPED_TOLERANCE_S,
    }


# The rule names each RESOLVE_* statement answers.
_RESOLVE_PARAMS: dict[str, Any] = {
    "tlc_rules": ["kde.shipping.tlc_source", "kde.receiving.tlc_source"],
    "recipient_rules": ["kde.harvesting.next_recipient", "kde.cooling.next_recipient"],
    "location_rules": ["reference.location_known", "reference.sampled_location_known"],
    "product_rules": ["reference.products_known", "reference.product_known"],
}


def default_report_dir() -> Path:
    env = os.environ.get(REPORT_DIR_ENV)
    return Path(env) if env else Path(tempfile.gettempdir()) / "foodtrace" / "validation-reports"


def validate_and_promote(
    conn: psycopg.Connection,
    *,
    now: datetime | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    report_dir: Path | None = None,
    write_reports: bool = True,
    requeue: bool = False,
) -> PromoteStats:
    """Validate every queued landing row and promote what passes; see the module doc.

    `now` (default: the current time) is the reference for "in the future". `requeue=True`
    first queues every landing row that validation never decided about (a repair
    after rows were loaded with triggers disabled). The report goes to `report_dir`
    (default FOODTRACE_REPORT_DIR, else a temp folder).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    if not conn.autocommit and conn.info.transaction_status == pq.TransactionStatus.INTRANS:
        conn.commit()
    stats = PromoteStats()
    runs: list[RunReport] = []
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    if not conn.autocommit:
        conn.commit()
    try:
        if requeue:
            with conn.transaction():
                for kind in KINDS:
                    conn.execute(sql.REQUEUE.format(table=kind.table), {"kind": kind.name})
        for kind in KINDS:
            run = _process_kind(conn, kind, now, batch_size, stats)
            if run is not None:
                runs.append(run)
        if runs and write_reports:
            try:
                path = write_report(report_dir or default_report_dir(), runs, datetime.now(UTC))
            except OSError as exc:  # the promotion is committed; a report is not worth a retry
                log.warning("could not write the validation report: %s", exc)
            else:
                stats.report_path = str(path)
                with conn.transaction():
                    conn.execute(sql.SET_REPORT_PATH, (str(path), [r.run_id for r in runs]))
    finally:
        try:
            if conn.info.transaction_status == pq.TransactionStatus.INERROR:
                conn.rollback()
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
            if not conn.autocommit:
                conn.commit()
        except psycopg.Error as exc:  # connection lost: the server released the lock
            log.warning("could not release the validation lock: %s", exc)
    stats.seconds = round(time.perf_counter() - started, 3)
    return stats


def _process_kind(
    conn: psycopg.Connection,
    kind: _Kind,
    now: datetime,
    batch_size: int,
    stats: PromoteStats,
) -> RunReport | None:
    with conn.transaction():
        conn.execute(sql.DROP_ORPHANS.format(table=kind.table), {"kind": kind.name})
        conn.execute(sql.DROP_SNAPSHOT)
        conn.execute(
            sql.SNAPSHOT.format(order_by=kind.order_by, table=kind.table), {"kind": kind.name}
        )
        conn.execute(sql.SNAPSHOT_INDEX)
        total = conn.execute("SELECT count(*) FROM ft_snapshot").fetchone()[0]
    if total == 0:
        with conn.transaction():
            conn.execute(sql.DROP_SNAPSHOT)
        return None
    suite_name = "+".join(kind.suites)
    started_at = datetime.now(UTC)
    with conn.transaction():
        run_id = conn.execute(sql.START_RUN, (kind.name, suite_name, started_at)).fetchone()[0]
    run = RunReport(run_id=run_id, kind=kind.name, suite_name=suite_name, started_at=started_at)
    for suite in kind.suites:
        for rule in RULES_BY_SUITE[suite]:
            run.tallies[rule.name] = RuleTally(rule)
    kstats = stats.kinds.setdefault(kind.name, KindStats(kind.name))
    kstats.run_id = run_id
    try:
        for lo in range(0, total, batch_size):
            _process_batch(conn, kind, lo, lo + batch_size, now, run, kstats)
    finally:
        if conn.info.transaction_status == pq.TransactionStatus.INERROR:
            conn.rollback()
        with conn.transaction():
            conn.execute(sql.DROP_SNAPSHOT)
    run.finished_at = datetime.now(UTC)
    with conn.transaction():
        conn.execute(
            sql.FINISH_RUN,
            {
                "finished_at": run.finished_at,
                "checked": run.checked,
                "passed": run.promoted,
                "failed": run.quarantined,
                "findings": run.findings,
                "success": run.success,
                "run_id": run_id,
            },
        )
        with conn.cursor() as cur:
            cur.executemany(
                sql.INSERT_RESULT,
                [
                    (
                        run_id,
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
    return run


def _process_batch(
    conn: psycopg.Connection,
    kind: _Kind,
    lo: int,
    hi: int,
    now: datetime,
    run: RunReport,
    kstats: KindStats,
) -> None:
    from foodtrace.validate.suites import suite_runner

    runner = suite_runner()  # outside the transaction: the first call imports GX (seconds)
    params = _frame_params(now)
    clock = _Clock()
    with conn.transaction(), conn.cursor() as cur:
        # JIT compiling the wide frame query cost 2.6 s of its 4 s on 50,000 rows
        cur.execute("SET LOCAL jit = off")
        cur.execute(sql.BATCH_KEYS, {"lo": lo, "hi": hi})
        for statement in kind.stage:
            cur.execute(statement)
        cur.execute(sql.DECISIONS_TABLE)
        clock.lap("stage")
        decided: dict[str, Decision] = {}
        merged: dict[str, RuleResult] = {}
        excluded: list[str] = []
        params["only"] = None  # first pass: the whole batch
        for _ in range(MAX_PASSES):
            params["excluded"] = excluded
            message_ids: list[str] = []
            results: list[RuleResult] = []
            frames: list[pd.DataFrame] = []
            for suite, frame_sql in kind.frames:
                frame = _fetch_frame(cur, frame_sql, params)
                frames.append(frame)
                message_ids.extend(frame["message_id"].tolist())
                clock.lap("frame")
                results.extend(runner.validate(suite, frame))
                clock.lap("expectations")
            _merge(merged, results, message_ids)
            refused = []  # quarantined for a fault of their own
            for d in decide(message_ids, results, _failing_rows(frames, results)):
                decided[d.message_id] = d
                if d.outcome == "quarantined":
                    refused.append(d.message_id)
            clock.lap("decide")
            # Rows refused for a fault of their own stop being in-batch references
            # (a refused shipping matches no receiving, a refused creation assigns no
            # lot code), and the rows that share a lot with them are judged again.
            if kind.exclude is None or kind.related is None or not refused:
                break
            cur.execute(kind.related, {"ids": refused})
            params["only"] = [r[0] for r in cur.fetchall()]
            excluded = excluded + refused
            cur.execute(kind.exclude, {"ids": refused})
            if not params["only"]:
                break
        decisions = list(decided.values())
        results = list(merged.values())
        clock.lap("decide")
        _copy_decisions(cur, decisions)
        for statement in kind.promote:
            cur.execute(statement)
        kind_param = {"kind": kind.name}
        cur.execute(sql.FINDINGS[kind.name], kind_param)
        cur.execute(sql.QUARANTINE[kind.name], kind_param)
        cur.execute(sql.NOTICES[kind.name], kind_param)
        _refresh_statistics(cur, kind, sum(d.outcome == "promoted" for d in decisions))
        clock.lap("promote")
        for statement in kind.resolve:
            cur.execute(statement, _RESOLVE_PARAMS)
        clock.lap("resolve")
        cur.execute(sql.MARK_PROCESSED, {"kind": kind.name, "now": now, "run_id": run.run_id})
        cur.execute(sql.DEQUEUE, {"kind": kind.name})
    clock.lap("commit")
    log.debug("validated %s batch of %d rows: %s", kind.name, len(decisions), clock)
    # Committed: account for the batch.
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


def _refresh_statistics(cur: psycopg.Cursor, kind: _Kind, promoted: int) -> None:
    """ANALYZE the core tables after a batch that grew them a lot.

    Autovacuum analyses only after it wakes up (a minute later by default), so
    during a bulk load the next batch would be planned with the statistics of a
    nearly empty core, and a 50,000-row batch went from 0.5 s to 20 s of frame
    query. Needs table ownership (or MAINTAIN on PostgreSQL 17+); without it
    PostgreSQL skips the table with a warning and the run goes on.
    """
    if not kind.analyze or promoted < ANALYZE_MIN_ROWS:
        return
    first = kind.analyze[0]
    cur.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", (first,))
    row = cur.fetchone()
    known = row[0] if row else -1
    if known < 0 or promoted > ANALYZE_GROWTH * known:
        cur.execute(f"ANALYZE {', '.join(kind.analyze)}")


class _Clock:
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


def _merge(
    merged: dict[str, RuleResult], results: Sequence[RuleResult], judged: Sequence[str]
) -> None:
    """One result per rule over all passes of a batch: the first pass's row count;
    for the rows judged again in a later pass, that pass's verdict replaces theirs."""
    again = set(judged)
    for res in results:
        have = merged.get(res.rule.name)
        if have is None:
            merged[res.rule.name] = RuleResult(res.rule, res.element_count, list(res.failing))
        else:
            have.failing[:] = [m for m in have.failing if m not in again] + list(res.failing)


def _fetch_frame(cur: psycopg.Cursor, frame_sql: str, params: dict[str, Any]) -> pd.DataFrame:
    import pandas as pd

    cur.execute(frame_sql, params)
    columns = [d.name for d in cur.description]
    oids = {d.name: d.type_code for d in cur.description}
    frame = pd.DataFrame.from_records(cur.fetchall(), columns=columns)
    for name in columns:
        if oids[name] == _TIMESTAMPTZ_OID:
            frame[name] = pd.to_datetime(frame[name], utc=True)
        elif oids[name] in _FLOAT_OIDS:
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    return frame


def _failing_rows(
    frames: Sequence[pd.DataFrame], results: Sequence[RuleResult]
) -> dict[str, dict[str, Any]]:
    """Column values of the failing rows only (their reasons quote them)."""
    failing = {mid for res in results for mid in res.failing}
    rows: dict[str, dict[str, Any]] = {}
    if not failing:
        return rows
    for frame in frames:
        if frame.empty:
            continue
        subset = frame[frame["message_id"].isin(failing)]
        rows.update(subset.set_index("message_id", drop=False).to_dict("index"))
    return rows


def _copy_decisions(cur: psycopg.Cursor, decisions: Sequence[Decision]) -> None:
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
