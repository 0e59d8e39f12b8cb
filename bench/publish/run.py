"""Publisher throughput at QoS 1 (every PUBACK awaited), against a naive baseline.

Publishes the chain events of a simulated day to a private Mosquitto running the
project's configuration, as `foodtrace-simulator`:

  naive     paho, publish then `wait_for_publish()` per message (a typical script);
  pipeline  foodtrace.ingest.publish.Publisher, one event per MQTT message;
  batch     the same with --batch events per MQTT message (JSON arrays).

Figures are contract messages per second from the first publish until the last
PUBACK, best of --rounds interleaved rounds; ratios are against the naive baseline
measured in the same run.

    .venv/bin/python bench/publish/run.py --scale 4 --batch 20
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

from foodtrace.ingest.mqtt_client import connect_and_wait, make_client
from foodtrace.ingest.publish import Publisher, plan

from foodtrace.config import parse_mqtt_url
from foodtrace.simulate import simulate_day

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))  # test helpers
from devservices import MosquittoBroker  # tests/devservices.py


def naive(settings, outgoing) -> float:
    client = make_client(settings, f"bench-naive-{uuid.uuid4().hex[:6]}")
    connect_and_wait(client, settings)
    started = time.monotonic()
    for msg in outgoing:
        client.publish(msg.topic, msg.payload, qos=1).wait_for_publish(10)
    elapsed = time.monotonic() - started
    client.disconnect()
    client.loop_stop()
    return elapsed


def pipelined(settings, outgoing) -> float:
    with Publisher(settings) as pub:
        stats = pub.publish(outgoing)
    return stats.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=4.0, help="simulated day size")
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument(
        "--naive-limit", type=int, default=5000, help="messages for the (slow) naive baseline"
    )
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    sim = simulate_day(1, date(2026, 11, 27), scale=args.scale)
    events = [("chain_event", e) for e in sim.chain_events]
    single = list(plan(events, 1))
    batched = list(plan(events, args.batch))
    n = len(events)
    with tempfile.TemporaryDirectory() as tmp:
        users = {"foodtrace-simulator": uuid.uuid4().hex, "foodtrace-ingest": uuid.uuid4().hex}
        broker = MosquittoBroker(Path(tmp), users).start()
        # A subscriber, as ingest would be: without one the broker answers PUBACK 0x10
        # (dropped), which the publisher rightly does not count as published.
        sub = subprocess.Popen(
            ["mosquitto_sub", "-p", str(broker.port), "-u", "foodtrace-ingest",
             "-P", users["foodtrace-ingest"], "-q", "1", "-t", "foodtrace/v1/chain/+/events"],
            stdout=subprocess.DEVNULL)
        time.sleep(0.5)
        try:
            settings = parse_mqtt_url(broker.url("foodtrace-simulator"))
            base_n = min(n, args.naive_limit)
            base = pipe = batch = 0.0
            for _ in range(args.rounds):  # interleaved; best of each (the machine is shared)
                base = max(base, base_n / naive(settings, single[:base_n]))
                pipe = max(pipe, n / pipelined(settings, single))
                batch = max(batch, n / pipelined(settings, batched))
        finally:
            sub.terminate()
            sub.wait(10)
            broker.stop()
    print(f"{n} chain events (scale {args.scale:g}), QoS 1, every PUBACK awaited")
    print(f"  naive (wait per message, {base_n} msgs): {base:9.0f} msg/s   1.00x")
    print(f"  pipelined, 1 per MQTT message:          {pipe:9.0f} msg/s  {pipe / base:5.2f}x")
    print(
        f"  pipelined, {args.batch} per MQTT message:         {batch:9.0f} msg/s  "
        f"{batch / base:5.2f}x  ({len(batched)} MQTT messages)"
    )


if __name__ == "__main__":
    main()
