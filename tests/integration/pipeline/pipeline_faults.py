"""Compare what two foodtrace databases concluded from the same messages, and the
fault that test_pipeline_faults.py and bench/faults/run.py inflict on the pipeline.

`snapshot(conn)` reads the counts (events, lot edges, lot locations, findings,
alerts, alert versions, outbox rows, notices) and a canonical JSON of every trace,
alert (with its versions, scope, outbox rows and withdrawal notices), the lot
graph, the findings and the sender notices; `compare(a, b)` lists the counts side
by side and a unified diff of the canonical JSON. Canonical means: what
legitimately differs between two runs over the same messages is left out
(generated ids, wall-clock times and deadlines, also where a text quotes them, the
CAP XML that embeds both), and alert / notice ids are replaced by names derived
from content (`alert:LOT/ANALYTE`, `notice:ALERT/vN/LOCATION/ACTOR`), so every
remaining difference is a difference in what the pipeline decided.

`kill_link_mid_transaction` runs the foodtrace_link DAG (dag.test(), in a driver
subprocess: the task runs in that process) while this side holds an uncommitted
core.lot_locations row with the key link() will derive for one queued row (a lab
result's 'sampled' row, or when no lab result is queued a chain event's row at its
own location). The batch statement, which has already taken its rows off
core.link_queue and inserted others, waits on that row inside its transaction,
and the driver is SIGKILLed there. No hook in production code: the pause is
PostgreSQL's own. `run_fault_scenario` is the whole comparison run.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import psycopg
from devservices import migrated_database  # tests/devservices.py
from pipeline_helpers import DRIVER, land_day, run_driver, simulated_day
from psycopg import sql

from foodtrace.db import connect
from foodtrace.simulate.messy import make_messy
from foodtrace.trace.api import LotNotFound, trace

# Counted per database: name -> table (fixed identifiers, no user input).
COUNTED: dict[str, str] = {
    "events": "core.events",
    "lab_results": "core.lab_results",
    "lot_edges": "core.lot_edges",
    "lot_locations": "core.lot_locations",
    "findings": "core.findings",
    "alerts": "core.alerts",
    "alert_versions": "core.alert_history",
    "alert_scope": "core.alert_scope",
    "outbox_rows": "core.alert_outbox",
    "sender_notices": "core.sender_notices",
    "withdrawal_notices": "core.withdrawal_notices",
    "link_queue_left": "core.link_queue",
    "rescope_queue_left": "core.alert_rescope_queue",
}

# Keys whose values are generated ids or wall-clock times: they differ between two
# correct runs over the same messages. Data times (event_time, sampled_at,
# tested_at) stay: they come from the messages.
VOLATILE_KEYS = frozenset(
    {
        "alert_id", "notice_id", "history_id", "outbox_id", "finding_id", "queue_no",
        "raised_at", "updated_at", "issued_at", "deadline", "state_at", "at",
        "created_at", "sent_at", "found_at", "resolved_at", "linked_at", "sent",
        "cap_identifier", "cap_sent", "cap_xml", "identifier", "attempts", "last_error",
        "evaluated_at", "generated_at", "expires",
        "effective", "onset", "references", "received_at",
    }
)


def _canonical(value: Any, aliases: dict[str, str]) -> Any:
    """`value` without volatile keys, generated ids replaced by their aliases."""
    if isinstance(value, dict):
        return {
            k: _canonical(v, aliases) for k, v in sorted(value.items()) if k not in VOLATILE_KEYS
        }
    if isinstance(value, list | tuple):
        return [_canonical(v, aliases) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    text = str(value)  # Decimal, datetime, UUID: their text
    for generated, alias in aliases.items():
        if generated in text:
            text = text.replace(generated, alias)
    return text


def _volatile_values(value: Any, found: dict[str, str], key: str | None = None) -> None:
    """Add to `found` the text of every volatile value (e.g. a deadline quoted in a
    notice's message) -> `<key>`, so it can be blanked where it is embedded."""
    if isinstance(value, dict):
        for k, v in value.items():
            _volatile_values(v, found, k)
    elif isinstance(value, list | tuple):
        for v in value:
            _volatile_values(v, found, key)
    elif key in VOLATILE_KEYS and isinstance(value, str | datetime) and len(str(value)) >= 16:
        found.setdefault(str(value), f"<{key}>")
        if isinstance(value, datetime):
            found.setdefault(value.isoformat(), f"<{key}>")
            found.setdefault(value.astimezone(UTC).isoformat(), f"<{key}>")


def _rows(conn: psycopg.Connection, query: str, params: tuple = ()) -> list[dict[str, Any]]:
    cur = conn.execute(query, params)
    names = [c.name for c in cur.description or []]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def counts(conn: psycopg.Connection) -> dict[str, int]:
    out = {}
    for name, table in COUNTED.items():
        schema, _, rel = table.partition(".")
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, rel))
        row = conn.execute(query).fetchone()
        out[name] = int(row[0]) if row else 0
    return out


