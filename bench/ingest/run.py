"""Ingest throughput: publish -> committed rows at QoS 1, against two baselines.

All three consume the same N messages from the same Mosquitto (project config)
and, for (b) and (c), write to the same PostgreSQL:

  (a) broker ceiling: the publisher -> `mosquitto_sub` (C client, QoS 1), no database;
  (b) naive consumer: paho subscriber that INSERTs and commits each message;
  (c) foodtrace ingest: `foodtrace ingest` (batched COPY, ack after commit).

Each figure is messages/s from the first publish until the last message is
received (a) or committed (b, c). Also the consumer's peak RSS under load.

    .venv/bin/python bench/ingest/run.py --messages 50000
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import psutil
import psycopg

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


def publish_all(broker: MosquittoBroker, payloads: list[bytes]) -> float:
    """Publish at QoS 1 with a bounded window; return the monotonic start time."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:6]}",
                         protocol=mqtt.MQTTv5)
    client.username_pw_set(LAB, broker.users[LAB])
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    start = time.monotonic()
    infos = [client.publish(TOPIC, p, qos=1) for p in payloads]
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


def run_foodtrace(broker: MosquittoBroker, payloads: list[bytes], workers: int) -> tuple[float, int]:
    name, url = fresh_database()
    try:
        env = {**os.environ, "FOODTRACE_DATABASE_URL": url,
               "FOODTRACE_MQTT_URL": broker.url("foodtrace-ingest")}
        procs = [subprocess.Popen([sys.executable, "-m", "foodtrace.cli.main", "ingest",
                                   "--worker-id", f"bench-{w}"], env=env,
                                  stdout=subprocess.DEVNULL) for w in range(workers)]
        time.sleep(3.0)  # connected and subscribed
        meters = [PeakRss(p.pid) for p in procs]
        start = publish_all(broker, payloads)
        end = wait_rows(url, len(payloads), 900)
        peak = max(m.stop() for m in meters)
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
        assert count_rows(url) == len(payloads), "rows doubled or lost"
        return len(payloads) / (end - start), peak
    finally:
        drop_database(name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=50_000)
    ap.add_argument("--naive-messages", type=int, default=None,
                    help="messages for the naive baseline (default: same; it is slow)")
    ap.add_argument("--workers", type=int, default=1, help="foodtrace ingest workers")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    now = datetime.now(UTC)
    payloads = [lab_result(i, now) for i in range(args.messages)]
    naive_payloads = payloads[: args.naive_messages] if args.naive_messages else payloads
    avg_bytes = sum(map(len, payloads)) / len(payloads)

    with tempfile.TemporaryDirectory() as tmp:
        broker = MosquittoBroker(Path(tmp) / "mq", {u: uuid.uuid4().hex for u in USERS}).start()
        try:
            print(f"{args.messages} lab results of {avg_bytes:.0f} bytes, QoS 1, "
                  f"{os.cpu_count()} cores", file=sys.stderr)
            ceiling = run_ceiling(broker, payloads)
            print(f"(a) broker ceiling, publisher -> mosquitto_sub: {ceiling:,.0f} msg/s", file=sys.stderr)
            naive, naive_rss = run_naive(broker, naive_payloads)
            print(f"(b) naive INSERT+commit per message:          {naive:,.0f} msg/s", file=sys.stderr)
            ours, ours_rss = run_foodtrace(broker, payloads, args.workers)
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
