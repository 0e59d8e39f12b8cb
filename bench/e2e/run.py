"""End-to-end alert latency: a positive rapid test published over MQTT -> its alert on
foodtrace/v1/alerts/{city}, through the real deployment (ingest worker, PostgreSQL,
Airflow 3 scheduler + triggerer + dag-processor + api-server, LocalExecutor).

    .venv/bin/python bench/e2e/run.py                       # 20 incidents + 5 baseline
    .venv/bin/python bench/e2e/run.py --incidents 30 --background 20 --json > e2e.json

Steps: throwaway databases and AIRFLOW_HOME, Mosquitto (project config), one
`foodtrace ingest` worker, Airflow's processes; a simulated base day (master data +
chain events) through the DAGs (also warms Airflow up); then, one at a time, a
positive rapid test for a different linked lot, timed from just before the publish
to the first alert JSON for that lot at the emergency office's subscription. With
--background, more incidents while simulated days of chain events are published
at a steady rate (validated and linked by the batch path meanwhile). The breakdown
comes from Airflow's metadata (breakdown.py). Baseline, same run: the lab-result
lane (and the sweep) paused, the same three steps called in this process on the
same NOTIFY (incidents.py), under the same load and quiet.
Everything is stopped and dropped at the end, also on Ctrl-C or failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import signal
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
from breakdown import KINDS, TURNOVER, incident_breakdown, percentile, totals_by_kind
from foodtrace.ingest.publish import Publisher, plan, publish_records
from incidents import (
    AlertListener,
    BackgroundDays,
    DirectPipeline,
    NotifyClock,
    pick_lots,
    positive_rapid_test,
    utc,
)
from stack import DAG_IDS, LAB_USERS, LANE_DAG, Stack, log

from foodtrace.simulate import default_day, simulate_day

TARGET_P95_S = 2.0
TARGET_RATIO_P95 = 1.5
PAUSED_FOR_BASELINE = (LANE_DAG, "foodtrace_sweep")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--incidents", type=int, default=20, help="measured incidents (default 20)")
    p.add_argument(
        "--background",
        type=int,
        default=0,
        help="incidents measured while background chain events are published (default 0)",
    )
    p.add_argument(
        "--background-rate",
        type=float,
        default=15.0,
        help="background chain events per second (default 15; a scale-0.5 day is ~1,400)",
    )
    p.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="incidents before the measured ones, not counted (default 1)",
    )
    p.add_argument(
        "--baseline",
        type=int,
        default=5,
        help="incidents through the in-process pipeline, quiet (default 5; 0 skips)",
    )
    p.add_argument(
        "--baseline-background",
        type=int,
        default=None,
        help="in-process incidents under the background load (default: --baseline if "
        "--background, else 0)",
    )
    p.add_argument(
        "--timeout", type=float, default=120.0, help="seconds per incident (default 120)"
    )
    p.add_argument(
        "--scale",
        type=float,
        default=0.5,
        help="simulated day's size (default 0.5: 65 lots; each incident needs a lot of its own)",
    )
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--day",
        type=date.fromisoformat,
        default=None,
        help="simulated day (default yesterday, China Standard Time)",
    )
    p.add_argument(
        "--gap",
        type=float,
        nargs=2,
        default=(1.0, 3.0),
        metavar=("MIN", "MAX"),
        help="random pause between incidents once the pipeline is idle (s)",
    )
    p.add_argument(
        "--preload",
        choices=("gx", "steps", "none", "off"),
        default="gx",
        help="what the scheduler imports before forking its workers (FOODTRACE_AIRFLOW_PRELOAD; "
        "off: plain `airflow scheduler`)",
    )
    p.add_argument(
        "--airflow-setting",
        action="append",
        default=[],
        metavar="SECTION__KEY=VALUE",
        help="override an Airflow setting, e.g. SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME=1",
    )
    p.add_argument("--keep", action="store_true", help="keep databases and the work folder")
    p.add_argument("--json", action="store_true", help="JSON alone on stdout")
    args = p.parse_args(argv)
    if args.incidents < 1:
        p.error("--incidents must be at least 1")
    if args.baseline_background is None:
        args.baseline_background = args.baseline if args.background else 0
    return args


def overrides(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or "__" not in key:
            raise SystemExit(f"--airflow-setting {pair!r}: use SECTION__KEY=VALUE")
        out[key.upper().removeprefix("AIRFLOW__")] = value
    return out


# ---- phases ------------------------------------------------------------------------


def wait_ingest_subscribed(stack: Stack, sim, timeout: float = 60.0) -> None:
    """Mosquitto drops publishes nobody has subscribed to yet (PUBACK 0x10): send one
    master-data message until it lands (the same message_id is stored once)."""
    probe = sim.locations[0]
    deadline = time.monotonic() + timeout
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            stack.check_alive()
            publish_records(stack.mqtt("foodtrace-registry"), "location", [probe])
            for _ in range(10):
                if conn.execute(
                    "SELECT 1 FROM landing.master_data WHERE message_id = %s",
                    (probe["message_id"],),
                ).fetchone():
                    return
                time.sleep(0.1)
    raise TimeoutError(f"the ingest worker stored nothing within {timeout:.0f} s")


def pipeline_idle(stack: Stack, *, batch: bool = True, lane: bool = True) -> bool:
    """`lane`: the lab-result lane waits for the next lab result. `batch`: no run of
    the batch path or the sweep is queued or running, and nothing is waiting in the
    validation or link queues."""
    with psycopg.connect(stack.airflow_database_url, autocommit=True) as af:
        if lane and not stack.lane_waiting():
            return False
        if batch:
            active = af.execute(
                "SELECT count(*) FROM dag_run WHERE dag_id = ANY(%s) "
                "AND state IN ('queued', 'running')",
                ([d for d in DAG_IDS if d != LANE_DAG],),
            ).fetchone()[0]
            if active:
                return False
    if not batch:
        return True
    with psycopg.connect(stack.database_url, autocommit=True) as ft:
        unsettled = ft.execute(
            """SELECT (SELECT count(*) FROM landing.validation_queue)
                    + (SELECT count(*) FROM core.link_queue)"""
        ).fetchone()[0]
    return unsettled == 0


def wait_idle(
    stack: Stack, timeout: float, settle_s: float = 0.5, *, batch: bool = True, lane: bool = True
) -> bool:
    """Until pipeline_idle twice in a row `settle_s` apart (an asset event may be on
    its way)."""
    deadline = time.monotonic() + timeout
    streak = 0
    while time.monotonic() < deadline:
        stack.check_alive()
        streak = streak + 1 if pipeline_idle(stack, batch=batch, lane=lane) else 0
        if streak >= 2:
            return True
        time.sleep(settle_s)
    return False


def load_base_day(stack: Stack, sim) -> dict[str, Any]:
    started = time.monotonic()
    registry, simulator = stack.mqtt("foodtrace-registry"), stack.mqtt("foodtrace-simulator")
    publish_records(registry, "location", sim.locations, batch=50)
    publish_records(registry, "product", sim.products, batch=50)
    publish_records(simulator, "chain_event", sim.chain_events, batch=50)
    published = time.monotonic() - started
    log(
        f"base day published: {len(sim.locations)} locations, {len(sim.products)} products, "
        f"{len(sim.chain_events)} chain events in {published:.1f} s; waiting for the DAGs"
    )
    time.sleep(2.0)  # let the first asset events arrive before asking whether all is idle
    if not wait_idle(stack, timeout=600.0, settle_s=2.0):
        raise TimeoutError("the pipeline did not promote and link the base day within 600 s")
    with psycopg.connect(stack.database_url, autocommit=True) as ft:
        counts = dict(
            ft.execute(
                "SELECT outcome, count(*) FROM core.processed_messages GROUP BY outcome"
            ).fetchall()
        )
        events = ft.execute("SELECT count(*) FROM core.events").fetchone()[0]
        lots = ft.execute("SELECT count(DISTINCT lot_code) FROM core.lot_locations").fetchone()[0]
    runs = dag_run_counts(stack)
    took = time.monotonic() - started
    log(
        f"base day promoted and linked in {took:.1f} s: {counts}, {events} events, "
        f"{lots} linked lots; DAG runs so far {runs}"
    )
    return {
        "seconds": round(took, 1),
        "outcomes": counts,
        "events": events,
        "linked_lots": lots,
        "dag_runs": runs,
    }


def idle_cpu(stack: Stack, seconds: float = 20.0) -> dict[str, float]:
    """Each process's CPU use while the pipeline is idle (the lane waiting), in % of
    one core: what the latency settings cost when nothing happens."""
    wait_idle(stack, timeout=120.0)
    before = stack.cpu_seconds()
    time.sleep(seconds)
    after = stack.cpu_seconds()
    return {k: round(100 * (after[k] - before.get(k, 0.0)) / seconds, 1) for k in after}


def dag_run_counts(stack: Stack) -> dict[str, int]:
    with psycopg.connect(stack.airflow_database_url, autocommit=True) as af:
        return dict(
            af.execute(
                "SELECT dag_id, count(*) FROM dag_run WHERE dag_id = ANY(%s) GROUP BY dag_id",
                (list(DAG_IDS),),
            ).fetchall()
        )


def run_incident(
    stack: Stack,
    listener: AlertListener,
    publishers: dict[str, Publisher],
    lot: tuple[str, str],
    no: int,
    tag: str,
    timeout: float,
) -> dict[str, Any]:
    lot_code, location_id = lot
    lab_id = LAB_USERS[no % len(LAB_USERS)]
    msg = positive_rapid_test(lot_code, location_id, lab_id, no, tag)
    outgoing = list(plan([("lab_result", msg)]))
    t0 = time.time()
    publishers[lab_id].publish(outgoing)
    acked = time.time()
    arrival = listener.wait_for(lot_code, timeout)
    result = {
        "no": no,
        "lot_code": lot_code,
        "lab_id": lab_id,
        "message_id": msg["message_id"],
        "t0": t0,
        "t0_utc": utc(t0),
        "puback_s": round(acked - t0, 4),
        "arrival": arrival,
        "latency_s": None if arrival is None else arrival - t0,
    }
    if arrival is None:
        stack.check_alive()
    return result


def gather_breakdowns(stack: Stack, incidents: list[dict[str, Any]]) -> None:
    with (
        psycopg.connect(stack.airflow_database_url, autocommit=True) as af,
        psycopg.connect(stack.database_url, autocommit=True) as ft,
    ):
        for inc in incidents:
            if inc["arrival"] is None:
                continue
            inc["breakdown"] = incident_breakdown(
                af,
                ft,
                t0=inc["t0"],
                arrival=inc["arrival"],
                message_id=inc["message_id"],
                committed=inc.get("committed"),
            )


def _log_incident(label: str, inc: dict[str, Any]) -> None:
    latency = inc["latency_s"]
    log(
        f"{label}: {inc['lot_code']}: " + (f"{latency:.2f} s" if latency is not None else "TIMEOUT")
    )


def measure_airflow(
    stack: Stack,
    listener: AlertListener,
    clock: NotifyClock,
    publishers: dict[str, Publisher],
    lots: list[tuple[str, str]],
    args: argparse.Namespace,
    tag: str,
    rng: random.Random,
    *,
    first_no: int,
    warmup: int,
    label: str,
    background: BackgroundDays | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Incidents through the DAGs, one at a time (the first `warmup` not counted);
    then their breakdowns from Airflow's metadata. Quiet: the next incident starts
    once the whole pipeline is idle; under background load, once the lab-result
    lane waits again."""
    warmups: list[dict[str, Any]] = []
    incidents: list[dict[str, Any]] = []
    quiet = background is None
    for k, lot in enumerate(lots):
        inc = run_incident(stack, listener, publishers, lot, first_no + k, tag, args.timeout)
        if k < warmup:
            warmups.append(inc)
            _log_incident(f"warm-up  {k + 1:>3}", inc)
        else:
            incidents.append(inc)
            _log_incident(f"{label} {k - warmup + 1:>3}", inc)
        if not wait_idle(stack, timeout=args.timeout, batch=quiet):
            log("the pipeline did not go idle; going on")
        inc["committed"] = clock.first_after(inc["t0"])
        if background is not None:
            inc["background"] = background.active_between(inc["t0"], time.time())
        time.sleep(rng.uniform(*args.gap))
    gather_breakdowns(stack, incidents + warmups)
    return warmups, incidents


