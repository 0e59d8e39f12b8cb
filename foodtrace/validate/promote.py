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
changes nothing in core or quarantine.

Concurrency: `kinds` limits a call to some message kinds (the Airflow lab-result
lane validates only lab results, so a positive test never waits behind a bulk of
chain events). Callers serialise per lane on a session advisory lock: master data
and chain events share one (a batch reads what earlier batches promoted), lab
results have their own. The lanes meet where one kind's batch answers another's
findings (RESOLVE_LAB_LOT, RESOLVE_MASTER: a lab result's lot, sampled location
or product arriving): a lab batch holds the reference lock (transaction-scoped)
from the moment it reads core until it commits, and a chain or master batch takes
it just before it resolves findings, until it commits. So either the lab batch
reads the other batch's committed rows (and records no finding), or the other
batch's resolve sees the lab batch's committed finding (and answers it): the
outcome is that of one serial order, never a finding left open by a race.

Checks: each rule is a great_expectations expectation (suites.SuiteRunner). A
small batch of lab results (at most COMPILED_MAX_ROWS, e.g. the single positive
test that must become an alert) is checked with suites.CompiledRunner instead:
the same expectations in plain Python, proven to give identical results on every
rule case (tests/integration/validate/test_validation_engines.py), without
importing great_expectations or pandas. `engine` forces one of them.

Transactions: a run is a long loop that commits batch by batch (that is what
keeps the earlier batches when a later one crashes), so it controls the
transactions of the connection it is given, and no caller can wrap it in one of
its own: the batches would become savepoints, nothing would be durable before the
caller's commit, and the ON COMMIT DROP temp tables of one batch would still be
there for the next. It takes a connection rather than a URL because the caller
chooses the role and may hold session locks on it. It ends whatever transaction
the caller left open before it starts (as session_lock, db/locks.py, which takes
each lane's lock, does too).

Modules: kinds.py (the message kinds as data), frames.py (frame rows for the
checks: dicts or a DataFrame), bookkeeping.py (counts, ops.validation_runs, the
queue snapshot and marks), settings.py (the report folder from the environment,
read by the entry points); this one orchestrates.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import pq

from foodtrace.db.locks import session_lock
from foodtrace.validate import bookkeeping, sql
from foodtrace.validate.bookkeeping import BatchClock, KindStats, PromoteStats
from foodtrace.validate.decide import Decision, RuleResult, decide
from foodtrace.validate.epcis_notes import promote_sensor_notes
from foodtrace.validate.frames import FrameRows, failing_rows, fetch_frame
from foodtrace.validate.kinds import KIND_NAMES, KINDS, RESOLVE_PARAMS, Kind, frame_params
from foodtrace.validate.report import RunReport, write_report
from foodtrace.validate.retractions import promote_declarations
from foodtrace.validate.settings import TEMP_REPORT_DIR
from foodtrace.validate.suites import COMPILED, ENGINES, SuiteRunner, suite_runner

__all__ = ["KIND_NAMES", "KindStats", "PromoteStats", "validate_and_promote"]

log = logging.getLogger(__name__)

_LOCK_KEY = 0x46_54_56_50  # "FTVP": master data and chain events, one validator at a time
_LAB_LOCK_KEY = 0x46_54_56_4C  # "FTVL": lab results, one validator at a time
_REFERENCE_LOCK_KEY = 0x46_54_56_52  # "FTVR": cross-lane reads and resolves (module doc)
# (lock, kinds): the lanes, in processing order
LOCK_GROUPS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (_LOCK_KEY, ("master_data", "chain_event")),
    (_LAB_LOCK_KEY, ("lab_result",)),
)
# Kinds whose small batches go through the compiled checks (engine "auto").
COMPILED_KINDS: frozenset[str] = frozenset({"lab_result"})
COMPILED_MAX_ROWS = 1_000
DEFAULT_BATCH_SIZE = 50_000
ANALYZE_MIN_ROWS = 1_000  # see _refresh_statistics
ANALYZE_GROWTH = 0.2
MAX_PASSES = 4  # judgements of a batch: again after excluding the refused rows


