"""Where an incident's latency went, from Airflow's own metadata.

Walks back from the alert that arrived: the foodtrace_alert run whose `alert` task
was running when the alert arrived, the lot_graph asset event it consumed (made by
a foodtrace_link run), the core_promoted event that run consumed (made by a
foodtrace_validate run) and the landing event (from the LISTEN/NOTIFY watcher) that
one consumed. The critical path is then cut into contiguous segments, so they add
up to the measured latency exactly:

    publish -> ingest received                     ingest (MQTT; landing.*.received_at)
    ingest received -> landing commit              ingest (batch window <= 200 ms, COPY, commit:
                                                   when the commit's NOTIFY was heard)
    landing commit -> landing asset event          trigger (0.5 s debounce, triggerer)
    per DAG: trigger -> run created                scheduling (scheduler loop)
    per task: ready -> queued                      scheduling (run started, TI scheduled + queued)
              queued -> start                      start-up (executor, fork, Execution API)
              start -> end (alert: -> arrival)     runtime: the step's own work + the rest
                                                   (DAG file parse, imports, XCom, API calls)

"ready" is the run's creation for a DAG's first task, else the upstream task's end;
a downstream DAG's trigger is the upstream DAG's last task end (its outlet event is
registered as that task succeeds).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

DAG_TASKS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    # dag_id, short name, tasks in order, task whose XCom result has the step's seconds
    ("foodtrace_validate", "validate", ("validate", "announce_promoted"), "validate"),
    ("foodtrace_link", "link", ("link", "announce_linked"), "link"),
    ("foodtrace_alert", "alert", ("alert",), "alert"),
)
KINDS = ("ingest", "trigger", "scheduling", "start-up", "step work", "task runtime overhead")
AIRFLOW_KINDS = ("scheduling", "start-up", "task runtime overhead")


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


@dataclass(frozen=True)
class Segment:
    name: str
    kind: str
    seconds: float


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    s = sorted(values)
    pos = (len(s) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def _run(conn: psycopg.Connection, dag_id: str, run_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT id, run_id, run_type, created_at, queued_at, start_date, end_date, state "
        "FROM dag_run WHERE dag_id = %s AND run_id = %s",
        (dag_id, run_id),
    ).fetchone()
    if row is None:
        return None
    keys = (
        "id",
        "run_id",
        "run_type",
        "created_at",
        "queued_at",
        "start_date",
        "end_date",
        "state",
    )
    return dict(zip(keys, row, strict=True))


def _tis(conn: psycopg.Connection, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
    rows = conn.execute(
        "SELECT task_id, scheduled_dttm, queued_dttm, start_date, end_date, state, try_number "
        "FROM task_instance WHERE dag_id = %s AND run_id = %s",
        (dag_id, run_id),
    ).fetchall()
    return {
        r[0]: {
            "scheduled": _ts(r[1]),
            "queued": _ts(r[2]),
            "start": _ts(r[3]),
            "end": _ts(r[4]),
            "state": r[5],
            "try_number": r[6],
        }
        for r in rows
    }


def _xcom_seconds(conn: psycopg.Connection, run_pk: int, task_id: str) -> float | None:
    row = conn.execute(
        "SELECT value FROM xcom WHERE dag_run_id = %s AND task_id = %s AND key = 'return_value'",
        (run_pk, task_id),
    ).fetchone()
    value = row[0] if row else None
    if isinstance(value, dict) and isinstance(value.get("seconds"), int | float):
        return float(value["seconds"])
    return None


def _consumed(conn: psycopg.Connection, run_pk: int, asset_name: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        """SELECT e.id, e.timestamp, e.source_dag_id, e.source_run_id, e.extra
           FROM dagrun_asset_event d JOIN asset_event e ON e.id = d.event_id
           JOIN asset a ON a.id = e.asset_id
           WHERE d.dag_run_id = %s AND a.name = %s ORDER BY e.timestamp""",
        (run_pk, asset_name),
    ).fetchall()
    return [
        {
            "id": r[0],
            "timestamp": _ts(r[1]),
            "source_dag_id": r[2],
            "source_run_id": r[3],
            "extra": r[4],
        }
        for r in rows
    ]


def alert_run_at(conn: psycopg.Connection, arrival: float) -> dict[str, Any] | None:
    """The foodtrace_alert run whose alert task had started before `arrival`, latest first."""
    row = conn.execute(
        """SELECT r.run_id FROM task_instance ti JOIN dag_run r
             ON r.dag_id = ti.dag_id AND r.run_id = ti.run_id
           WHERE ti.dag_id = 'foodtrace_alert' AND ti.task_id = 'alert'
             AND ti.start_date <= to_timestamp(%s)
           ORDER BY ti.start_date DESC LIMIT 1""",
        (arrival,),
    ).fetchone()
    return _run(conn, "foodtrace_alert", row[0]) if row else None


def incident_breakdown(
    af: psycopg.Connection,
    ft: psycopg.Connection,
    *,
    t0: float,
    arrival: float,
    message_id: str,
    committed: float | None = None,
) -> dict[str, Any]:
    """Segments of one incident's path (see the module docstring); `problem` says why
    the walk stopped if the chain could not be followed back to the landing event."""
    out: dict[str, Any] = {"segments": [], "runs": {}, "problem": None}
    row = ft.execute(
        "SELECT received_at FROM landing.lab_results WHERE message_id = %s", (message_id,)
    ).fetchone()
    landed = _ts(row[0]) if row else None

    runs: dict[str, dict[str, Any]] = {}
    a = alert_run_at(af, arrival)
    if a is None:
        out["problem"] = "no foodtrace_alert run was running when the alert arrived"
        return out
    runs["alert"] = a
    for dag_short, upstream_asset, upstream_dag, upstream_short in (
        ("alert", "foodtrace_lot_graph", "foodtrace_link", "link"),
        ("link", "foodtrace_core_promoted", "foodtrace_validate", "validate"),
    ):
        events = [
            e
            for e in _consumed(af, runs[dag_short]["id"], upstream_asset)
            if e["source_dag_id"] == upstream_dag
        ]
        if not events:
            out["problem"] = (
                f"the {dag_short} run {runs[dag_short]['run_id']} "
                f"({runs[dag_short]['run_type']}) consumed no {upstream_asset} event"
            )
            break
        up = _run(af, upstream_dag, events[-1]["source_run_id"])
        if up is None:
            out["problem"] = f"{upstream_dag} run {events[-1]['source_run_id']} not found"
            break
        runs[upstream_short] = up
    landing_event = None
    if "validate" in runs:
        events = [
            e
            for e in _consumed(af, runs["validate"]["id"], "foodtrace_landing")
            if e["timestamp"] >= t0 - 0.05
        ]
        landing_event = events[0]["timestamp"] if events else None
        if landing_event is None and out["problem"] is None:
            out["problem"] = (
                f"validate run {runs['validate']['run_id']} "
                f"({runs['validate']['run_type']}) consumed no landing event "
                "after the publish (a sweep run picked the result up)"
            )
    out["runs"] = {k: {"run_id": v["run_id"], "run_type": v["run_type"]} for k, v in runs.items()}
    if out["problem"] is not None:
        return out

    segs: list[Segment] = []
    if landed is not None and committed is not None:
        segs.append(Segment("publish -> ingest received", "ingest", landed - t0))
        segs.append(Segment("ingest received -> landing commit", "ingest", committed - landed))
        segs.append(
            Segment("landing commit -> landing asset event", "trigger", landing_event - committed)
        )
    ready = landing_event
    for dag_id, short, tasks, work_task in DAG_TASKS:
        run = runs[short]
        created = _ts(run["created_at"])
        trigger_name = "landing asset event" if short == "validate" else "upstream task end"
        segs.append(
            Segment(f"{short}: {trigger_name} -> run created", "scheduling", created - ready)
        )
        ready = created
        tis = _tis(af, dag_id, run["run_id"])
        for task in tasks:
            ti = tis.get(task)
            if ti is None or ti["start"] is None or ti["queued"] is None:
                out["problem"] = f"{dag_id}.{task} has no start/queued time ({ti})"
                out["segments"] = [s.__dict__ for s in segs]
                return out
            segs.append(
                Segment(f"{short}.{task}: ready -> queued", "scheduling", ti["queued"] - ready)
            )
            segs.append(
                Segment(f"{short}.{task}: queued -> start", "start-up", ti["start"] - ti["queued"])
            )
            end = arrival if short == "alert" else ti["end"]
            if end is None:
                out["problem"] = f"{dag_id}.{task} has not ended"
                out["segments"] = [s.__dict__ for s in segs]
                return out
            runtime = end - ti["start"]
            work = _xcom_seconds(af, run["id"], task) if task == work_task else 0.0
            work = min(work or 0.0, runtime)
            segs.append(Segment(f"{short}.{task}: step work", "step work", work))
            segs.append(
                Segment(
                    f"{short}.{task}: task runtime overhead",
                    "task runtime overhead",
                    runtime - work,
                )
            )
            ready = end
    out["segments"] = [s.__dict__ for s in segs]
    return out


def totals_by_kind(segments: list[dict[str, Any]]) -> dict[str, float]:
    totals = dict.fromkeys(KINDS, 0.0)
    for s in segments:
        totals[s["kind"]] += s["seconds"]
    return totals


DAG_PARTS = ("trigger -> run created", "scheduling + start-up", "execution", "of which step work")


def per_dag(segments: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """For each DAG: its trigger -> run created, its tasks' scheduling + start-up,
    and their execution (step work + task runtime overhead)."""
    out = {short: dict.fromkeys(DAG_PARTS, 0.0) for _, short, _, _ in DAG_TASKS}
    for s in segments:
        dag = s["name"].split(":")[0].split(".")[0]
        if dag not in out:
            continue
        if s["name"].endswith("-> run created"):
            part = "trigger -> run created"
        elif s["kind"] in ("scheduling", "start-up"):
            part = "scheduling + start-up"
        else:
            part = "execution"
            if s["kind"] == "step work":
                out[dag]["of which step work"] += s["seconds"]
        out[dag][part] += s["seconds"]
    return out
