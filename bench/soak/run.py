"""Soak at the regional peak: two ingest workers and the Airflow pipeline for N minutes.

The real deployment on one machine (bench/e2e/stack.py: throwaway databases, the
project's Mosquitto, Airflow 3 with LocalExecutor running the packaged DAGs) with two
`foodtrace ingest` workers on the shared subscription. After a base day is promoted
and linked, chain events (as the simulator's account, 5 per MQTT message) and routine
rapid-test results (as three labs, one per message) are published at the regional
peak rate (peak.py) for `--minutes`, and a positive rapid test for a linked lot is
injected every `--incident-every` seconds. Every `--sample` seconds it records:
landed messages/s, ingest lag (landing `received_at` minus our publish time) p50/p95,
each worker's RSS, database and schema sizes, the pipeline's backlog and the load
average. Writes soak.json and soak.png to `--out`.

    make soak                                   # 10 minutes at the peak
    .venv/bin/python bench/soak/run.py --smoke  # about 4 minutes, 1 of them soaking
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import itertools
import json
import os
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import psycopg
import psycopg.sql

HERE = Path(__file__).resolve().parent
E2E = HERE.parent / "e2e"
sys.path.append(str(E2E))  # stack.py, incidents.py, breakdown.py by their bare names
from foodtrace.ingest.publish import Publisher, plan  # noqa: E402
from incidents import AlertListener, pick_lots, positive_rapid_test  # noqa: E402  (bench/e2e)
from latency import SEGMENTS, latency_figures  # noqa: E402
from peak import regional_peak  # noqa: E402
from series import bytes_per_million, percentile, slope  # noqa: E402
from stack import LAB_USERS, Stack, log  # noqa: E402

from foodtrace.simulate import default_day, simulate_day  # noqa: E402


def _load_e2e_run() -> Any:
    """bench/e2e/run.py under another name (this file is run.py too)."""
    spec = importlib.util.spec_from_file_location("e2e_run", E2E / "run.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


e2e = _load_e2e_run()  # wait_ingest_subscribed, load_base_day, wait_idle

SIZE_SQL = """
SELECT pg_database_size(current_database()),
       coalesce(sum(pg_total_relation_size(c.oid)) FILTER (WHERE n.nspname = 'landing'), 0)::bigint,
       coalesce(sum(pg_total_relation_size(c.oid)) FILTER (WHERE n.nspname = 'core'), 0)::bigint
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm')
"""
BACKLOG_SQL = """
SELECT (SELECT count(*) FROM landing.validation_queue),
       (SELECT count(*) FROM core.link_queue),
       (SELECT count(*) FROM core.events)
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    peak = regional_peak()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0, help="soak length (default 10)")
    p.add_argument("--smoke", action="store_true", help="a 1-minute smoke check")
    p.add_argument("--chain-rate", type=float, default=peak["chain_events_per_s"],
                   help="chain events/s (default: the regional peak, peak.py)")
    p.add_argument("--lab-rate", type=float, default=peak["lab_results_per_s"],
                   help="routine lab results/s (default: the regional peak)")
    p.add_argument("--incident-every", type=float, default=30.0, help="seconds between incidents")
    p.add_argument("--incident-timeout", type=float, default=120.0)
    p.add_argument("--sample", type=float, default=5.0, help="seconds between samples")
    p.add_argument("--scale", type=float, default=1.0, help="simulated network size")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", type=Path, default=HERE / "out", help="soak.json and soak.png here")
    p.add_argument("--keep", action="store_true", help="keep databases and work dir")
    p.add_argument("--plot-only", type=Path, metavar="SOAK_JSON",
                   help="redraw soak.png next to an earlier run's soak.json, run nothing")
    args = p.parse_args(argv)
    if args.smoke:
        args.minutes, args.incident_every = 1.0, 15.0
    return args


# ---- load ---------------------------------------------------------------------------


