"""Ingest throughput: publish -> committed rows at QoS 1, against two baselines.

All three consume the same N messages from the same Mosquitto (project config)
and, for (b) and (c), write to the same PostgreSQL:

  (a) broker ceiling: the publisher -> `mosquitto_sub` (C client, QoS 1), no database;
  (b) naive consumer: paho subscriber that INSERTs and commits each message;
  (c) foodtrace ingest: `foodtrace ingest` (batched COPY, ack after commit).

Each figure is messages/s from the first publish until the last message is
received (a) or committed (b, c). Also the consumer's peak RSS under load.

    .venv/bin/python bench/ingest/run.py --messages 50000
    .venv/bin/python bench/ingest/run.py --messages 50000 --scaling 1,2,4

`--scaling 1,2,4`: instead of (b), (c) once per worker count, one after another on
the same published stream (the same payloads, a fresh database each), the
publisher stamping each message with `sent_at` so the workers record their lag
(commit minus publish) in ops.ingest_stats: messages/s, mean and max lag, the
rows each worker stored, and each count's ratio against 1 worker, measured in
the same run. Counts run in ascending order with the worker ids bench-0..N-1, so
every persistent session of the shared subscription has a live worker (a
session left by an earlier, larger run would hold its share: issue 11).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import psutil
import psycopg
from foodtrace.ingest.publish import SENT_AT_PROPERTY, sent_at_now
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from foodtrace.db import connect, migrate

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))  # test helpers
from devservices import MosquittoBroker  # tests/devservices.py

ADMIN_URL = os.environ.get("FOODTRACE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
LAB = "lab-gz-01"
TOPIC = f"foodtrace/v1/labs/{LAB}/results"
USERS = ["foodtrace-ingest", LAB, "bench-naive"]


def lab_result(i: int, now: datetime) -> bytes:
    """A realistic ~400-byte confirmatory lab result."""
    tested = now - timedelta(minutes=5)
    return json.dumps({
        "schema": "foodtrace/lab-result/v1",
        "message_id": str(uuid.uuid4()),
        "lab_id": LAB,
        "sample_id": f"S-{i:08d}",
        "lot_code": f"LOT-GZ-{i % 5000:06d}",
        "sampled_at": (tested - timedelta(hours=2)).isoformat(timespec="seconds"),
        "sampled_location_id": "market-gz-01",
        "tested_at": tested.isoformat(timespec="seconds"),
        "test_kind": "confirmatory",
        "method": "LC-MS/MS",
        "analyte": "chlorpyrifos",
        "value": round((i % 97) / 1000, 3),
        "unit": "mg/kg",
        "product_code": "choy-sum",
        "operator": "tech-07",
        "instrument": "QQQ-6470",
    }, separators=(",", ":")).encode()


def sent_at_properties() -> Properties:
    """The `sent_at` user property foodtrace's publisher sets (ingest measures lag)."""
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = [(SENT_AT_PROPERTY, sent_at_now())]
    return props


def publish_all(broker: MosquittoBroker, payloads: list[bytes], stamp: bool = False) -> float:
    """Publish at QoS 1 with a bounded window; return the monotonic start time.
    `stamp`: each message carries `sent_at`, as `foodtrace publish` sends it."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:6]}",
                         protocol=mqtt.MQTTv5)
    client.username_pw_set(LAB, broker.users[LAB])
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    start = time.monotonic()
    infos = [
        client.publish(TOPIC, p, qos=1, properties=sent_at_properties() if stamp else None)
        for p in payloads
    ]
    for info in infos:
        info.wait_for_publish(120)
    client.disconnect()
    client.loop_stop()
    return start


def count_rows(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as c:
        return c.execute("SELECT count(*) FROM landing.lab_results").fetchone()[0]


def wait_rows(url: str, n: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as c:
        while time.monotonic() < deadline:
            if c.execute("SELECT count(*) FROM landing.lab_results").fetchone()[0] >= n:
                return time.monotonic()
            time.sleep(0.02)
    raise TimeoutError(f"fewer than {n} rows after {timeout}s")


class PeakRss:
    """Samples a process tree's resident memory every 50 ms."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                rss = self.proc.memory_info().rss
                rss += sum(ch.memory_info().rss for ch in self.proc.children(recursive=True))
                self.peak = max(self.peak, rss)
            except psutil.Error:
                pass
            time.sleep(0.05)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def fresh_database() -> tuple[str, str]:
    name = f"ft_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = psycopg.conninfo.make_conninfo(ADMIN_URL, dbname=name)
    with connect(url) as conn:
        migrate(conn)
    return name, url