def validate_and_promote(
    conn: psycopg.Connection,
    *,
    now: datetime | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    report_dir: Path | None = None,
    write_reports: bool = True,
    requeue: bool = False,
    kinds: Sequence[str] | None = None,
    engine: str = "auto",
) -> PromoteStats:
    """Validate every queued landing row and promote what passes; commits batch by
    batch on `conn` (module doc: Transactions).

    `now` (default: the current time) is the reference for "in the future". `requeue=True`
    first queues every landing row that validation never decided about (a repair
    after rows were loaded with triggers disabled). The report goes to `report_dir`
    (default settings.TEMP_REPORT_DIR; the entry points pass FOODTRACE_REPORT_DIR,
    settings.report_dir_from_env). `kinds` (default: all, in the order master data,
    chain events, lab results) limits the call to some kinds. `engine`: "auto"
    (compiled checks for small lab-result batches, great_expectations otherwise),
    "gx" or "compiled".
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if engine not in ("auto", *ENGINES):
        raise ValueError(f"engine must be auto, gx or compiled, not {engine!r}")
    wanted = KIND_NAMES if kinds is None else tuple(kinds)
    unknown = sorted(set(wanted) - set(KIND_NAMES))
    if unknown:
        raise ValueError(f"unknown message kinds {unknown}; known: {', '.join(KIND_NAMES)}")
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    if not conn.autocommit and conn.info.transaction_status == pq.TransactionStatus.INTRANS:
        conn.commit()  # the run owns the connection's transactions (module doc)
    stats = PromoteStats()
    runs: list[RunReport] = []
    for lock_key, names in LOCK_GROUPS:
        group = [k for k in KINDS if k.name in names and k.name in wanted]
        if not group:
            continue
        with session_lock(conn, lock_key, "validation"):
            if requeue:
                with conn.transaction():
                    bookkeeping.requeue(conn, group)
            for kind in group:
                run = _process_kind(conn, kind, now, batch_size, stats, engine)
                if run is not None:
                    runs.append(run)
                if kind.name == "chain_event":  # EPCIS error declarations (retractions.py)
                    with conn.transaction():
                        stats.retractions += promote_declarations(conn)
                    with conn.transaction():
                        promote_sensor_notes(conn)  # EPCIS sensor reports (epcis_notes.py)
    if runs and write_reports:
        try:
            path = write_report(report_dir or TEMP_REPORT_DIR, runs, datetime.now(UTC))
        except OSError as exc:  # the promotion is committed; a report is not worth a retry
            log.warning("could not write the validation report: %s", exc)
        else:
            stats.report_path = str(path)
            with conn.transaction():
                bookkeeping.record_report_path(conn, path, runs)
    stats.seconds = round(time.perf_counter() - started, 3)
    return stats


def _reference_lock(cur: psycopg.Cursor[Any]) -> None:
    """Until this transaction ends: see the module doc (cross-lane reads and resolves)."""
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (_REFERENCE_LOCK_KEY,))


def _engine(kind: Kind, rows: int, engine: str) -> str:
    if engine != "auto":
        return engine
    return "compiled" if kind.name in COMPILED_KINDS and rows <= COMPILED_MAX_ROWS else "gx"


def _process_kind(
    conn: psycopg.Connection,
    kind: Kind,
    now: datetime,
    batch_size: int,
    stats: PromoteStats,
    engine: str,
) -> RunReport | None:
    """Every queued row of `kind`, batch after batch (one transaction each)."""
    with conn.transaction():
        total = bookkeeping.take_snapshot(conn, kind)
    if total == 0:
        with conn.transaction():
            bookkeeping.drop_snapshot(conn)
        return None
    with conn.transaction():
        run = bookkeeping.start_run(conn, kind)
    kstats = stats.kinds.setdefault(kind.name, KindStats(kind.name))
    kstats.run_id = run.run_id
    try:
        for lo in range(0, total, batch_size):
            hi = min(lo + batch_size, total)
            _process_batch(conn, kind, lo, hi, now, run, kstats, _engine(kind, hi - lo, engine))
    finally:
        if conn.info.transaction_status == pq.TransactionStatus.INERROR:
            conn.rollback()
        with conn.transaction():
            bookkeeping.drop_snapshot(conn)
    with conn.transaction():
        bookkeeping.finish_run(conn, run)
    return run


def _process_batch(
    conn: psycopg.Connection,
    kind: Kind,
    lo: int,
    hi: int,
    now: datetime,
    run: RunReport,
    kstats: KindStats,
    engine: str,
) -> None:
    """Rows lo < ord <= hi of the snapshot: judge, promote, quarantine, tell, resolve
    and mark them in ONE transaction; account for them once it has committed."""
    # outside the transaction: the first call imports great_expectations (seconds)
    gx = suite_runner() if engine == "gx" else None
    params = frame_params(now)
    clock = BatchClock()
    with conn.transaction(), conn.cursor() as cur:
        # JIT compiling the wide frame query cost 2.6 s of its 4 s on 50,000 rows
        cur.execute("SET LOCAL jit = off")
        cur.execute(sql.BATCH_KEYS, {"lo": lo, "hi": hi})
        for statement in kind.stage:
            cur.execute(statement)
        cur.execute(sql.DECISIONS_TABLE)
        if kind.name == "lab_result":
            _reference_lock(cur)  # from the first read of core until commit
        clock.lap("stage")
        decisions, results = _judge(cur, kind, params, gx, clock)
        bookkeeping.copy_decisions(cur, decisions)
        for statement in kind.promote:
            cur.execute(statement)
        kind_param = {"kind": kind.name}
        cur.execute(sql.FINDINGS[kind.name], kind_param)
        cur.execute(sql.QUARANTINE[kind.name], kind_param)
        cur.execute(sql.NOTICES[kind.name], kind_param)
        _refresh_statistics(cur, kind, sum(d.outcome == "promoted" for d in decisions))
        clock.lap("promote")
        if kind.name != "lab_result":
            _reference_lock(cur)  # its resolves may answer a lab batch's findings
        for statement in kind.resolve:
            cur.execute(statement, RESOLVE_PARAMS)
        clock.lap("resolve")
        bookkeeping.mark_processed(cur, kind, now, run.run_id)
    clock.lap("commit")
    log.debug("validated %s batch of %d rows (%s): %s", kind.name, len(decisions), engine, clock)
    bookkeeping.account_batch(run, kstats, decisions, results, engine)


def _judge(
    cur: psycopg.Cursor[Any],
    kind: Kind,
    params: dict[str, Any],
    gx: SuiteRunner | None,
    clock: BatchClock,
) -> tuple[list[Decision], list[RuleResult]]:
    """Decide every staged row (gx: great_expectations' runner, None: the compiled
    checks); the decisions and one result per rule over all passes."""
    decided: dict[str, Decision] = {}
    merged: dict[str, RuleResult] = {}
    excluded: list[str] = []
    params["only"] = None  # first pass: the whole batch
    for _ in range(MAX_PASSES):
        params["excluded"] = excluded
        message_ids: list[str] = []
        results: list[RuleResult] = []
        frames: list[FrameRows] = []
        for suite, frame_sql in kind.frames:
            rows = fetch_frame(cur, frame_sql, params)
            frames.append(rows)
            message_ids.extend(rows.ids())
            clock.lap("frame")
            if gx is not None:
                results.extend(gx.validate(suite, rows.frame()))
            else:
                results.extend(COMPILED.validate(suite, rows.records()))
            clock.lap("expectations")
        _merge(merged, results, message_ids)
        refused = []  # quarantined for a fault of their own
        for d in decide(message_ids, results, failing_rows(frames, results)):
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
        params["only"] = [message_id for (message_id,) in cur.fetchall()]
        excluded = excluded + refused
        cur.execute(kind.exclude, {"ids": refused})
        if not params["only"]:
            break
    clock.lap("decide")
    return list(decided.values()), list(merged.values())


def _refresh_statistics(cur: psycopg.Cursor[Any], kind: Kind, promoted: int) -> None:
    """ANALYZE the core tables after a batch that grew them a lot.

    Autovacuum analyses only after it wakes up (a minute later by default), so
    during a bulk load the next batch would be planned with the statistics of a
    nearly empty core, and a 50,000-row batch went from 0.5 s to 20 s of frame
    query. Needs table ownership (or MAINTAIN on PostgreSQL 17+); without it
    PostgreSQL skips the table with a warning and the run goes on.
    """
    if not kind.analyze or promoted < ANALYZE_MIN_ROWS:
        return
    cur.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", (kind.analyze[0],))
    row = cur.fetchone()
    known = row[0] if row else -1
    if known < 0 or promoted > ANALYZE_GROWTH * known:
        cur.execute(sql.analyze(kind.analyze))


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
