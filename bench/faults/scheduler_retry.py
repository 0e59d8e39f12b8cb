"""Airflow's own retry of a link task SIGKILLed mid-transaction, under the real
scheduler, against an undisturbed run fed the same messages (issue 11, item 5).

bench/faults/run.py kills the task under dag.test() and runs link again as the
next run. Here the deployment of bench/e2e/stack.py runs the pipeline (api-server,
scheduler with LocalExecutor through foodtrace.pipeline.preload, dag-processor,
triggerer; the packaged DAGs) and nobody runs link again: the scheduler does.

1. Reference: a throwaway database gets a simulated day in two waves (master data
   and chain events, then the lab results), each followed by validate -> link ->
   alert (dag.test(), as bench/faults/run.py's reference).
2. Faulted: the stack's database. Before the first wave lands, this script holds
   uncommitted the core.lot_locations row of one chain event, with the key the
   reference's link derived for it (PostgreSQL's own pause, no hook in the
   product). The landing watcher starts foodtrace_validate, its asset event
   foodtrace_link; link's batch statement waits on that row inside its
   transaction (pg_stat_activity / pg_blocking_pids).
3. The process running the step is found from the blocked backend's client port
   (the socket is the task runner's: the child that the executor's supervisor
   forked for the task instance, `airflow worker -- <ti id>`, whose pid the task
   instance records), not the supervisor, and SIGKILLed. The row is let go.
4. Nothing else is done: the supervisor reports the exit, the task instance goes
   to up_for_retry, and after retry_delay (foodtrace/pipeline/assets.py) the
   scheduler runs try 2. Then the lab results land (the lab-result lane takes
   them). The sweep is paused throughout, so that the retry, not the safety net,
   does the work.
5. Counts, try numbers and the diff of the canonical JSON of traces, alerts (with
   versions, scope, outbox, notices), lot graph, findings and sender notices
   (tests/integration/pipeline/pipeline_faults.py, as bench/faults/run.py).

    .venv/bin/python bench/faults/scheduler_retry.py            # scale 0.3, seed 7
    .venv/bin/python bench/faults/scheduler_retry.py --json     # evidence as JSON too

Exit status 0 when try 2 succeeded by itself and the result matches the reference.
Needs what bench/e2e needs (PostgreSQL at FOODTRACE_TEST_PG_URL, mosquitto).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil
import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # devservices.py
sys.path.insert(0, str(ROOT / "tests" / "integration" / "pipeline"))  # the comparison
sys.path.insert(0, str(ROOT / "bench" / "e2e"))  # the stack, reused as it is
from pipeline_faults import (  # noqa: E402
    BATCH_PATH,
    Comparison,
    Wave,
    compare_databases,
    scratch_database,
)
from pipeline_helpers import land_day, run_driver, simulated_day  # noqa: E402
from stack import LANE_DAG, Stack, log  # noqa: E402

LINK_DAG, LINK_TASK = "foodtrace_link", "link"
SWEEP_DAG = "foodtrace_sweep"


def waves_of(scale: float, seed: int, incident: str) -> list[Wave]:
    """The simulated day as two waves: master data and chain events, then lab results
    (the kill lands in the chain events' link; the lab-result lane takes the rest)."""
    messages = tuple(simulated_day(scale=scale, seed=seed, incident=incident).messages())
    return [
        Wave(tuple(m for m in messages if m[0] != "lab_result")),
        Wave(tuple(m for m in messages if m[0] == "lab_result")),
    ]


def run_reference(waves: list[Wave], url: str, home: Path) -> list[Any]:
    runs: list[Any] = []
    for wave in waves:
        with psycopg.connect(url) as conn:
            land_day(conn, wave)  # type: ignore[arg-type]
        runs += run_driver(home, "run", *BATCH_PATH, database_url=url)
    return runs


# A chain event's lot_locations row, from the middle of what the reference linked:
# link() derives the same key in the faulted database, so its INSERT ... ON CONFLICT
# DO NOTHING waits there for this side's uncommitted row.
_HELD_ROW = """
SELECT lot_code, role, location_id, message_id, event_time, event_type
FROM core.lot_locations WHERE event_type <> 'lab_result'
ORDER BY message_id, role, location_id
OFFSET (SELECT count(*) / 2 FROM core.lot_locations WHERE event_type <> 'lab_result') LIMIT 1"""


def held_row(reference_url: str) -> tuple[Any, ...]:
    with psycopg.connect(reference_url) as conn:
        row = conn.execute(_HELD_ROW).fetchone()
    assert row is not None, "the reference linked no chain event"
    return tuple(row)


def hold(conn: psycopg.Connection, row: tuple[Any, ...]) -> None:
    conn.execute(
        "INSERT INTO core.lot_locations (lot_code, role, location_id, message_id, "
        "event_time, event_type) VALUES (%s, %s, %s, %s, %s, %s)",
        row,
    )


@dataclass(frozen=True)
class Proc:
    pid: int
    title: str  # the process title (Airflow sets it), as ps shows it


@dataclass(frozen=True)
class Kill:
    """What was true at the SIGKILL, and just after it."""

    waiting_query: str  # the statement the link's backend was waiting in
    backend_pid: int
    killed: Proc  # the task runner, whose socket the backend served
    ancestry: list[Proc]  # its parent (the supervisor) up to the scheduler
    ti_id: str  # task_instance.id: the task runner's title names it
    ti_pid: int | None  # task_instance.pid: the task runner Airflow recorded
    try_at_kill: int
    queued_events_at_kill: int  # chain events still on core.link_queue
    taken_at_kill: int  # of those, the rows the open batch had taken (locked)
    queued_events_after: int  # after the dead session's rollback
    killed_exit_seen: bool  # the task runner is gone
    supervisor_alive_after: bool  # its parent survived the kill


@dataclass(frozen=True)
class Tries:
    """The link task instance of the killed run, try by try."""

    run_id: str
    history: list[dict[str, Any]]  # task_instance_history: earlier tries (see below)
    final: dict[str, Any]  # task_instance: the last try
    states_seen: list[str]  # distinct states polled after the kill, in order


def _one(conn: psycopg.Connection, query: str, params: tuple[Any, ...] = ()) -> Any:
    row = conn.execute(query, params).fetchone()
    return row[0] if row else None


def _queued_events(conn: psycopg.Connection, *, unlocked: bool = False) -> int:
    lock = " FOR UPDATE SKIP LOCKED" if unlocked else ""
    return int(
        _one(
            conn,
            f"SELECT count(*) FROM (SELECT 1 FROM core.link_queue WHERE source = 'event'{lock}) q",
        )
    )


def wait_blocked(
    stack: Stack, conn: psycopg.Connection, holder_pid: int, timeout: float
) -> tuple[int, str, str, int]:
    """(backend pid, query, client address, client port) of the backend waiting on
    `holder_pid`'s row."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack.check_alive()
        row = conn.execute(
            "SELECT pid, query, host(client_addr), client_port FROM pg_stat_activity "
            "WHERE datname = current_database() AND %s = ANY (pg_blocking_pids(pid))",
            (holder_pid,),
        ).fetchone()
        if row:
            return int(row[0]), str(row[1]), str(row[2]), int(row[3])
        if _queued_events(conn) == 0 and _one(conn, "SELECT count(*) FROM core.events"):
            raise AssertionError("link finished without reaching the held row")
        time.sleep(0.2)
    raise AssertionError(f"link never waited on the held row within {timeout:g} s")


def process_of_socket(root_pid: int, addr: str, port: int) -> psutil.Process:
    """The descendant of `root_pid` owning the client socket (addr, port)."""
    for proc in psutil.Process(root_pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            for c in proc.net_connections(kind="tcp"):
                if c.laddr and c.laddr.port == port and c.laddr.ip == addr:
                    return proc
    raise AssertionError(f"no process under {root_pid} owns {addr}:{port}")


def _title(proc: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        return " ".join(proc.cmdline()).strip()[:120]  # setproctitle pads with spaces
    return "?"


def ancestry(proc: psutil.Process, root_pid: int) -> list[Proc]:
    out = []
    for parent in proc.parents():
        out.append(Proc(parent.pid, _title(parent)))
        if parent.pid == root_pid:
            break
    return out


def link_ti(af: psycopg.Connection, run_id: str | None = None) -> dict[str, Any] | None:
    """The link task instance (of `run_id`, else of the latest link run)."""
    cur = af.execute(
        "SELECT ti.id, ti.run_id, ti.try_number, ti.state, ti.pid FROM task_instance ti "
        "JOIN dag_run r ON r.dag_id = ti.dag_id AND r.run_id = ti.run_id "
        "WHERE ti.dag_id = %s AND ti.task_id = %s AND (%s::text IS NULL OR ti.run_id = %s) "
        "ORDER BY r.id DESC LIMIT 1",
        (LINK_DAG, LINK_TASK, run_id, run_id),
    )
    row = cur.fetchone()
    if row is None:
        return None
    return dict(zip(["id", "run_id", "try_number", "state", "pid"], row, strict=True))


def kill_blocked_link(stack: Stack, holder: psycopg.Connection, timeout: float) -> tuple[Kill, str]:
    """Wait for link to block on the held row, SIGKILL the task runner, let go."""
    scheduler = next(p for p in stack.procs if p.name == "scheduler")
    with (
        psycopg.connect(stack.database_url, autocommit=True) as watcher,
        psycopg.connect(stack.airflow_database_url, autocommit=True) as af,
    ):
        backend, query, addr, port = wait_blocked(stack, watcher, holder.info.backend_pid, timeout)
        runner = process_of_socket(scheduler.popen.pid, addr, port)
        ti = link_ti(af)
        assert ti is not None and ti["state"] == "running", ti
        parents = ancestry(runner, scheduler.popen.pid)
        killed = Proc(runner.pid, _title(runner))
        queued = _queued_events(watcher)
        taken = queued - _queued_events(watcher, unlocked=True)
        log(f"link blocked (backend {backend}); SIGKILL of {killed.pid} ({killed.title})")
        os.kill(runner.pid, signal.SIGKILL)
        with contextlib.suppress(psutil.TimeoutExpired):
            runner.wait(10)
        gone = not runner.is_running()
        supervisor_alive = psutil.pid_exists(parents[0].pid)
        holder.rollback()  # the held row goes; the dead session's statement completes
        deadline = time.monotonic() + 30
        while _one(watcher, "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (backend,)):
            assert time.monotonic() < deadline, f"backend {backend} still there after 30 s"
            time.sleep(0.1)
        kill = Kill(
            waiting_query=" ".join(query.split())[:160],
            backend_pid=backend,
            killed=killed,
            ancestry=parents,
            ti_id=str(ti["id"]),
            ti_pid=ti["pid"],
            try_at_kill=int(ti["try_number"]),
            queued_events_at_kill=queued,
            taken_at_kill=taken,
            queued_events_after=_queued_events(watcher),
            killed_exit_seen=gone,
            supervisor_alive_after=supervisor_alive,
        )
    return kill, str(ti["run_id"])


def wait_retried(stack: Stack, run_id: str, timeout: float) -> Tries:
    """Until the killed run's link task instance ends (success or failed); nobody
    but the scheduler acts meanwhile."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    with psycopg.connect(stack.airflow_database_url, autocommit=True) as af:
        while True:
            stack.check_alive()
            ti = link_ti(af, run_id)
            assert ti is not None
            state = str(ti["state"])
            if not seen or seen[-1] != state:
                seen.append(state)
                log(f"{LINK_DAG}.{LINK_TASK} try {ti['try_number']}: {state}")
            if state in ("success", "failed"):
                break
            assert time.monotonic() < deadline, f"link still {state} after {timeout:g} s"
            time.sleep(0.5)
        columns = "try_number, state, pid, hostname, start_date, end_date"
        history = _dicts(
            af,
            f"SELECT {columns} FROM task_instance_history WHERE dag_id = %s AND task_id = %s "
            "AND run_id = %s ORDER BY try_number",
            (LINK_DAG, LINK_TASK, run_id),
        )
        final = _dicts(
            af,
            f"SELECT {columns} FROM task_instance WHERE dag_id = %s AND task_id = %s "
            "AND run_id = %s",
            (LINK_DAG, LINK_TASK, run_id),
        )[0]
    return Tries(run_id=run_id, history=history, final=final, states_seen=seen)


def _dicts(conn: psycopg.Connection, query: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    cur = conn.execute(query, params)
    names = [c.name for c in cur.description or []]
    return [
        {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in zip(names, r, strict=True)}
        for r in cur.fetchall()
    ]


def settled(stack: Stack) -> bool:
    """The lane waits for the next lab result, no other run is queued or running or
    about to be created, and nothing waits to be validated, linked or re-scoped."""
    if not stack.lane_waiting():
        return False
    with psycopg.connect(stack.airflow_database_url, autocommit=True) as af:
        busy = _one(
            af,
            "SELECT (SELECT count(*) FROM dag_run WHERE dag_id <> %s "
            "        AND state IN ('queued', 'running'))"
            "     + (SELECT count(*) FROM asset_dag_run_queue)",
            (LANE_DAG,),
        )
    if busy:
        return False
    with psycopg.connect(stack.database_url, autocommit=True) as ft:
        left = _one(
            ft,
            "SELECT (SELECT count(*) FROM landing.validation_queue)"
            "     + (SELECT count(*) FROM core.link_queue)"
            "     + (SELECT count(*) FROM core.alert_rescope_queue)",
        )
    return bool(left == 0)


def _sweep_active(stack: Stack) -> int:
    with psycopg.connect(stack.airflow_database_url, autocommit=True) as af:
        return int(
            _one(
                af,
                "SELECT count(*) FROM dag_run WHERE dag_id = %s AND state IN ('queued', 'running')",
                (SWEEP_DAG,),
            )
        )


def pause_sweep(stack: Stack, timeout: float) -> None:
    """Pause the sweep between two of its runs: the safety net would otherwise do
    link's work once the held row goes, and the retry must. (A paused DAG's run
    that had started would stay unfinished.)"""
    deadline = time.monotonic() + timeout
    while True:
        assert time.monotonic() < deadline, f"a sweep run still active after {timeout:g} s"
        stack.check_alive()
        if not _sweep_active(stack):
            stack.set_paused(True, [SWEEP_DAG])
            if not _sweep_active(stack):  # none was created in between
                return
            stack.set_paused(False, [SWEEP_DAG])
        time.sleep(1.0)


def wait_settled(stack: Stack, timeout: float, settle_s: float = 2.0) -> None:
    """settled() twice in a row `settle_s` apart (an asset event may be on its way)."""
    deadline = time.monotonic() + timeout
    streak = 0
    while streak < 2:
        stack.check_alive()
        assert time.monotonic() < deadline, f"the pipeline did not settle within {timeout:g} s"
        streak = streak + 1 if settled(stack) else 0
        time.sleep(settle_s)


def dag_runs(stack: Stack) -> dict[str, dict[str, int]]:
    with psycopg.connect(stack.airflow_database_url, autocommit=True) as af:
        rows = af.execute(
            "SELECT dag_id, state, count(*) FROM dag_run GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall()
    out: dict[str, dict[str, int]] = {}
    for dag_id, state, n in rows:
        out.setdefault(dag_id, {})[state] = int(n)
    return out


@dataclass(frozen=True)
class RetryRun:
    kill: Kill
    tries: Tries
    comparison: Comparison
    dag_runs: dict[str, dict[str, int]]
    reference_runs: list[Any]

    @property
    def retried_by_itself(self) -> bool:
        """The pid killed was the task runner Airflow had recorded for try 1, the task
        instance went up_for_retry and try 2 succeeded. (Airflow archives a try that
        went up_for_retry as failed in task_instance_history: record_ti keeps only
        finished states.)"""
        return (
            self.kill.try_at_kill == 1
            and self.kill.ti_pid == self.kill.killed.pid
            and "up_for_retry" in self.tries.states_seen
            and [t["try_number"] for t in self.tries.history] == [1]
            and self.tries.final["try_number"] == 2
            and self.tries.final["state"] == "success"
        )


def run_retry_scenario(
    waves: list[Wave], reference_url: str, home: Path, stack: Stack, timeout: float
) -> RetryRun:
    with ThreadPoolExecutor(1) as pool:  # the reference runs while Airflow starts
        reference = pool.submit(run_reference, waves, reference_url, home)
        stack.start_databases()
        stack.start_broker()
        stack.start_airflow()
        log(f"airflow ready in {stack.wait_airflow_ready():.0f} s")
        reference_runs = reference.result()
    log(f"reference done: {len(reference_runs)} DAG runs under dag.test()")
    row = held_row(reference_url)
    pause_sweep(stack, timeout)
    wait_settled(stack, timeout)
    with psycopg.connect(stack.database_url) as holder:
        hold(holder, row)
        with psycopg.connect(stack.database_url) as conn:
            land_day(conn, waves[0])  # type: ignore[arg-type]
        log(f"first wave landed ({len(waves[0].items)} messages); holding {row[:3]}")
        kill, run_id = kill_blocked_link(stack, holder, timeout)
    tries = wait_retried(stack, run_id, timeout)
    wait_settled(stack, timeout)
    with psycopg.connect(stack.database_url) as conn:
        land_day(conn, waves[1])  # type: ignore[arg-type]
    log(f"second wave landed ({len(waves[1].items)} lab results)")
    wait_settled(stack, timeout)
    comparison = compare_databases(reference_url, stack.database_url)
    return RetryRun(kill, tries, comparison, dag_runs(stack), reference_runs)


def report(run: RetryRun) -> str:
    kill, tries = run.kill, run.tries
    lines = [
        f"SIGKILL of pid {kill.killed.pid}: {kill.killed.title}",
        "  its ancestors: " + " <- ".join(f"{p.pid} ({p.title})" for p in kill.ancestry),
        f"  task_instance.pid of try {kill.try_at_kill}: {kill.ti_pid}; backend "
        f"{kill.backend_pid} was waiting in: {kill.waiting_query}",
        f"  chain events on core.link_queue at the kill: {kill.queued_events_at_kill} "
        f"(taken by the open batch: {kill.taken_at_kill}), after the rollback: "
        f"{kill.queued_events_after}",
        f"  task runner gone: {kill.killed_exit_seen}; supervisor alive after: "
        f"{kill.supervisor_alive_after}",
        f"{LINK_DAG}.{LINK_TASK}, run {tries.run_id}: states seen {' -> '.join(tries.states_seen)}",
    ]
    for t in [*tries.history, tries.final]:
        lines.append(
            f"  try {t['try_number']}: {t['state']}, pid {t['pid']}, "
            f"{t['start_date']} .. {t['end_date']}"
        )
    lines.append(f"retried by the scheduler alone: {run.retried_by_itself}")
    lines.append("DAG runs of the faulted stack: " + json.dumps(run.dag_runs))
    verdict = "SAME as" if run.comparison.same else "DIFFERS from"
    lines.append(
        f"\n== after the kill, Airflow's retry and the lab results: {verdict} the undisturbed run"
    )
    lines.append(run.comparison.report())
    return "\n".join(lines)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # so that the stack is stopped and its databases dropped


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--incident", default="pesticide", choices=["pesticide", "clenbuterol", "malachite_green"]
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="per wait (s)")
    parser.add_argument("--keep", action="store_true", help="keep databases and logs")
    parser.add_argument("--json", action="store_true", help="the evidence as JSON on stdout")
    args = parser.parse_args(argv)

    waves = waves_of(args.scale, args.seed, args.incident)
    log(
        f"simulated day: seed {args.seed}, scale {args.scale}, incident {args.incident}: "
        f"waves of {[len(w.items) for w in waves]} messages"
    )
    started = time.perf_counter()
    # --keep: the stack's databases and logs stay (in a folder of their own)
    workdir = Path(tempfile.mkdtemp(prefix="ft-faults-scheduler-")) / "stack"
    stack = Stack(workdir=workdir, keep=args.keep)
    with tempfile.TemporaryDirectory(prefix="ft-faults-reference-") as home:
        try:
            with scratch_database() as reference_url:
                run = run_retry_scenario(waves, reference_url, Path(home), stack, args.timeout)
        finally:
            stack.close()
            if not args.keep:
                shutil.rmtree(workdir.parent, ignore_errors=True)
    seconds = time.perf_counter() - started
    text = report(run) + f"\n\n{seconds:.0f} s in all"
    ok = run.retried_by_itself and run.comparison.same
    if args.json:
        print(text, file=sys.stderr)
        evidence = {
            "kill": asdict(run.kill),
            "tries": asdict(run.tries),
            "retried_by_itself": run.retried_by_itself,
            "same": run.comparison.same,
            "counts": run.comparison.counts,
            "diff": run.comparison.diff,
            "dag_runs": run.dag_runs,
            "seconds": seconds,
        }
        print(json.dumps(evidence, indent=1, default=str))
    else:
        print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
