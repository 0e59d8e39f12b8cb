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

from foodtrace.db.locks import session_lock
from foodtrace.db.rows import one
from foodtrace.reference import ANALYTES, FOOD_CATEGORIES, QUANTITY_UNITS
from foodtrace.validate import sql
from foodtrace.validate.decide import Decision, RuleResult, RuleTally, decide
from foodtrace.validate.epcis_notes import promote_sensor_notes
from foodtrace.validate.report import RunReport, write_report
from foodtrace.validate.retractions import promote_declarations
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
from foodtrace.validate.suites import ENGINES

if TYPE_CHECKING:
    import pandas as pd

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


KIND_NAMES: tuple[str, ...] = tuple(k.name for k in KINDS)


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
    """Validate every queued landing row and promote what passes; see the module doc.

    `now` (default: the current time) is the reference for "in the future". `requeue=True`
    first queues every landing row that validation never decided about (a repair
    after rows were loaded with triggers disabled). The report goes to `report_dir`
    (default FOODTRACE_REPORT_DIR, else a temp folder). `kinds` (default: all, in
    the order master data, chain events, lab results) limits the call to some
    kinds. `engine`: "auto" (compiled checks for small lab-result batches,
    great_expectations otherwise), "gx" or "compiled".
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
        conn.commit()
    stats = PromoteStats()
    runs: list[RunReport] = []
    for lock_key, names in LOCK_GROUPS:
        group = [k for k in KINDS if k.name in names and k.name in wanted]
        if not group:
            continue
        with session_lock(conn, lock_key, "validation"):
            if requeue:
                with conn.transaction():
                    for kind in group:
                        conn.execute(sql.REQUEUE.format(table=kind.table), {"kind": kind.name})
            for kind in group:
                run = _process_kind(conn, kind, now, batch_size, stats, engine)
                if run is not None:
                    runs.append(run)
                if kind.name == "chain_event":  # EPCIS error declarations (retractions.py)
                    stats.retractions += promote_declarations(conn)
                    promote_sensor_notes(conn)  # EPCIS sensor reports (epcis_notes.py)
    if runs and write_reports:
        try:
            path = write_report(report_dir or default_report_dir(), runs, datetime.now(UTC))
        except OSError as exc:  # the promotion is committed; a report is not worth a retry
            log.warning("could not write the validation report: %s", exc)
        else:
            stats.report_path = str(path)
            with conn.transaction():
                conn.execute(sql.SET_REPORT_PATH, (str(path), [r.run_id for r in runs]))
    stats.seconds = round(time.perf_counter() - started, 3)
    return stats


def _reference_lock(cur: psycopg.Cursor) -> None:
    """Until this transaction ends: see the module doc (cross-lane reads and resolves)."""
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (_REFERENCE_LOCK_KEY,))


def _engine(kind: _Kind, rows: int, engine: str) -> str:
    if engine != "auto":
        return engine
    return "compiled" if kind.name in COMPILED_KINDS and rows <= COMPILED_MAX_ROWS else "gx"


def _process_kind(
    conn: psycopg.Connection,
    kind: _Kind,
    now: datetime,
    batch_size: int,
    stats: PromoteStats,
    engine: str,
) -> RunReport | None:
    with conn.transaction():
        conn.execute(sql.DROP_ORPHANS.format(table=kind.table), {"kind": kind.name})
        conn.execute(sql.DROP_SNAPSHOT)
        conn.execute(
            sql.SNAPSHOT.format(order_by=kind.order_by, table=kind.table), {"kind": kind.name}
        )
        conn.execute(sql.SNAPSHOT_INDEX)
        total = one(conn.execute("SELECT count(*) FROM ft_snapshot"))[0]
    if total == 0:
        with conn.transaction():
            conn.execute(sql.DROP_SNAPSHOT)
        return None
    suite_name = "+".join(kind.suites)
    started_at = datetime.now(UTC)
    with conn.transaction():
        run_id = one(conn.execute(sql.START_RUN, (kind.name, suite_name, started_at)))[0]
    run = RunReport(run_id=run_id, kind=kind.name, suite_name=suite_name, started_at=started_at)
    for suite in kind.suites:
        for rule in RULES_BY_SUITE[suite]:
            run.tallies[rule.name] = RuleTally(rule)
    kstats = stats.kinds.setdefault(kind.name, KindStats(kind.name))
    kstats.run_id = run_id
    try:
        for lo in range(0, total, batch_size):
            hi = min(lo + batch_size, total)
            _process_batch(conn, kind, lo, hi, now, run, kstats, _engine(kind, hi - lo, engine))
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
    engine: str,
) -> None:
    from foodtrace.validate.suites import COMPILED, suite_runner

    # outside the transaction: the first call imports great_expectations (seconds)
    gx = suite_runner() if engine == "gx" else None
    params = _frame_params(now)
    clock = _Clock()
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
        decided: dict[str, Decision] = {}
        merged: dict[str, RuleResult] = {}
        excluded: list[str] = []
        params["only"] = None  # first pass: the whole batch
        for _ in range(MAX_PASSES):
            params["excluded"] = excluded
            message_ids: list[str] = []
            results: list[RuleResult] = []
            batches: list[_Rows] = []
            for suite, frame_sql in kind.frames:
                rows = _fetch_rows(cur, frame_sql, params)
                batches.append(rows)
                message_ids.extend(rows.ids())
                clock.lap("frame")
                if gx is not None:
                    results.extend(gx.validate(suite, rows.frame()))
                else:
                    results.extend(COMPILED.validate(suite, rows.records()))
                clock.lap("expectations")
            _merge(merged, results, message_ids)
            refused = []  # quarantined for a fault of their own
            for d in decide(message_ids, results, _failing_rows(batches, results)):
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
        if kind.name != "lab_result":
            _reference_lock(cur)  # its resolves may answer a lab batch's findings
        for statement in kind.resolve:
            cur.execute(statement, _RESOLVE_PARAMS)
        clock.lap("resolve")
        cur.execute(sql.MARK_PROCESSED, {"kind": kind.name, "now": now, "run_id": run.run_id})
        cur.execute(sql.DEQUEUE, {"kind": kind.name})
    clock.lap("commit")
    log.debug("validated %s batch of %d rows (%s): %s", kind.name, len(decisions), engine, clock)
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
    kstats.engine = engine


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


@dataclass(frozen=True)
class _Rows:
    """One frame query's rows, as the compiled checks read them (dicts of Python
    values) or as great_expectations does (a DataFrame); both views carry the same
    values: floats as float (NULL: None / NaN), timestamps in UTC."""

    columns: tuple[str, ...]
    oids: tuple[int, ...]
    rows: tuple[tuple[Any, ...], ...]

    def ids(self) -> list[str]:
        i = self.columns.index("message_id")
        return [r[i] for r in self.rows]

    def records(self) -> list[dict[str, Any]]:
        convert = [_PY_CONVERT.get(oid) for oid in self.oids]
        return [
            {
                name: (value if fn is None or value is None else fn(value))
                for name, fn, value in zip(self.columns, convert, row, strict=True)
            }
            for row in self.rows
        ]

    def frame(self) -> pd.DataFrame:
        import pandas as pd

        frame = pd.DataFrame.from_records(list(self.rows), columns=list(self.columns))
        for name, oid in zip(self.columns, self.oids, strict=True):
            if oid == _TIMESTAMPTZ_OID:
                frame[name] = pd.to_datetime(frame[name], utc=True)
            elif oid in _FLOAT_OIDS:
                frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        return frame


_PY_CONVERT: dict[int, Any] = {
    _TIMESTAMPTZ_OID: lambda v: v.astimezone(UTC),
    **{oid: float for oid in _FLOAT_OIDS},
}


def _fetch_rows(cur: psycopg.Cursor, frame_sql: str, params: dict[str, Any]) -> _Rows:
    cur.execute(frame_sql, params)
    if cur.description is None:  # the frame queries are SELECTs: they always have columns
        raise RuntimeError(f"the frame query returned no columns: {frame_sql[:200]}")
    return _Rows(
        columns=tuple(d.name for d in cur.description),
        oids=tuple(d.type_code for d in cur.description),
        rows=tuple(cur.fetchall()),
    )


def _failing_rows(
    batches: Sequence[_Rows], results: Sequence[RuleResult]
) -> dict[str, dict[str, Any]]:
    """Column values of the failing rows only (their reasons quote them)."""
    failing = {mid for res in results for mid in res.failing}
    rows: dict[str, dict[str, Any]] = {}
    if not failing:
        return rows
    for batch in batches:
        i = batch.columns.index("message_id")
        subset = _Rows(batch.columns, batch.oids, tuple(r for r in batch.rows if r[i] in failing))
        rows.update({r["message_id"]: r for r in subset.records()})
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