def measure_baseline(
    stack: Stack,
    listener: AlertListener,
    publishers: dict[str, Publisher],
    lots: list[tuple[str, str]],
    first_no: int,
    args: argparse.Namespace,
    tag: str,
    rng: random.Random,
    result: dict[str, Any],
    *,
    label: str,
    background: BackgroundDays | None = None,
) -> list[dict[str, Any]]:
    """The lab-result lane and the sweep paused; the same steps in this process on
    the same NOTIFY. The first incident is not counted: the lane's last validate
    task may still be waiting and take it (its link and alert never run, paused)."""
    stack.set_paused(True, PAUSED_FOR_BASELINE)
    direct = DirectPipeline(stack.database_url, stack.mqtt("foodtrace-pipeline"))
    warm = direct.warm_up()
    result.setdefault("baseline_warm_up_s", round(warm, 2))
    log(f"baseline ({label}): lane paused; warm-up (imports, GX suites) {warm:.1f} s")
    baseline: list[dict[str, Any]] = []
    with direct:
        for k, lot in enumerate(lots):
            inc = run_incident(stack, listener, publishers, lot, first_no + k, tag, args.timeout)
            if k == 0:
                _log_incident(f"baseline {label} warm-up", inc)
            else:
                baseline.append(inc)
                _log_incident(f"baseline {label} {k:>3}", inc)
            if background is not None:
                inc["background"] = background.active_between(inc["t0"], time.time())
            time.sleep(rng.uniform(*args.gap))
    for inc in baseline:  # a run is recorded once it has returned
        inc["direct_run"] = direct.run_covering(inc["t0"])
    return baseline


