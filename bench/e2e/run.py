"""End-to-end alert latency: a positive rapid test published over MQTT -> its alert on
foodtrace/v1/alerts/{city}, through the real deployment (ingest worker, PostgreSQL,
Airflow 3 scheduler + triggerer + dag-processor + api-server, LocalExecutor).

    .venv/bin/python bench/e2e/run.py                       # 20 incidents + 5 baseline
    .venv/bin/python bench/e2e/run.py --incidents 40 --json > e2e.json

Steps: throwaway databases and AIRFLOW_HOME, Mosquitto (project config), one
`foodtrace ingest` worker, Airflow's processes; a simulated base day (master data +
chain events) through the DAGs (also warms Airflow up); then, one at a time, a
positive rapid test for a different linked lot, timed from just before the publish
to the first alert JSON for that lot at the emergency office's subscription. The
breakdown comes from Airflow's metadata (breakdown.py). Baseline, same run: the DAGs
paused, the same three steps called in this process on the same NOTIFY (incidents.py).
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
from breakdown import (
    AIRFLOW_KINDS,
    DAG_PARTS,
    KINDS,
    incident_breakdown,
    per_dag,
    percentile,
    totals_by_kind,
)
from foodtrace.ingest.publish import Publisher, plan, publish_records
from incidents import (
    AlertListener,
    DirectPipeline,
    NotifyClock,
    pick_lots,
    positive_rapid_test,
    utc,
)
from stack import DAG_IDS, LAB_USERS, Stack, log

from foodtrace.simulate import default_day, simulate_day


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--incidents", type=int, default=20, help="measured incidents (default 20)")
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
        help="incidents through the direct in-process pipeline (default 5; 0 skips)",
    )
    p.add_argument(
        "--timeout", type=float, default=120.0, help="seconds per incident (default 120)"
    )
    p.add_argument(
        "--scale",
        type=float,
        default=0.5,
        help="simulated day's size (default 0.5: 69 lots; each incident needs a lot of its own)",
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


def pipeline_idle(stack: Stack) -> bool:
    with psycopg.connect(stack.airflow_database_url, autocommit=True) as af:
        active = af.execute(
            "SELECT count(*) FROM dag_run WHERE dag_id = ANY(%s) AND state IN ('queued', 'running')",
            (list(DAG_IDS),),
        ).fetchone()[0]
    if active:
        return False
    with psycopg.connect(stack.database_url, autocommit=True) as ft:
        unsettled = ft.execute(
            """SELECT (SELECT count(*) FROM landing.validation_queue)
                    + (SELECT count(*) FROM core.link_queue)"""
        ).fetchone()[0]
    return unsettled == 0


def wait_idle(stack: Stack, timeout: float, settle_s: float = 1.0) -> bool:
    """Until no DAG run is queued or running and nothing is waiting in the queues,
    twice in a row `settle_s` apart (an asset event may be on its way)."""
    deadline = time.monotonic() + timeout
    streak = 0
    while time.monotonic() < deadline:
        stack.check_alive()
        streak = streak + 1 if pipeline_idle(stack) else 0
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
    with psycopg.connect(stack.airflow_database_url, autocommit=True) as af:
        runs = dict(
            af.execute(
                "SELECT dag_id, count(*) FROM dag_run WHERE dag_id = ANY(%s) GROUP BY dag_id",
                (list(DAG_IDS),),
            ).fetchall()
        )
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
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Warm-up and measured incidents through the DAGs, one at a time; then their
    breakdowns from Airflow's metadata."""
    warmups: list[dict[str, Any]] = []
    incidents: list[dict[str, Any]] = []
    for no, lot in enumerate(lots):
        inc = run_incident(stack, listener, publishers, lot, no, tag, args.timeout)
        if no < args.warmup:
            warmups.append(inc)
            _log_incident(f"warm-up  {no + 1:>3}", inc)
        else:
            incidents.append(inc)
            _log_incident(f"incident {no - args.warmup + 1:>3}", inc)
        if not wait_idle(stack, timeout=args.timeout):
            log("the pipeline did not go idle; going on")
        inc["committed"] = clock.first_after(inc["t0"])
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
) -> list[dict[str, Any]]:
    """The DAGs paused; the same steps in this process on the same NOTIFY."""
    stack.set_paused(True)
    wait_idle(stack, timeout=60.0)
    direct = DirectPipeline(stack.database_url, stack.mqtt("foodtrace-pipeline"))
    warm = direct.warm_up()
    result["baseline_warm_up_s"] = round(warm, 2)
    log(f"baseline: DAGs paused; warm-up (imports, GX suites) {warm:.1f} s")
    baseline: list[dict[str, Any]] = []
    with direct:
        for k, lot in enumerate(lots):
            inc = run_incident(stack, listener, publishers, lot, first_no + k, tag, args.timeout)
            baseline.append(inc)
            _log_incident(f"baseline {k + 1:>3}", inc)
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