def _aliases(conn: psycopg.Connection) -> dict[str, str]:
    aliases = {
        str(r["alert_id"]): f"alert:{r['lot_code']}/{r['analyte']}"
        for r in _rows(conn, "SELECT alert_id, lot_code, analyte FROM core.alerts")
    }
    for r in _rows(
        conn,
        "SELECT notice_id, alert_id, alert_version, location_id, actor_id "
        "FROM core.withdrawal_notices",
    ):
        alert = aliases.get(str(r["alert_id"]), "alert:?")
        aliases[str(r["notice_id"])] = (
            f"notice:{alert}/v{r['alert_version']}/{r['location_id']}/{r['actor_id']}"
        )
    return aliases


def canonical_alerts(conn: psycopg.Connection, aliases: dict[str, str]) -> list[dict[str, Any]]:
    """Every alert with its versions, scope, outbox rows and withdrawal notices."""
    out = []
    for alert in _rows(conn, "SELECT * FROM core.alerts ORDER BY lot_code, analyte, raised_at"):
        key = (alert["alert_id"],)
        alert["versions"] = _rows(
            conn,
            "SELECT version, actor, action, from_status, to_status, from_severity, "
            "to_severity, lab_message_id, note, detail FROM core.alert_history "
            "WHERE alert_id = %s ORDER BY history_id",
            key,
        )
        alert["scope"] = _rows(
            conn,
            "SELECT key_kind, key FROM core.alert_scope WHERE alert_id = %s "
            "ORDER BY key_kind, key",
            key,
        )
        alert["outbox"] = _rows(
            conn,
            "SELECT version, city, msg_type, json_payload FROM core.alert_outbox "
            "WHERE alert_id = %s ORDER BY version, city",
            key,
        )
        alert["withdrawal_notices"] = _rows(
            conn,
            "SELECT * FROM core.withdrawal_notices WHERE alert_id = %s "
            "ORDER BY alert_version, location_id, actor_id",
            key,
        )
        out.append(alert)
    times: dict[str, str] = {}
    _volatile_values(out, times)
    return [_canonical(a, {**aliases, **times}) for a in out]


def canonical_traces(conn: psycopg.Connection) -> dict[str, Any]:
    """The trace (both ways) of every lot an alert names, and of every lab result's lot."""
    lots = [
        r[0]
        for r in conn.execute(
            "SELECT lot_code FROM core.alerts UNION SELECT lot_code FROM core.lab_results "
            "ORDER BY 1"
        ).fetchall()
    ]
    out: dict[str, Any] = {}
    for lot in lots:
        try:
            out[lot] = _canonical(trace(conn, lot).to_json(), {})
        except LotNotFound:
            out[lot] = None  # a lab result on a lot no chain event names
    return out


def graph_rows(conn: psycopg.Connection) -> dict[str, list[list[str]]]:
    """The whole lot graph, sorted, without linked_at (what every trace is made of)."""
    edges = conn.execute(
        "SELECT parent_lot, child_lot, message_id::text, event_time::text, location_id, "
        "input_quantity::text, input_unit, output_quantity::text, output_unit "
        "FROM core.lot_edges ORDER BY 1, 2, 3"
    ).fetchall()
    locations = conn.execute(
        "SELECT lot_code, message_id::text, role, location_id, event_time::text, event_type, "
        "quantity::text, unit, counterparty_location_id FROM core.lot_locations "
        "ORDER BY 1, 2, 3, 4"
    ).fetchall()
    return {"lot_edges": [list(r) for r in edges], "lot_locations": [list(r) for r in locations]}


def findings(conn: psycopg.Connection) -> list[dict[str, Any]]:
    return _canonical(
        _rows(
            conn,
            "SELECT kind, message_id, sender_id, event_type, event_time, rule, code, severity, "
            "cfr_section, message, path, detail, resolution, resolved_value, "
            "resolved_at IS NOT NULL AS resolved FROM core.findings ORDER BY message_id, rule",
        ),
        {},
    )