# ---- figures -------------------------------------------------------------------------


def stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "max": max(values),
        "min": min(values),
        "mean": sum(values) / len(values),
    }


def summarize_airflow(incidents: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [i for i in incidents if i["latency_s"] is not None]
    walked = [i for i in ok if i.get("breakdown") and not i["breakdown"]["problem"]]
    totals = [totals_by_kind(i["breakdown"]["segments"]) for i in walked]
    names: dict[str, list[float]] = {}
    kinds: dict[str, str] = {}
    for i in walked:
        for s in i["breakdown"]["segments"]:
            names.setdefault(s["name"], []).append(s["seconds"])
            kinds[s["name"]] = s["kind"]
    turnovers = [i["breakdown"]["turnover"] for i in walked if i["breakdown"]["turnover"]]
    problems = sorted(
        {i["breakdown"]["problem"] for i in ok if i.get("breakdown") and i["breakdown"]["problem"]}
    )
    return {
        "incidents": len(incidents),
        "alerts_received": len(ok),
        "timeouts": [i["lot_code"] for i in incidents if i["latency_s"] is None],
        "latency_s": stats([i["latency_s"] for i in ok]),
        "breakdown_walked": len(walked),
        "breakdown_problems": problems,
        "by_kind_s": {k: stats([t[k] for t in totals]) for k in KINDS},
        "segments_s": [{"name": n, "kind": kinds[n], **stats(v)} for n, v in names.items()],
        "turnover_s": {
            **{k: stats([t[k] for t in turnovers]) for k in TURNOVER},
            "total": stats([sum(t.values()) for t in turnovers]),
        },
        "on_background": sum(1 for i in incidents if i.get("background")),
    }


def summarize_baseline(baseline: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [b for b in baseline if b["latency_s"] is not None]
    runs = [(b, b["direct_run"]) for b in ok if b.get("direct_run")]
    parts = {
        "publish -> NOTIFY heard": [r["woke"] - b["t0"] for b, r in runs],
        "validate_step": [r["validate_end"] - r["debounced"] for b, r in runs],
        "link_step": [r["link_end"] - r["validate_end"] for b, r in runs],
        "alert_step until arrival": [b["arrival"] - r["link_end"] for b, r in runs],
    }
    return {
        "incidents": len(baseline),
        "alerts_received": len(ok),
        "latency_s": stats([b["latency_s"] for b in ok]),
        "breakdown_s": {k: stats(v) for k, v in parts.items()},
        "on_background": sum(1 for b in baseline if b.get("background")),
    }


def compare(airflow: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    a, b = airflow["latency_s"], baseline["latency_s"]
    if not a.get("n") or not b.get("n"):
        return {}
    return {
        "ratio_p50": a["p50"] / b["p50"],
        "ratio_p95": a["p95"] / b["p95"],
        "meets_p95_target": a["p95"] < TARGET_P95_S,
        "meets_ratio_target": a["p95"] / b["p95"] <= TARGET_RATIO_P95,
    }


def _f(v: float | None, width: int = 6) -> str:
    return f"{v:{width}.2f}" if isinstance(v, int | float) else f"{'-':>{width}}"


def _print_phase(title: str, air: dict[str, Any], base: dict[str, Any] | None, cmp: dict) -> None:
    out = sys.stdout
    lat = air["latency_s"]
    print(f"\n== {title} ==", file=out)
    print(
        f"  incidents {air['incidents']}, alerts received {air['alerts_received']}, "
        f"timeouts {len(air['timeouts'])} {air['timeouts'] or ''}"
        + (f", {air['on_background']} during background load" if air["on_background"] else ""),
        file=out,
    )
    if lat.get("n"):
        verdict = "met" if lat["p95"] < TARGET_P95_S else "NOT met"
        print(
            f"  Airflow:  p50 {lat['p50']:.2f} s   p95 {lat['p95']:.2f} s   max {lat['max']:.2f} s"
            f"   min {lat['min']:.2f} s   (p95 < {TARGET_P95_S:g} s: {verdict})",
            file=out,
        )
    if base and base["latency_s"].get("n"):
        b = base["latency_s"]
        print(
            f"  baseline (same steps in-process, no Airflow, n={b['n']}): p50 {b['p50']:.2f} s"
            f"   p95 {b['p95']:.2f} s   max {b['max']:.2f} s",
            file=out,
        )
    if cmp:
        verdict = "met" if cmp["meets_ratio_target"] else "NOT met"
        print(
            f"  ratio Airflow / baseline: p50 {cmp['ratio_p50']:.2f}x   p95 {cmp['ratio_p95']:.2f}x"
            f"   (p95 <= {TARGET_RATIO_P95:g}x: {verdict})",
            file=out,
        )
    print(
        f"\n  where the time goes ({air['breakdown_walked']} incidents traced through "
        "Airflow's metadata; seconds)",
        file=out,
    )
    print(f"  {'segment':<44} {'kind':<22} {'p50':>6} {'p95':>6} {'max':>6}", file=out)
    for seg in air["segments_s"]:
        print(
            f"  {seg['name']:<44} {seg['kind']:<22} {_f(seg['p50'])} {_f(seg['p95'])} "
            f"{_f(seg['max'])}",
            file=out,
        )
    print(f"\n  {'by kind':<67} {'p50':>6} {'p95':>6} {'max':>6}", file=out)
    for kind, st in air["by_kind_s"].items():
        print(f"  {kind:<67} {_f(st.get('p50'))} {_f(st.get('p95'))} {_f(st.get('max'))}", file=out)
    print(
        "  Airflow's own cost on that path: none (the lane's task was waiting; the three "
        "steps run in it)\n\n  between two lab results, the lane turns over (previous "
        "task end -> next task waiting):",
        file=out,
    )
    for kind, st in air["turnover_s"].items():
        print(f"  {kind:<67} {_f(st.get('p50'))} {_f(st.get('p95'))} {_f(st.get('max'))}", file=out)
    bb = (base or {}).get("breakdown_s") or {}
    if bb:
        print(
            "\n  baseline, p50 / p95: "
            + ", ".join(
                f"{k} {_f(v.get('p50'), 4).strip()} / {_f(v.get('p95'), 4).strip()}"
                for k, v in bb.items()
            ),
            file=out,
        )
    if air["breakdown_problems"]:
        print("  not traced: " + "; ".join(air["breakdown_problems"]), file=out)


def print_report(result: dict[str, Any]) -> None:
    s = result["summary"]
    print("End-to-end alert latency (publish -> alert JSON at the emergency office)")
    _print_phase("quiet", s["quiet"], s.get("baseline_quiet"), s.get("compare_quiet", {}))
    if "background" in s:
        _print_phase(
            f"during background load ({result['background']['rate']:g} chain events/s)",
            s["background"],
            s.get("baseline_background"),
            s.get("compare_background", {}),
        )
    print(
        "\nAirflow settings: "
        + ", ".join(f"AIRFLOW__{k}={v}" for k, v in result["airflow_settings"].items())
        + f"; scheduler preload: {result['preload']}"
    )


# ---- main ----------------------------------------------------------------------------


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _run(stack: Stack, args: argparse.Namespace, result: dict[str, Any]) -> None:
    rng = random.Random(args.seed)
    tag = stack.tag.upper()
    stack.start_databases()
    stack.start_broker()
    stack.start_ingest()
    stack.start_airflow()
    ready = stack.wait_airflow_ready()
    log(f"Airflow healthy, DAGs parsed, watcher running, lane waiting after {ready:.1f} s")
    result["airflow_ready_s"] = round(ready, 1)

    day = args.day or default_day()
    sim = simulate_day(args.seed, day, scale=args.scale)
    wait_ingest_subscribed(stack, sim)
    result["base_day"] = load_base_day(stack, sim)

    result["idle_cpu_percent"] = idle_cpu(stack)
    log(f"idle CPU, % of one core: {result['idle_cpu_percent']}")

    sizes = [
        args.warmup + args.incidents,
        args.background,
        args.baseline_background + 1 if args.baseline_background else 0,
        args.baseline + 1 if args.baseline else 0,
    ]
    with psycopg.connect(stack.database_url, autocommit=True) as ft:
        lots = pick_lots(ft, sum(sizes), args.seed)
    cut = [sum(sizes[:i]) for i in range(len(sizes) + 1)]
    lot_sets = [lots[cut[i] : cut[i + 1]] for i in range(len(sizes))]
    summary: dict[str, Any] = {}
    result["summary"] = summary
    background: BackgroundDays | None = None

    with contextlib.ExitStack() as running:
        listener = running.enter_context(AlertListener(stack.mqtt("emergency-office")))
        clock = running.enter_context(NotifyClock(stack.database_url))
        # each lab stays connected, as a rapid-test station would
        publishers = {lab: running.enter_context(Publisher(stack.mqtt(lab))) for lab in LAB_USERS}
        common = (stack, listener, clock, publishers)
        warmups, quiet = measure_airflow(
            *common, lot_sets[0], args, tag, rng, first_no=0, warmup=args.warmup, label="incident"
        )
        result["warmup"], result["incidents"] = warmups, quiet
        summary["quiet"] = summarize_airflow(quiet)
        if args.background:
            background = BackgroundDays(
                stack.mqtt("foodtrace-simulator"), args.seed, day, args.scale, args.background_rate
            ).start()
            running.callback(lambda: background.stop() if background else None)
            result["background"] = {"rate": args.background_rate}
            time.sleep(5.0)  # the batch path busy before the first incident
            _, loaded = measure_airflow(
                *common,
                lot_sets[1],
                args,
                tag,
                rng,
                first_no=cut[1],
                warmup=0,
                label="under load",
                background=background,
            )
            result["background_incidents"] = loaded
            summary["background"] = summarize_airflow(loaded)
            if args.baseline_background:
                base_bg = measure_baseline(
                    stack,
                    listener,
                    publishers,
                    lot_sets[2],
                    cut[2],
                    args,
                    tag,
                    rng,
                    result,
                    label="under load",
                    background=background,
                )
                result["baseline_background"] = base_bg
                summary["baseline_background"] = summarize_baseline(base_bg)
                summary["compare_background"] = compare(
                    summary["background"], summary["baseline_background"]
                )
            background.stop()
            result["background"].update(
                published=background.published,
                days=background.days,
                seconds=round((background.stopped or 0) - (background.started or 0), 1),
            )
            log(f"background stopped: {background.published} chain events published")
            background = None
        if args.baseline:
            stack.set_paused(True, PAUSED_FOR_BASELINE)
            if not wait_idle(stack, timeout=600.0, lane=False):
                log("the batch path did not go idle before the quiet baseline; going on")
            base_q = measure_baseline(
                stack, listener, publishers, lot_sets[3], cut[3], args, tag, rng, result,
                label="quiet",
            )  # fmt: skip
            result["baseline"] = base_q
            summary["baseline_quiet"] = summarize_baseline(base_q)
            summary["compare_quiet"] = compare(summary["quiet"], summary["baseline_quiet"])
    result["dag_runs"] = dag_run_counts(stack)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM (e.g. `kill`) takes the same clean-up path as Ctrl-C
    signal.signal(signal.SIGTERM, _interrupt)
    workdir = Path(tempfile.mkdtemp(prefix="ft-bench-e2e-"))
    stack = Stack(
        workdir,
        airflow_overrides=overrides(args.airflow_setting),
        keep=args.keep,
        preload=args.preload,
    )
    result: dict[str, Any] = {
        "command": " ".join(sys.argv),
        "airflow_settings": stack.airflow_settings(),
        "preload": args.preload,
        "workdir": str(workdir),
    }
    log(f"work folder {workdir}")
    try:
        _run(stack, args, result)
    except KeyboardInterrupt:
        log("interrupted: stopping everything")
        return 130
    finally:
        stack.close()
        log("stopped all processes" + ("" if args.keep else ", dropped the databases"))

    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print_report(result)
    s = result["summary"]
    timeouts = s["quiet"]["timeouts"] + s.get("background", {}).get("timeouts", [])
    return 0 if not timeouts else 1


if __name__ == "__main__":
    sys.exit(main())