def summarize(incidents: list[dict[str, Any]], baseline: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [i for i in incidents if i["latency_s"] is not None]
    lat = [i["latency_s"] for i in ok]
    walked = [i for i in ok if i.get("breakdown") and not i["breakdown"]["problem"]]
    by_kind = {
        k: stats([totals_by_kind(i["breakdown"]["segments"])[k] for i in walked]) for k in KINDS
    }
    airflow_own = stats(
        [sum(totals_by_kind(i["breakdown"]["segments"])[k] for k in AIRFLOW_KINDS) for i in walked]
    )
    startup = stats(
        [
            sum(totals_by_kind(i["breakdown"]["segments"])[k] for k in ("scheduling", "start-up"))
            for i in walked
        ]
    )
    names: dict[str, list[float]] = {}
    kinds: dict[str, str] = {}
    for i in walked:
        for s in i["breakdown"]["segments"]:
            names.setdefault(s["name"], []).append(s["seconds"])
            kinds[s["name"]] = s["kind"]
    segments = [{"name": n, "kind": kinds[n], **stats(v)} for n, v in names.items()]
    dags = {
        dag: {
            part: stats([per_dag(i["breakdown"]["segments"])[dag][part] for i in walked])
            for part in DAG_PARTS
        }
        for dag in ("validate", "link", "alert")
    }
    base_lat = [b["latency_s"] for b in baseline if b["latency_s"] is not None]
    direct = [b for b in baseline if b["latency_s"] is not None and b.get("direct_run")]
    base_parts = {
        "publish -> NOTIFY heard": [b["direct_run"]["woke"] - b["t0"] for b in direct],
        "debounce": [b["direct_run"]["debounced"] - b["direct_run"]["woke"] for b in direct],
        "validate_step": [
            b["direct_run"]["validate_end"] - b["direct_run"]["debounced"] for b in direct
        ],
        "link_step": [
            b["direct_run"]["link_end"] - b["direct_run"]["validate_end"] for b in direct
        ],
        "alert_step until arrival": [b["arrival"] - b["direct_run"]["link_end"] for b in direct],
    }
    summary: dict[str, Any] = {
        "incidents": len(incidents),
        "alerts_received": len(ok),
        "timeouts": [i["lot_code"] for i in incidents if i["latency_s"] is None],
        "latency_s": stats(lat),
        "breakdown_walked": len(walked),
        "breakdown_problems": sorted(
            {
                i["breakdown"]["problem"]
                for i in ok
                if i.get("breakdown") and i["breakdown"]["problem"]
            }
        ),
        "by_kind_s": by_kind,
        "airflow_scheduling_and_startup_s": startup,
        "airflow_total_own_cost_s": airflow_own,
        "segments_s": segments,
        "per_dag_s": dags,
        "baseline": {
            "incidents": len(baseline),
            "alerts_received": len(base_lat),
            "latency_s": stats(base_lat),
            "breakdown_s": {k: stats(v) for k, v in base_parts.items()},
        },
    }
    if base_lat and lat:
        summary["ratio_p50"] = percentile(lat, 50) / percentile(base_lat, 50)
        summary["ratio_p95"] = percentile(lat, 95) / percentile(base_lat, 95)
    return summary


def _f(v: float | None, width: int = 6) -> str:
    return f"{v:{width}.2f}" if isinstance(v, int | float) else f"{'-':>{width}}"


def print_report(result: dict[str, Any]) -> None:
    s = result["summary"]
    lat = s["latency_s"]
    out = sys.stdout
    print("\nEnd-to-end alert latency (publish -> alert JSON at the emergency office)", file=out)
    print(
        f"  incidents {s['incidents']}, alerts received {s['alerts_received']}, "
        f"timeouts {len(s['timeouts'])} {s['timeouts'] or ''}",
        file=out,
    )
    if lat.get("n"):
        verdict = "meets" if lat["p95"] < 15 else "MISSES"
        print(
            f"  Airflow:  p50 {lat['p50']:.2f} s   p95 {lat['p95']:.2f} s   max {lat['max']:.2f} s"
            f"   min {lat['min']:.2f} s   ({verdict} the p95 < 15 s target)",
            file=out,
        )
    b = s["baseline"]["latency_s"]
    if b.get("n"):
        print(
            f"  baseline (same steps in-process, no Airflow, n={b['n']}): p50 {b['p50']:.2f} s"
            f"   p95 {b['p95']:.2f} s   max {b['max']:.2f} s",
            file=out,
        )
    if "ratio_p50" in s:
        print(
            f"  ratio Airflow / baseline: p50 {s['ratio_p50']:.1f}x   p95 {s['ratio_p95']:.1f}x",
            file=out,
        )
    print(
        f"\nWhere the time goes (over {s['breakdown_walked']} incidents traced through "
        "Airflow's metadata; seconds)",
        file=out,
    )
    print(f"  {'segment':<50} {'kind':<22} {'p50':>6} {'p95':>6} {'max':>6}", file=out)
    for seg in s["segments_s"]:
        print(
            f"  {seg['name']:<50} {seg['kind']:<22} {_f(seg['p50'])} {_f(seg['p95'])} "
            f"{_f(seg['max'])}",
            file=out,
        )
    print(f"\n  {'by kind':<73} {'p50':>6} {'p95':>6} {'max':>6}", file=out)
    for kind, st in s["by_kind_s"].items():
        print(f"  {kind:<73} {_f(st.get('p50'))} {_f(st.get('p95'))} {_f(st.get('max'))}", file=out)
    st = s["airflow_scheduling_and_startup_s"]
    print(
        f"  {'Airflow task start-up cost (scheduling + start-up)':<73} {_f(st.get('p50'))} "
        f"{_f(st.get('p95'))} {_f(st.get('max'))}",
        file=out,
    )
    st = s["airflow_total_own_cost_s"]
    print(
        f"  {'Airflow total own cost (+ task runtime overhead)':<73} {_f(st.get('p50'))} "
        f"{_f(st.get('p95'))} {_f(st.get('max'))}",
        file=out,
    )
    print(
        f"\n  {'per DAG':<30} {'trigger -> run created':>24} {'scheduling + start-up':>24} "
        f"{'execution (step work)':>24}",
        file=out,
    )
    for dag, parts in s["per_dag_s"].items():
        cells = [
            f"{_f(parts[p].get('p50'), 5)} / {_f(parts[p].get('p95'), 5)}"
            for p in ("trigger -> run created", "scheduling + start-up", "execution")
        ]
        work = parts["of which step work"].get("p50")
        print(
            f"  {dag + ' (p50 / p95)':<30} {cells[0]:>24} {cells[1]:>24} {cells[2]:>17} ({_f(work, 4)})",
            file=out,
        )
    bb = s["baseline"].get("breakdown_s") or {}
    if bb:
        print(
            "\n  baseline, p50: "
            + ", ".join(f"{k} {_f(v.get('p50'), 4).strip()}" for k, v in bb.items()),
            file=out,
        )
    if s["breakdown_problems"]:
        print("  not traced: " + "; ".join(s["breakdown_problems"]), file=out)
    print(
        "\nAirflow settings: "
        + ", ".join(f"AIRFLOW__{k}={v}" for k, v in result["airflow_settings"].items()),
        file=out,
    )


# ---- main ----------------------------------------------------------------------------


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM (e.g. `kill`) takes the same clean-up path as Ctrl-C
    signal.signal(signal.SIGTERM, _interrupt)
    workdir = Path(tempfile.mkdtemp(prefix="ft-bench-e2e-"))
    stack = Stack(workdir, airflow_overrides=overrides(args.airflow_setting), keep=args.keep)
    rng = random.Random(args.seed)
    tag = stack.tag.upper()
    result: dict[str, Any] = {
        "command": " ".join(sys.argv),
        "airflow_settings": stack.airflow_settings(),
        "workdir": str(workdir),
    }
    log(f"work folder {workdir}")
    try:
        stack.start_databases()
        stack.start_broker()
        stack.start_ingest()
        stack.start_airflow()
        ready = stack.wait_airflow_ready()
        log(f"Airflow healthy, DAGs parsed, watcher running after {ready:.1f} s")
        result["airflow_ready_s"] = round(ready, 1)

        sim = simulate_day(args.seed, args.day or default_day(), scale=args.scale)
        wait_ingest_subscribed(stack, sim)
        result["base_day"] = load_base_day(stack, sim)

        n_lots = args.warmup + args.incidents + args.baseline
        with psycopg.connect(stack.database_url, autocommit=True) as ft:
            lots = pick_lots(ft, n_lots, args.seed)

        with contextlib.ExitStack() as running:
            listener = running.enter_context(AlertListener(stack.mqtt("emergency-office")))
            clock = running.enter_context(NotifyClock(stack.database_url))
            # each lab stays connected, as a rapid-test station would
            publishers = {
                lab: running.enter_context(Publisher(stack.mqtt(lab))) for lab in LAB_USERS
            }
            measured = lots[: args.warmup + args.incidents]
            warmups, incidents = measure_airflow(
                stack, listener, clock, publishers, measured, args, tag, rng
            )
            baseline = []
            if args.baseline:
                baseline = measure_baseline(
                    stack,
                    listener,
                    publishers,
                    lots[len(measured) :],
                    len(measured),
                    args,
                    tag,
                    rng,
                    result,
                )
        result["warmup"] = warmups
        result["incidents"] = incidents
        result["baseline"] = baseline
        result["summary"] = summarize(incidents, baseline)
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
    return 0 if not result["summary"]["timeouts"] else 1


if __name__ == "__main__":
    sys.exit(main())