class PacedStream:
    """Publishes (sender, kind, payload) items at `rate` payloads/s, `batch` per MQTT
    message, one connected Publisher per sender; keeps each message_id's publish time."""

    def __init__(self, name: str, stack: Stack, items: Iterator[tuple[str, str, dict]],
                 rate: float, batch: int) -> None:
        self.name, self.stack, self.items = name, stack, items
        self.rate, self.batch = rate, batch
        self.sent_at: dict[str, float] = {}
        self.published = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def _loop(self) -> None:
        try:
            with contextlib.ExitStack() as pubs:
                publishers: dict[str, Publisher] = {}
                next_at = time.monotonic()
                while not self._stop.is_set():
                    chunk = list(itertools.islice(self.items, self.batch))
                    by_sender: dict[str, list[tuple[str, dict]]] = {}
                    for sender, kind, payload in chunk:
                        by_sender.setdefault(sender, []).append((kind, payload))
                    for sender, records in by_sender.items():
                        if sender not in publishers:
                            publishers[sender] = pubs.enter_context(
                                Publisher(self.stack.mqtt(sender))
                            )
                        now = time.time()
                        for _, payload in records:
                            self.sent_at[payload["message_id"]] = now
                        publishers[sender].publish(list(plan(records, batch=len(records))))
                        self.published += len(records)
                    next_at += len(chunk) / self.rate
                    self._stop.wait(max(0.0, next_at - time.monotonic()))
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def start(self) -> PacedStream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        if self.error is not None:
            raise RuntimeError(f"the {self.name} publisher failed") from self.error


def chain_events(seed: int, base_day: Any, scale: float) -> Iterator[tuple[str, str, dict]]:
    """Simulated days before the base day, one after another (new lots and ids)."""
    from datetime import timedelta

    for k in itertools.count(1):
        for event in simulate_day(seed, base_day - timedelta(days=k), scale=scale).chain_events:
            yield "foodtrace-simulator", "chain_event", event


def routine_lab_results(base_sim: Any) -> Iterator[tuple[str, str, dict]]:
    """The base day's routine results of the three labs with broker accounts, again and
    again with new message and sample ids: stations testing lots that are linked."""
    own = [r for r in base_sim.lab_results if r["lab_id"] in LAB_USERS]
    if not own:
        raise RuntimeError("the base day has no lab results of " + ", ".join(LAB_USERS))
    for n in itertools.count():
        r = own[n % len(own)]
        yield r["lab_id"], "lab_result", {
            **r, "message_id": str(uuid.uuid4()), "sample_id": f"{r['sample_id']}-SOAK{n:07d}"
        }


class Incidents:
    """A positive rapid test for a fresh linked lot every `every` seconds, each timed
    (as bench/e2e times them) to its alert at the emergency office, in its own thread."""

    def __init__(self, stack: Stack, listener: AlertListener, publishers: dict[str, Publisher],
                 lots: list[tuple[str, str]], every: float, timeout: float) -> None:
        self.stack, self.listener, self.publishers = stack, listener, publishers
        self.lots, self.every, self.timeout = lots, every, timeout
        self.results: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()  # one publish at a time per Publisher
        self._clock = threading.Thread(target=self._loop, name="incidents", daemon=True)

    def _one(self, lot: tuple[str, str], no: int) -> None:
        lot_code, location_id = lot
        lab_id = LAB_USERS[no % len(LAB_USERS)]
        msg = positive_rapid_test(lot_code, location_id, lab_id, no, f"SOAK{self.stack.tag.upper()}")
        with self._lock:  # a Publisher is not shared between threads at once
            t0 = time.time()
            self.publishers[lab_id].publish(list(plan([("lab_result", msg)])))
        arrival = self.listener.wait_for(lot_code, self.timeout)
        latency = None if arrival is None else arrival - t0
        self.results.append({"no": no, "lot_code": lot_code, "lab_id": lab_id,
                             "message_id": msg["message_id"], "t0": t0, "latency_s": latency})
        log(f"incident {no}: {lot_code}: "
            + ("TIMEOUT" if latency is None else f"alert in {latency:.2f} s"))

    def _loop(self) -> None:
        for no, lot in enumerate(self.lots):
            if self._stop.wait(self.every if no else 5.0):
                return
            t = threading.Thread(target=self._one, args=(lot, no), daemon=True)
            t.start()
            self._threads.append(t)

    def start(self) -> Incidents:
        self._clock.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._clock.join(5)
        for t in self._threads:
            t.join(self.timeout + 5)


# ---- sampling -----------------------------------------------------------------------


def tree_rss(pid: int) -> int:
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
    return 0