def drop_database(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_ceiling(broker: MosquittoBroker, payloads: list[bytes]) -> float:
    sub = subprocess.Popen(
        ["mosquitto_sub", "-p", str(broker.port), "-u", "foodtrace-ingest",
         "-P", broker.users["foodtrace-ingest"], "-q", "1", "-t", "foodtrace/v1/labs/+/results",
         "-C", str(len(payloads)), "-i", "bench-ceiling"],
        stdout=subprocess.DEVNULL)
    time.sleep(0.5)  # subscribed
    start = publish_all(broker, payloads)
    sub.wait(300)
    return len(payloads) / (time.monotonic() - start)


NAIVE = r"""
import json, sys, psycopg, paho.mqtt.client as mqtt
url, port, user, password = sys.argv[1:5]
db = psycopg.connect(url)
def on_message(client, userdata, msg):
    p = json.loads(msg.payload)
    db.execute("INSERT INTO landing.lab_results (message_id, lab_id, topic, payload) "
               "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
               (p["message_id"], p["lab_id"], msg.topic, psycopg.types.json.Jsonb(p)))
    db.commit()
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-naive", protocol=mqtt.MQTTv5)
c.username_pw_set(user, password)
c.on_message = on_message
c.connect("127.0.0.1", int(port))
c.subscribe("foodtrace/v1/labs/+/results", qos=1)
print("ready", flush=True)
c.loop_forever()
"""


def run_naive(broker: MosquittoBroker, payloads: list[bytes]) -> tuple[float, int]:
    name, url = fresh_database()
    try:
        proc = subprocess.Popen([sys.executable, "-c", NAIVE, url, str(broker.port),
                                 "foodtrace-ingest", broker.users["foodtrace-ingest"]],
                                stdout=subprocess.PIPE, text=True)
        proc.stdout.readline()
        time.sleep(0.3)
        rss = PeakRss(proc.pid)
        start = publish_all(broker, payloads)
        end = wait_rows(url, len(payloads), 900)
        peak = rss.stop()
        proc.terminate()
        proc.wait(10)
        return len(payloads) / (end - start), peak
    finally:
        drop_database(name)


@dataclass
class IngestRun:
    workers: int
    msg_s: float
    peak_rss: int
    lag_avg_s: float | None = None  # from ops.ingest_stats: commit minus publish
    lag_max_s: float | None = None
    stored_by_worker: dict[str, int] = field(default_factory=dict)


def ingest_lag(url: str) -> tuple[float | None, float | None, dict[str, int]]:
    """Mean lag (weighted by rows stored), max lag and rows stored per worker, as
    the workers recorded them in ops.ingest_stats."""
    with psycopg.connect(url, autocommit=True) as c:
        avg, mx = c.execute(
            "SELECT sum(lag_avg_s * stored) / nullif(sum(stored), 0), max(lag_max_s) "
            "FROM ops.ingest_stats WHERE lag_avg_s IS NOT NULL"
        ).fetchone()
        per_worker = dict(
            c.execute(
                "SELECT worker_id, sum(stored)::int FROM ops.ingest_stats "
                "GROUP BY worker_id ORDER BY worker_id"
            ).fetchall()
        )
    return avg, mx, per_worker


def run_foodtrace(
    broker: MosquittoBroker, payloads: list[bytes], workers: int, stamp: bool = False
) -> IngestRun:
    name, url = fresh_database()
    try:
        env = {**os.environ, "FOODTRACE_DATABASE_URL": url,
               "FOODTRACE_MQTT_URL": broker.url("foodtrace-ingest")}
        procs = [subprocess.Popen([sys.executable, "-m", "foodtrace.cli.main", "ingest",
                                   "--worker-id", f"bench-{w}"], env=env,
                                  stdout=subprocess.DEVNULL) for w in range(workers)]
        time.sleep(3.0)  # connected and subscribed
        meters = [PeakRss(p.pid) for p in procs]
        start = publish_all(broker, payloads, stamp=stamp)
        end = wait_rows(url, len(payloads), 900)
        peak = max(m.stop() for m in meters)
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)  # SIGTERM flushes the last stats row
        assert count_rows(url) == len(payloads), "rows doubled or lost"
        lag_avg, lag_max, per_worker = ingest_lag(url)
        return IngestRun(workers, len(payloads) / (end - start), peak, lag_avg, lag_max, per_worker)
    finally:
        drop_database(name)


def run_scaling(broker: MosquittoBroker, payloads: list[bytes], counts: list[int]) -> list[IngestRun]:
    runs = []
    for n in sorted(set(counts)):
        run = run_foodtrace(broker, payloads, n, stamp=True)
        lag = "n/a" if run.lag_avg_s is None else f"{run.lag_avg_s:.2f} s (max {run.lag_max_s:.2f} s)"
        print(f"(c) foodtrace ingest, {n} worker(s): {run.msg_s:,.0f} msg/s, lag {lag}, "
              f"stored per worker {run.stored_by_worker}", file=sys.stderr)
        runs.append(run)
    return runs


def scaling_result(ceiling: float, runs: list[IngestRun]) -> list[dict[str, object]]:
    one = next((r for r in runs if r.workers == 1), runs[0])
    return [
        {
            "workers": r.workers,
            "msg_s": round(r.msg_s),
            "ratio_vs_1_worker": round(r.msg_s / one.msg_s, 2),
            "ratio_vs_ceiling": round(r.msg_s / ceiling, 3),
            "lag_avg_s": None if r.lag_avg_s is None else round(r.lag_avg_s, 3),
            "lag_max_s": None if r.lag_max_s is None else round(r.lag_max_s, 3),
            "stored_by_worker": r.stored_by_worker,
            "peak_rss_mib_per_worker": round(r.peak_rss / 2**20, 1),
        }
        for r in runs
    ]