def sender_notices(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """What each sender is told about its messages (stored or rejected, and why)."""
    return _canonical(
        _rows(
            conn,
            "SELECT kind, message_id, stage, sender_id, topic, stored, body "
            "FROM core.sender_notices ORDER BY message_id, stage",
        ),
        {},
    )


def snapshot(conn: psycopg.Connection) -> dict[str, Any]:
    """Counts and the canonical JSON of what the pipeline concluded (read-only)."""
    aliases = _aliases(conn)
    snap = {
        "counts": counts(conn),
        "alerts": canonical_alerts(conn, aliases),
        "traces": canonical_traces(conn),
        "graph": graph_rows(conn),
        "findings": findings(conn),
        "sender_notices": sender_notices(conn),
    }
    conn.rollback()
    return snap


def snapshot_of(database_url: str) -> dict[str, Any]:
    with psycopg.connect(database_url) as conn:
        return snapshot(conn)


@dataclass(frozen=True)
class Comparison:
    counts: dict[str, tuple[int, int]]  # name -> (reference, other)
    diff: list[str] = field(default_factory=list)  # unified diff of the canonical JSON

    @property
    def same(self) -> bool:
        return not self.diff and all(a == b for a, b in self.counts.values())

    def report(self, reference: str = "undisturbed", other: str = "faulted") -> str:
        width = max(len(n) for n in self.counts)
        lines = [f"{'count':<{width}}  {reference:>12}  {other:>12}"]
        for name, (a, b) in self.counts.items():
            mark = "" if a == b else "   <- differs"
            lines.append(f"{name:<{width}}  {a:>12}  {b:>12}{mark}")
        if self.diff:
            lines.append("traces and alerts differ (canonical JSON, - reference + other):")
            lines.extend(self.diff)
        else:
            lines.append(
                "traces, alerts, lot graph, findings and sender notices: identical (canonical JSON)"
            )
        return "\n".join(lines)


def _lines(snap: dict[str, Any]) -> list[str]:
    body = {k: v for k, v in snap.items() if k != "counts"}
    return json.dumps(body, indent=1, sort_keys=True, ensure_ascii=False).splitlines()


def compare(reference: dict[str, Any], other: dict[str, Any], *, context: int = 3) -> Comparison:
    """Counts side by side and the diff of the canonical JSON (pure)."""
    names = list(dict.fromkeys([*reference["counts"], *other["counts"]]))
    paired = {n: (reference["counts"].get(n, 0), other["counts"].get(n, 0)) for n in names}
    diff = list(
        difflib.unified_diff(
            _lines(reference), _lines(other), "reference", "other", n=context, lineterm=""
        )
    )
    return Comparison(counts=paired, diff=diff)


def compare_databases(reference_url: str, other_url: str) -> Comparison:
    return compare(snapshot_of(reference_url), snapshot_of(other_url))


# -- the fault ---------------------------------------------------------------


@dataclass(frozen=True)
class KillEvidence:
    """What was true at the moment of the SIGKILL, and just after it."""

    source: str  # the link batch that was killed: lab_result, or event when none queued
    held_key: tuple[str, str, str]  # (lot, role, location) of the row the link waited on
    waiting_query: str  # the start of the statement the link's backend was waiting in
    queued_before: int  # rows of `source` on core.link_queue before the link began
    queued_at_kill: int  # seen from outside while the link's batch was open
    taken_at_kill: int  # of those, the rows the open batch had deleted (locked)
    queued_after: int  # after the dead session's transaction was rolled back
    events_linked_at_kill: int  # chain events with committed graph rows at the kill
    driver_exit: int  # the driver's return code (-9: SIGKILL)


def driver_env(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["FOODTRACE_DATABASE_URL"] = database_url
    env.pop("FOODTRACE_MQTT_URL", None)
    return env


def _queued(conn: psycopg.Connection, source: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM core.link_queue WHERE source = %s", (source,)
    ).fetchone()
    return int(row[0]) if row else 0


# The lot_locations row link() derives for a queued row, from the middle of the
# queue: a lab result's 'sampled' row, or for a chain event one of the rows placed
# at the event's own location (foodtrace.trace.link.ROLE_RULES).
_HELD_LAB_ROW = """
SELECT r.lot_code, 'sampled', r.sampled_location_id, r.message_id, r.sampled_at, 'lab_result'
FROM core.link_queue q
JOIN core.lab_results r ON r.message_id = q.message_id AND r.tested_at = q.event_time
WHERE q.source = 'lab_result' AND r.sampled_location_id IS NOT NULL AND r.lot_code IS NOT NULL
ORDER BY q.queue_no
OFFSET (SELECT count(*) / 2 FROM core.link_queue WHERE source = 'lab_result') LIMIT 1"""
_HELD_EVENT_ROW = """
SELECT el.lot_code, rule.role, e.location_id, e.message_id, e.event_time, e.event_type
FROM core.link_queue q
JOIN core.events e ON e.message_id = q.message_id AND e.event_time = q.event_time
JOIN (VALUES ('harvesting', 'created'), ('cooling', 'cooled'), ('initial_packing', 'packed'),
             ('receiving', 'received'), ('first_receiving', 'received'), ('sale', 'sold'))
     rule (event_type, role) ON rule.event_type = e.event_type
JOIN core.event_lots el ON el.message_id = e.message_id AND el.event_time = e.event_time
                       AND el.role = 'lot'
WHERE q.source = 'event' AND el.lot_code IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM core.retractions x WHERE x.message_id = e.message_id)
ORDER BY q.queue_no
OFFSET (SELECT count(*) / 2 FROM core.link_queue WHERE source = 'event') LIMIT 1"""


def kill_link_mid_transaction(database_url: str, home: Path, timeout: float = 180) -> KillEvidence:
    """Run foodtrace_link, SIGKILL it while one of its batches waits on a row this
    side holds (module doc), let the dead session roll back, and report."""
    with contextlib.ExitStack() as stack:
        watcher = stack.enter_context(psycopg.connect(database_url, autocommit=True))
        holder = stack.enter_context(psycopg.connect(database_url))
        source = "lab_result" if _queued(watcher, "lab_result") else "event"
        queued_before = _queued(watcher, source)
        row = holder.execute(_HELD_LAB_ROW if source == "lab_result" else _HELD_EVENT_ROW).fetchone()
        assert row is not None, f"no {source} waits to be linked"
        lot, role, location, message_id, at, event_type = row
        # the row link() would insert, uncommitted: link's INSERT ... ON CONFLICT DO
        # NOTHING must wait for this transaction to learn whether it conflicts
        holder.execute(
            "INSERT INTO core.lot_locations (lot_code, role, location_id, message_id, "
            "event_time, event_type) VALUES (%s, %s, %s, %s, %s, %s)",
            (lot, role, location, message_id, at, event_type),
        )
        holder_pid = holder.info.backend_pid
        log = stack.enter_context(tempfile.TemporaryFile())  # a pipe could fill and stall it
        driver = subprocess.Popen(
            [sys.executable, str(DRIVER), str(home), "run", "foodtrace_link"],
            env=driver_env(database_url),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            blocked = _wait_for_blocked(watcher, holder_pid, driver, log, timeout)
            queued_at_kill = _queued(watcher, source)
            taken_at_kill = queued_at_kill - _unlocked(watcher, source)
            events_linked = _linked_events(watcher)
            os.kill(driver.pid, signal.SIGKILL)
            driver_exit = driver.wait(30)
        finally:
            if driver.poll() is None:
                driver.kill()
                driver.wait(30)
        holder.rollback()  # the held row goes; the dead session's statement completes
        _wait_gone(watcher, blocked[0], timeout=30)
        queued_after = _queued(watcher, source)
    return KillEvidence(
        source=source,
        held_key=(lot, role, location),
        waiting_query=" ".join(blocked[1].split())[:160],
        queued_before=queued_before,
        queued_at_kill=queued_at_kill,
        taken_at_kill=taken_at_kill,
        queued_after=queued_after,
        events_linked_at_kill=events_linked,
        driver_exit=driver_exit,
    )


def _unlocked(conn: psycopg.Connection, source: str) -> int:
    """Queue rows no open transaction has locked (taken rows are locked until it ends)."""
    row = conn.execute(
        "SELECT count(*) FROM (SELECT 1 FROM core.link_queue WHERE source = %s "
        "FOR UPDATE SKIP LOCKED) free",
        (source,),
    ).fetchone()
    return int(row[0]) if row else 0


def _linked_events(conn: psycopg.Connection) -> int:
    row = conn.execute(
        "SELECT count(DISTINCT message_id) FROM core.lot_locations WHERE event_type <> 'lab_result'"
    ).fetchone()
    return int(row[0]) if row else 0


def _wait_for_blocked(
    conn: psycopg.Connection,
    holder_pid: int,
    driver: subprocess.Popen,
    log: IO[bytes],
    timeout: float,
) -> tuple[int, str]:
    """(pid, query) of the backend waiting on `holder_pid`'s row."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT pid, query FROM pg_stat_activity "
            "WHERE datname = current_database() AND %s = ANY (pg_blocking_pids(pid))",
            (holder_pid,),
        ).fetchone()
        if row:
            return int(row[0]), str(row[1])
        if driver.poll() is not None:
            log.seek(0)
            err = log.read().decode(errors="replace")
            raise AssertionError(f"the link finished before it reached the held row:\n{err[-3000:]}")
        time.sleep(0.1)
    raise AssertionError(f"the link never waited on the held row within {timeout:g} s")


def _wait_gone(conn: psycopg.Connection, pid: int, timeout: float) -> None:
    """The dead task's backend notices its client is gone and rolls back."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            return
        time.sleep(0.1)
    raise AssertionError(f"backend {pid} of the killed task still there after {timeout:g} s")


# -- databases and runs (for the bench script; the test uses its fixtures) ----

def scratch_database(prefix: str = "ft_faults") -> contextlib.AbstractContextManager[str]:
    """A new migrated database on the FOODTRACE_TEST_PG_URL server; dropped afterwards."""
    return migrated_database(prefix)


# -- the scenario (the test asserts on it, bench/faults/run.py prints it) ------

BATCH_PATH = ("foodtrace_validate", "foodtrace_link", "foodtrace_alert")


@dataclass(frozen=True)
class Wave:
    """Messages landed together (land_day takes anything with messages())."""

    items: tuple[tuple[str, dict[str, Any]], ...]

    def messages(self) -> Iterator[tuple[str, dict[str, Any]]]:
        return iter(self.items)


@dataclass(frozen=True)
class FaultRun:
    reference_runs: list[Any]  # the driver's results of the undisturbed DAG runs
    killed: KillEvidence
    retry_runs: list[Any]  # foodtrace_link + foodtrace_alert after the kill
    after_retry: Comparison
    rerun_runs: list[Any]  # every DAG again over the same data
    after_rerun: Comparison


def run_fault_scenario(
    waves: list[Wave], reference_url: str, faulted_url: str, home: Path
) -> FaultRun:
    """Land `waves` in both databases one after the other, each followed by the batch
    path; on the faulted one the last wave's link is SIGKILLed mid-transaction and
    the next link + alert run completes it; then every DAG runs again."""
    reference_runs: list[Any] = []
    for i, wave in enumerate(waves):
        for url in (reference_url, faulted_url):
            with connect(url) as conn:
                land_day(conn, wave)  # type: ignore[arg-type]
        reference_runs += run_driver(home, "run", *BATCH_PATH, database_url=reference_url)
        if i < len(waves) - 1:
            run_driver(home, "run", *BATCH_PATH, database_url=faulted_url)
    run_driver(home, "run", "foodtrace_validate", database_url=faulted_url)
    killed = kill_link_mid_transaction(faulted_url, home)
    retry_runs = run_driver(
        home, "run", "foodtrace_link", "foodtrace_alert", database_url=faulted_url
    )
    after_retry = compare_databases(reference_url, faulted_url)
    rerun_runs = run_driver(home, "run", *BATCH_PATH, database_url=faulted_url)
    after_rerun = compare_databases(reference_url, faulted_url)
    return FaultRun(reference_runs, killed, retry_runs, after_retry, rerun_runs, after_rerun)


def plain_day(scale: float, seed: int, incident: str) -> list[Wave]:
    """The simulated day in one wave, every message on time."""
    return [Wave(tuple(simulated_day(scale=scale, seed=seed, incident=incident).messages()))]


def messy_day(scale: float, seed: int, incident: str) -> list[Wave]:
    """The day as the world sends it (foodtrace.simulate.messy): KDEs left out, and
    the late uploads in a second wave after the last lab result."""
    messy = make_messy(simulated_day(scale=scale, seed=seed, incident=incident), seed)
    return [Wave(tuple(w)) for w in messy.waves()]