class Sampler:
    """Every `every` seconds, one row of figures (see the module docstring)."""

    def __init__(self, stack: Stack, workers: list[Any], streams: list[PacedStream],
                 every: float) -> None:
        self.stack, self.workers, self.streams, self.every = stack, workers, streams, every
        self.rows: list[dict[str, Any]] = []
        self.lags: list[float] = []
        self.error: BaseException | None = None
        self._seq = {"chain_events": 0, "lab_results": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sampler", daemon=True)
        self.t0 = time.time()

    def _landed_since(self, conn: psycopg.Connection, table: str) -> list[tuple[str, float]]:
        from psycopg import sql

        rows = conn.execute(
            sql.SQL(
                "SELECT message_id::text, extract(epoch FROM received_at)::float8, ingest_seq "
                "FROM landing.{} WHERE ingest_seq > %s ORDER BY ingest_seq"
            ).format(sql.Identifier(table)),
            (self._seq[table],),
        ).fetchall()
        if rows:
            self._seq[table] = rows[-1][2]
        return [(m, r) for m, r, _ in rows]

    def sample(self, conn: psycopg.Connection) -> dict[str, Any]:
        now = time.time()
        landed = self._landed_since(conn, "chain_events") + self._landed_since(conn, "lab_results")
        lags = []
        for message_id, received in landed:  # dict.get: the publishers add meanwhile
            sent = next((t for s in self.streams if (t := s.sent_at.get(message_id)) is not None), None)
            if sent is not None:
                lags.append(received - sent)
        self.lags.extend(lags)
        db, landing, core = conn.execute(SIZE_SQL).fetchone()
        vq, lq, events = conn.execute(BACKLOG_SQL).fetchone()
        stats_lag = conn.execute(
            "SELECT max(lag_max_s) FROM ops.ingest_stats WHERE ts > now() - %s * interval '1 second'",
            (self.every,),
        ).fetchone()[0]
        row = {
            "t": round(now - self.t0, 2),
            "published": sum(s.published for s in self.streams),
            "landed": len(landed),
            "lag_p50_s": percentile(lags, 50),
            "lag_p95_s": percentile(lags, 95),
            "ingest_stats_lag_max_s": stats_lag,
            "rss_mib": [round(tree_rss(w.popen.pid) / 2**20, 2) for w in self.workers],
            "db_bytes": db, "landing_bytes": landing, "core_bytes": core,
            "validation_queue": vq, "link_queue": lq, "core_events": events,
            "loadavg_1m": os.getloadavg()[0],
        }
        self.rows.append(row)
        return row

    def _loop(self) -> None:
        try:
            with psycopg.connect(self.stack.database_url, autocommit=True) as conn:
                next_at = time.monotonic()
                while not self._stop.is_set():
                    self.stack.check_alive()
                    row = self.sample(conn)
                    if len(self.rows) % 6 == 1:
                        log(f"t={row['t']:.0f}s landed {row['landed'] / self.every:.0f}/s "
                            f"lag p95 {row['lag_p95_s'] or 0:.2f}s rss {row['rss_mib']} "
                            f"backlog {row['validation_queue']}+{row['link_queue']} "
                            f"load {row['loadavg_1m']:.2f}")
                    next_at += self.every
                    self._stop.wait(max(0.0, next_at - time.monotonic()))
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def start(self) -> Sampler:
        """From now: what landed before (the base day) is not counted."""
        with psycopg.connect(self.stack.database_url, autocommit=True) as conn:
            for table in self._seq:
                self._seq[table] = conn.execute(
                    psycopg.sql.SQL("SELECT coalesce(max(ingest_seq), 0) FROM landing.{}").format(
                        psycopg.sql.Identifier(table))
                ).fetchone()[0]
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        if self.error is not None:
            raise RuntimeError("the sampler failed") from self.error


# ---- figures ------------------------------------------------------------------------


def rss_figures(rows: list[dict[str, Any]], workers: int) -> list[dict[str, Any]]:
    """Per worker: RSS at start/end/max and the slope (MiB/min) over the whole soak
    and over its second half (after the first minutes' warm-up)."""
    out = []
    for w in range(workers):
        ts = [r["t"] / 60 for r in rows]
        ys = [r["rss_mib"][w] for r in rows]
        half = len(rows) // 2
        out.append({
            "worker": w,
            "start_mib": ys[0] if ys else None,
            "end_mib": ys[-1] if ys else None,
            "max_mib": max(ys, default=None),
            "slope_mib_per_min": _round(slope(ts, ys), 3),
            "slope_second_half_mib_per_min": _round(slope(ts[half:], ys[half:]), 3),
        })
    return out


def _round(v: float | None, nd: int = 2) -> float | None:
    return None if v is None else round(v, nd)


def summarize(result: dict[str, Any], sampler: Sampler, streams: list[PacedStream],
              incidents: Incidents, soak_s: float, size0: tuple[int, int, int],
              size1: tuple[int, int, int], landed_total: int, workers: int) -> dict[str, Any]:
    rows = sampler.rows
    rates = [r["landed"] / sampler.every for r in rows if sampler.every <= r["t"] <= soak_s]  # not the drain
    latencies = [i["latency_s"] for i in incidents.results if i["latency_s"] is not None]
    return {
        "soak_seconds": round(soak_s, 1),
        "published": {s.name: s.published for s in streams},
        "published_per_s": round(sum(s.published for s in streams) / soak_s, 1),
        "landed_during_soak": landed_total,
        "landed_per_s": {"mean": _round(sum(rates) / len(rates) if rates else None, 1),
                         "min": _round(min(rates, default=None), 1),
                         "max": _round(max(rates, default=None), 1)},
        "ingest_lag_s": {"p50": _round(percentile(sampler.lags, 50), 3),
                         "p95": _round(percentile(sampler.lags, 95), 3),
                         "p99": _round(percentile(sampler.lags, 99), 3),
                         "max": _round(max(sampler.lags, default=None), 3),
                         "n": len(sampler.lags)},
        "rss": rss_figures(rows, workers),
        "alerts": {"injected": len(incidents.results), "alerted": len(latencies),
                   "timeouts": len(incidents.results) - len(latencies),
                   "p50_s": _round(percentile(latencies, 50)),
                   "p95_s": _round(percentile(latencies, 95)),
                   "max_s": _round(max(latencies, default=None)),
                   "segments_s": result.get("alert_path", {}).get("segments")},
        "db_growth": {
            "database_bytes_before": size0[0], "database_bytes_after": size1[0],
            "database_mib_per_million": _round(
                (bytes_per_million(size0[0], size1[0], landed_total) or 0) / 2**20, 1),
            "landing_mib_per_million": _round(
                (bytes_per_million(size0[1], size1[1], landed_total) or 0) / 2**20, 1),
            "core_mib_per_million": _round(
                (bytes_per_million(size0[2], size1[2], landed_total) or 0) / 2**20, 1),
        },
        "backlog_max": max((r["validation_queue"] + r["link_queue"] for r in rows), default=None),
        "backlog_end": (rows[-1]["validation_queue"] + rows[-1]["link_queue"]) if rows else None,
        "loadavg_1m": {"mean": _round(sum(r["loadavg_1m"] for r in rows) / max(1, len(rows))),
                       "max": _round(max((r["loadavg_1m"] for r in rows), default=None))},
    }


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # a CJK font for the Chinese titles where one is installed (fonts-wqy-microhei)
    plt.rcParams["font.sans-serif"] = ["WenQuanYi Micro Hei", "Noto Sans CJK SC", "DejaVu Sans"]

    rows, every = result["samples"], result["sample_s"]
    t = [r["t"] / 60 for r in rows]
    fig, ax = plt.subplots(3, 2, figsize=(11, 9), sharex=True)
    target = result["target"]["chain_events_per_s"] + result["target"]["lab_results_per_s"]
    ax[0][0].plot(t, [r["landed"] / every for r in rows], label="landed msg/s")
    ax[0][0].axhline(target, color="grey", ls="--", label=f"target {target:.0f}/s")
    ax[0][0].set_title("Throughput 吞吐 (messages/s)")
    ax[0][1].plot(t, [r["lag_p50_s"] for r in rows], label="p50")
    ax[0][1].plot(t, [r["lag_p95_s"] for r in rows], label="p95")
    ax[0][1].set_title("Ingest lag 入库延迟 (s)")
    for w in range(len(rows[0]["rss_mib"]) if rows else 0):
        ax[1][0].plot(t, [r["rss_mib"][w] for r in rows], label=f"worker {w}")
    ax[1][0].set_title("Consumer RSS 内存 (MiB)")
    inc = [i for i in result["incidents"] if i["latency_s"] is not None]
    at = [(i["t0"] - result["soak_started"]) / 60 for i in inc]
    ax[1][1].plot(at, [i["latency_s"] for i in inc], "o", color="black", label="alert latency")
    bottom = [0.0] * len(inc)
    for name, _, _ in SEGMENTS:  # where each incident's latency went (latency.py)
        part = [max(0.0, i.get("path", {}).get("segments", {}).get(name, 0.0)) for i in inc]
        ax[1][1].bar(at, part, width=0.25, bottom=bottom, label=name)
        bottom = [b + p for b, p in zip(bottom, part, strict=True)]
    ax[1][1].set_title("Alert latency 告警延迟 (s), injected incidents")
    ax[2][0].plot(t, [r["db_bytes"] / 2**20 for r in rows], label="database")
    ax[2][0].plot(t, [r["core_bytes"] / 2**20 for r in rows], label="core")
    ax[2][0].plot(t, [r["landing_bytes"] / 2**20 for r in rows], label="landing")
    ax[2][0].set_title("Database size 数据库大小 (MiB)")
    ax[2][1].plot(t, [r["loadavg_1m"] for r in rows], label="load avg 1m")
    ax[2][1].plot(t, [(r["validation_queue"] + r["link_queue"]) / 1000 for r in rows],
                  label="backlog (k msgs)")
    ax[2][1].set_title("Machine load 负载 / pipeline backlog")
    for a in ax.flat:
        a.legend(fontsize=7)
        a.grid(alpha=0.3)
    for a in ax[2]:
        a.set_xlabel("minutes into the soak")
    s = result["summary"]
    fig.suptitle(f"foodtrace soak: {s['soak_seconds'] / 60:.0f} min, 2 ingest workers, Airflow "
                 f"pipeline; {os.cpu_count()} cores, load avg {s['loadavg_1m']['mean']}")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


# ---- the run ------------------------------------------------------------------------


def db_sizes(stack: Stack) -> tuple[int, int, int]:
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        return tuple(conn.execute(SIZE_SQL).fetchone())  # type: ignore[return-value]


def landed_count(stack: Stack) -> int:
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        return conn.execute(
            "SELECT (SELECT count(*) FROM landing.chain_events)"
            " + (SELECT count(*) FROM landing.lab_results)"
        ).fetchone()[0]


def pipeline_runs(stack: Stack, since: float) -> dict[str, Any]:
    """DAG runs and landing-watcher events since the soak began: whether the batch
    path was started by its watcher or only by the 5-minute sweep."""
    with psycopg.connect(stack.airflow_database_url, autocommit=True) as af:
        runs = dict(af.execute(
            "SELECT dag_id, count(*) FROM dag_run WHERE start_date >= to_timestamp(%s) GROUP BY 1",
            (since,),
        ).fetchall())
        watcher = af.execute(
            "SELECT count(*) FROM asset_event WHERE extra->>'from_trigger' = 'true' "
            "AND timestamp >= to_timestamp(%s)",
            (since,),
        ).fetchone()[0]
    return {"dag_runs": runs, "landing_watcher_events": watcher}


def start_workers(stack: Stack, n: int) -> list[Any]:
    """n `foodtrace ingest` workers as stack.start_ingest starts one, own ids each."""
    assert stack.broker is not None
    env = {**stack.base_env(), "FOODTRACE_MQTT_URL": stack.broker.url("foodtrace-ingest")}
    return [
        stack._spawn(  # the stack's own spawner: its logs, process group and close()
            f"ingest-{w}",
            [str(Path(sys.executable).parent / "foodtrace"), "ingest",
             "--worker-id", f"soak-{stack.tag}-{w}", "--log-level", "WARNING"],
            env,
        )
        for w in range(n)
    ]


def soak(stack: Stack, args: argparse.Namespace, result: dict[str, Any]) -> None:
    stack.start_databases()
    stack.start_broker()
    workers = start_workers(stack, 2)
    stack.start_airflow()
    log(f"Airflow ready after {stack.wait_airflow_ready():.1f} s")
    day = default_day()
    base = simulate_day(args.seed, day, scale=args.scale)
    e2e.wait_ingest_subscribed(stack, base)
    result["base_day"] = e2e.load_base_day(stack, base)
    n_incidents = int(args.minutes * 60 // args.incident_every) + 1
    with psycopg.connect(stack.database_url, autocommit=True) as ft:
        lots = pick_lots(ft, n_incidents, args.seed)

    with contextlib.ExitStack() as running:
        listener = running.enter_context(AlertListener(stack.mqtt("emergency-office")))
        publishers = {lab: running.enter_context(Publisher(stack.mqtt(lab))) for lab in LAB_USERS}
        streams = [
            PacedStream("chain_events", stack, chain_events(args.seed, day, args.scale),
                        args.chain_rate, batch=5),
            PacedStream("lab_results", stack, routine_lab_results(base), args.lab_rate, batch=1),
        ]
        sampler = Sampler(stack, workers, streams, args.sample)
        size0, landed0 = db_sizes(stack), landed_count(stack)
        incidents = Incidents(stack, listener, publishers, lots, args.incident_every,
                              args.incident_timeout)
        started = time.time()
        result["soak_started"] = started
        sampler.t0 = started
        for s in streams:
            s.start()
        sampler.start()
        incidents.start()
        log(f"soaking {args.minutes:g} min at {args.chain_rate:g} chain events/s + "
            f"{args.lab_rate:g} lab results/s, an incident every {args.incident_every:g} s")
        try:
            deadline = started + args.minutes * 60
            while time.time() < deadline:
                stack.check_alive()
                if sampler.error or any(s.error for s in streams):
                    break
                time.sleep(1.0)
        finally:
            for s in streams:
                s.stop()
            soak_s = time.time() - started
            incidents.stop()
            published = sum(s.published for s in streams)
            drain_started = time.monotonic()
            while landed_count(stack) - landed0 < published and time.monotonic() - drain_started < 120:
                time.sleep(0.5)
            result["ingest_drain_s"] = round(time.monotonic() - drain_started, 1)
            idle = e2e.wait_idle(stack, timeout=300.0, settle_s=2.0)
            result["pipeline_drain_s"] = round(time.monotonic() - drain_started, 1)
            result["pipeline_drained"] = idle
            sampler.stop()
            with psycopg.connect(stack.database_url, autocommit=True) as conn:
                sampler.sample(conn)  # the drained end state
        landed_total = landed_count(stack) - landed0
        result["lost"] = published - (landed_total - len(incidents.results))
        result["samples"] = sampler.rows
        result["incidents"] = incidents.results
        result["pipeline_runs"] = pipeline_runs(stack, started)
        with psycopg.connect(stack.database_url, autocommit=True) as ft:
            result["alert_path"] = latency_figures(ft, incidents.results, started)
        result["summary"] = summarize(result, sampler, streams, incidents, soak_s, size0,
                                      db_sizes(stack), landed_total, len(workers))


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.plot_only:
        plot(json.loads(args.plot_only.read_text()), args.plot_only.with_name("soak.png"))
        return 0
    signal.signal(signal.SIGTERM, _interrupt)
    args.out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "target": regional_peak(),
        "rates": {"chain_events_per_s": args.chain_rate, "lab_results_per_s": args.lab_rate},
        "minutes": args.minutes, "sample_s": args.sample, "cores": os.cpu_count(),
        "loadavg_before": os.getloadavg(), "pipeline": "Airflow 3, LocalExecutor (bench/e2e/stack.py)",
    }
    stack = Stack(Path(tempfile.mkdtemp(prefix="ft-soak-")), keep=args.keep)
    code = 0
    try:
        soak(stack, args, result)
    except KeyboardInterrupt:
        log("interrupted")
        code = 130
    finally:
        stack.close()
    result["loadavg_after"] = os.getloadavg()
    (args.out / "soak.json").write_text(json.dumps(result, indent=2, default=str))
    if "summary" in result:
        plot(result, args.out / "soak.png")
        print(json.dumps(result["summary"], indent=2))
        log(f"wrote {args.out / 'soak.json'} and {args.out / 'soak.png'}")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