def main_scaling(args: argparse.Namespace, payloads: list[bytes], avg_bytes: float) -> None:
    counts = [int(c) for c in args.scaling.split(",") if c.strip()]
    if 1 not in counts:
        counts.append(1)  # the baseline of the ratios
    with tempfile.TemporaryDirectory() as tmp:
        broker = MosquittoBroker(Path(tmp) / "mq", {u: uuid.uuid4().hex for u in USERS}).start()
        try:
            print(f"{args.messages} lab results of {avg_bytes:.0f} bytes, QoS 1, "
                  f"{os.cpu_count()} cores, worker counts {sorted(set(counts))}", file=sys.stderr)
            ceiling = run_ceiling(broker, payloads)
            print(f"(a) broker ceiling, publisher -> mosquitto_sub: {ceiling:,.0f} msg/s",
                  file=sys.stderr)
            runs = run_scaling(broker, payloads, counts)
        finally:
            broker.stop()
    rows = scaling_result(ceiling, runs)
    result = {"messages": args.messages, "avg_bytes": round(avg_bytes), "cores": os.cpu_count(),
              "ceiling_msg_s": round(ceiling), "scaling": rows}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{'workers':>7}  {'msg/s':>8}  {'vs 1':>5}  {'vs ceiling':>10}  {'lag avg':>8}  "
          f"{'lag max':>8}  stored per worker")
    for r in rows:
        lag_avg = "n/a" if r["lag_avg_s"] is None else f"{r['lag_avg_s']:.2f} s"
        lag_max = "n/a" if r["lag_max_s"] is None else f"{r['lag_max_s']:.2f} s"
        print(f"{r['workers']:>7}  {r['msg_s']:>8,}  {r['ratio_vs_1_worker']:>4.2f}x  "
              f"{r['ratio_vs_ceiling']:>10.0%}  {lag_avg:>8}  {lag_max:>8}  "
              f"{r['stored_by_worker']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=50_000)
    ap.add_argument("--naive-messages", type=int, default=None,
                    help="messages for the naive baseline (default: same; it is slow)")
    ap.add_argument("--workers", type=int, default=1, help="foodtrace ingest workers")
    ap.add_argument("--scaling", metavar="COUNTS",
                    help="comma-separated worker counts, e.g. 1,2,4: throughput and lag "
                         "per count against 1 worker (no naive baseline)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    now = datetime.now(UTC)
    payloads = [lab_result(i, now) for i in range(args.messages)]
    naive_payloads = payloads[: args.naive_messages] if args.naive_messages else payloads
    avg_bytes = sum(map(len, payloads)) / len(payloads)
    if args.scaling:
        main_scaling(args, payloads, avg_bytes)
        return

    with tempfile.TemporaryDirectory() as tmp:
        broker = MosquittoBroker(Path(tmp) / "mq", {u: uuid.uuid4().hex for u in USERS}).start()
        try:
            print(f"{args.messages} lab results of {avg_bytes:.0f} bytes, QoS 1, "
                  f"{os.cpu_count()} cores", file=sys.stderr)
            ceiling = run_ceiling(broker, payloads)
            print(f"(a) broker ceiling, publisher -> mosquitto_sub: {ceiling:,.0f} msg/s", file=sys.stderr)
            naive, naive_rss = run_naive(broker, naive_payloads)
            print(f"(b) naive INSERT+commit per message:          {naive:,.0f} msg/s", file=sys.stderr)
            ours_run = run_foodtrace(broker, payloads, args.workers)
            ours, ours_rss = ours_run.msg_s, ours_run.peak_rss
            print(f"(c) foodtrace ingest ({args.workers} worker):             {ours:,.0f} msg/s",
                  file=sys.stderr)
        finally:
            broker.stop()

    result = {
        "messages": args.messages, "avg_bytes": round(avg_bytes), "workers": args.workers,
        "ceiling_msg_s": round(ceiling), "naive_msg_s": round(naive), "foodtrace_msg_s": round(ours),
        "ratio_vs_ceiling": round(ours / ceiling, 3), "ratio_vs_naive": round(ours / naive, 2),
        "foodtrace_peak_rss_mib": round(ours_rss / 2**20, 1),
        "naive_peak_rss_mib": round(naive_rss / 2**20, 1),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"foodtrace / ceiling = {result['ratio_vs_ceiling']:.0%} (target >= 60%)")
        print(f"foodtrace / naive   = {result['ratio_vs_naive']:.1f}x (target >= 3x)")
        print(f"consumer peak RSS   = {result['foodtrace_peak_rss_mib']} MiB "
              f"(naive: {result['naive_peak_rss_mib']} MiB)")


if __name__ == "__main__":
    main()
