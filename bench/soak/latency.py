"""Where an incident's alert latency went during the soak, from the foodtrace database.

Each incident's positive rapid test leaves a time stamp at every stage it passes,
whichever DAG moved it (under load the lab-result lane or the batch path may link
or judge it first): landing `received_at` (the ingest commit), core.lab_results
`promoted_at`, its `sampled` row in core.lot_locations `linked_at`, its alert's first
core.alert_outbox row `created_at` (all transaction start times), then its arrival
at the emergency office. Consecutive stamps cut the latency into segments that add
up to it. Beside them, ops.pipeline_runs (every step run, its DAG and summary) gives
each step's duration and, for link, the time spent waiting for the graph lock
(the run's duration minus link's own `seconds`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import psycopg
from series import percentile

SEGMENTS = (
    ("ingest", "published", "landed"),
    ("validate (wait + promote)", "landed", "promoted"),
    ("link (wait + link)", "promoted", "linked"),
    ("judge (wait + evaluate)", "linked", "judged"),
    ("deliver", "judged", "arrived"),
)

_STAMPS = """
SELECT extract(epoch FROM (SELECT received_at FROM landing.lab_results WHERE message_id = %(m)s)),
       extract(epoch FROM (SELECT promoted_at FROM core.lab_results WHERE message_id = %(m)s)),
       extract(epoch FROM (SELECT min(linked_at) FROM core.lot_locations
                           WHERE message_id = %(m)s AND role = 'sampled')),
       extract(epoch FROM (SELECT min(o.created_at) FROM core.alert_outbox o
                           JOIN core.alerts a USING (alert_id) WHERE a.lot_code = %(lot)s))
"""

_RUNS = """
SELECT coalesce(dag_id, mode), step, extract(epoch FROM started_at)::float8,
       extract(epoch FROM finished_at)::float8, summary
FROM ops.pipeline_runs WHERE started_at >= to_timestamp(%s) ORDER BY started_at
"""


def incident_segments(ft: psycopg.Connection, incident: dict[str, Any]) -> dict[str, Any]:
    """The stamps and segments (seconds) of one incident; a missing stamp leaves its
    two segments out."""
    stamps: dict[str, float | None] = {"published": incident["t0"]}
    row = ft.execute(_STAMPS, {"m": incident["message_id"], "lot": incident["lot_code"]}).fetchone()
    for name, value in zip(("landed", "promoted", "linked", "judged"), row or (), strict=False):
        stamps[name] = None if value is None else float(value)
    latency = incident.get("latency_s")
    stamps["arrived"] = None if latency is None else incident["t0"] + latency
    segments = {
        name: round(float(b) - float(a), 3)
        for name, start, end in SEGMENTS
        if (a := stamps.get(start)) is not None and (b := stamps.get(end)) is not None
    }
    return {"stamps": stamps, "segments": segments}


def _stats(values: list[float]) -> dict[str, Any]:
    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 2)

    return {"n": len(values), "p50": r(percentile(values, 50)), "p95": r(percentile(values, 95)),
            "max": r(max(values, default=None)), "sum": r(sum(values))}


def step_runs(ft: psycopg.Connection, since: float) -> dict[str, Any]:
    """Per (DAG, step): durations; for link also the graph-lock wait and the chain
    events each run linked; for validate the rows each run checked."""
    grouped: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for dag, step, started, finished, summary in ft.execute(_RUNS, (since,)):
        g = grouped[f"{dag}/{step}"]
        g["duration_s"].append(finished - started)
        summary = summary or {}
        if step == "link" and summary.get("seconds") is not None:
            g["lock_wait_s"].append(max(0.0, finished - started - float(summary["seconds"])))
            g["link_s"].append(float(summary["seconds"]))
            g["events_linked"].append(float(summary.get("events") or 0))
            g["lab_results_linked"].append(float(summary.get("lab_results") or 0))
        if step == "validate":
            g["checked"].append(float(summary.get("checked") or 0))
    return {key: {name: _stats(vals) for name, vals in g.items()} for key, g in sorted(grouped.items())}


def latency_figures(ft: psycopg.Connection, incidents: list[dict[str, Any]],
                    since: float) -> dict[str, Any]:
    """Every incident's segments (added to each incident), their percentiles, and
    the step runs (step_runs)."""
    by_segment: dict[str, list[float]] = defaultdict(list)
    for inc in incidents:
        inc["path"] = incident_segments(ft, inc)
        for name, seconds in inc["path"]["segments"].items():
            by_segment[name].append(seconds)
    return {
        "segments": {name: _stats(by_segment[name]) for name, _, _ in SEGMENTS},
        "step_runs": step_runs(ft, since),
    }
