"""Where an incident's latency went, from Airflow's own metadata.

The alert path is one run of foodtrace_lab_results, whose one task
(lab_result_to_alert) was already running, waiting (LISTEN) for a lab result, when
the positive test landed; it then ran validate -> link -> alert. From the alert's
arrival the walk finds the run whose task had started before it, checks that the
task woke for this incident (its validate step began after the publish), and cuts
the path into contiguous segments that add up to the measured latency exactly:

    publish -> ingest received          ingest (MQTT; landing.lab_results.received_at)
    ingest received -> landing commit   ingest (batch window <= 200 ms, COPY, commit:
                                        when the commit's NOTIFY was heard)
    landing commit -> task woke         wake-up (the NOTIFY reaching the waiting task)
    validate step                       step work (validate + promote + notices)
    link step                           step work (validate's end -> link's end)
    alert step until arrival            step work (link's end -> the alert arrived)

Airflow has no segment on that path: its cost is paid between two lab results,
while the lane turns over (the task returns, the run ends, the scheduler creates
the next run and starts its task, which connects and waits again). That turnover
is cut from the run before this one:

    scheduling     the previous run's task end -> this run's task queued
    start-up       queued -> task start (executor, fork, Execution API)
    task runtime   task start -> its wait began (DAG file parse, context, imports)

A lab result that lands during a turnover waits for it; the incidents under
background load show how often that happens. The steps record their own start and
end (`started_at`, `finished_at`) in the task's XCom result (a PipelineReport
dict), the task instances their queued / start / end times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

LANE_DAG = "foodtrace_lab_results"
LANE_TASK = "lab_result_to_alert"
KINDS = ("ingest", "wake-up", "step work")
TURNOVER = ("scheduling", "start-up", "task runtime")


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


def _lane_task(conn: psycopg.Connection, arrival: float) -> dict[str, Any] | None:
    """The lane task that had started before `arrival` (latest first), with the
    end of the lane task before it."""
    row = conn.execute(
        """SELECT ti.run_id, ti.queued_dttm, ti.start_date, x.value,
                  (SELECT max(p.end_date) FROM task_instance p
                   WHERE p.dag_id = ti.dag_id AND p.task_id = ti.task_id
                     AND p.end_date <= ti.start_date)
           FROM task_instance ti
           JOIN dag_run r ON r.dag_id = ti.dag_id AND r.run_id = ti.run_id
           LEFT JOIN xcom x ON x.dag_run_id = r.id AND x.task_id = ti.task_id
                           AND x.key = 'return_value'
           WHERE ti.dag_id = %s AND ti.task_id = %s AND ti.start_date <= to_timestamp(%s)
           ORDER BY ti.start_date DESC LIMIT 1""",
        (LANE_DAG, LANE_TASK, arrival),
    ).fetchone()
    if row is None:
        return None
    return {
        "run_id": row[0],
        "queued": _ts(row[1]),
        "start": _ts(row[2]),
        "result": row[3] if isinstance(row[3], dict) else {},
        "previous_end": _ts(row[4]),
    }


def incident_breakdown(
    af: psycopg.Connection,
    ft: psycopg.Connection,
    *,
    t0: float,
    arrival: float,
    message_id: str,
    committed: float | None = None,
) -> dict[str, Any]:
    """Segments of one incident's path and the lane turnover before it (module
    docstring); `problem` says why the walk stopped if the path was not the lane's."""
    out: dict[str, Any] = {"segments": [], "turnover": None, "run_id": None, "problem": None}
    row = ft.execute(
        "SELECT received_at FROM landing.lab_results WHERE message_id = %s", (message_id,)
    ).fetchone()
    landed = _ts(row[0]) if row else None
    ti = _lane_task(af, arrival)
    if ti is None:
        out["problem"] = f"no {LANE_DAG} task had started when the alert arrived"
        return out
    out["run_id"] = ti["run_id"]
    steps = ti["result"]
    v, lk = steps.get("validate") or {}, steps.get("link") or {}
    woke = v.get("started_at")
    if woke is None or woke < t0 - 0.05:
        out["problem"] = (
            f"{LANE_DAG} run {ti['run_id']} did not wake for this incident (its validate "
            "step began before the publish, or has not returned: another run or DAG "
            "took the lab result)"
        )
        return out
    segs: list[Segment] = []
    if landed is not None and committed is not None:
        segs.append(Segment("publish -> ingest received", "ingest", landed - t0))
        segs.append(Segment("ingest received -> landing commit", "ingest", committed - landed))
        segs.append(Segment("landing commit -> task woke", "wake-up", woke - committed))
    else:
        segs.append(Segment("publish -> task woke", "ingest", woke - t0))
    v_end = min(float(v.get("finished_at") or woke), arrival)
    lk_end = min(float(lk.get("finished_at") or v_end), arrival)
    segs.append(Segment("validate step", "step work", v_end - woke))
    segs.append(Segment("link step", "step work", lk_end - v_end))
    segs.append(Segment("alert step until arrival", "step work", arrival - lk_end))
    out["segments"] = [s.__dict__ for s in segs]
    out["engines"] = v.get("engines")
    waited = v.get("waited_s")
    if ti["previous_end"] and ti["queued"] and ti["start"] and waited is not None:
        wait_began = woke - float(waited)
        out["turnover"] = {
            "scheduling": ti["queued"] - ti["previous_end"],
            "start-up": ti["start"] - ti["queued"],
            "task runtime": max(0.0, wait_began - ti["start"]),
        }
    return out


def totals_by_kind(segments: list[dict[str, Any]]) -> dict[str, float]:
    totals = dict.fromkeys(KINDS, 0.0)
    for s in segments:
        totals[s["kind"]] += s["seconds"]
    return totals
