"""Withdrawal drill at the bench/trace graph scale: from the positive result to the
last withdrawal notice, and the notice outbox's throughput against a plain paho loop.

What it does, in a throwaway database (`ft_bench_wd_*`) and a Mosquitto of its own
running the project's configuration (auth and ACLs; tests/devservices.py):

1. Builds and links the lot graph of bench/trace (its generator, through
   bench/alerts' `build`), --lots lots and 10x as many events.
2. Adds the incident to it as promotion writes it: one harvested lot, packed and
   shipped to a wholesale market, which splits it to --businesses distributors,
   markets, retailers and restaurants of the graph (each receives; half of them
   sell some), so one alert reaches that many businesses. Linked.
3. The businesses listen (`foodtrace.simulate.responders_mqtt.Responders`, the
   simulator's login, one subscription per business; they do not answer here).
   The positive lab result is published over MQTT as its lab (t0), an ingest
   worker lands it, and the pipeline steps run as the lab-result lane runs them
   (validate lab results, link, alert: the alert step raises the alert, issues one
   notice per business in the alert's transaction and publishes alerts and
   notices). Measured: t0 -> the alert at the office, t0 -> the last notice at its
   business, and the alert step's own time.
4. The outbox's rate: the same notices marked unsent and delivered again
   (`foodtrace.withdrawals.deliver`, a row marked sent after its PUBACK), --rounds
   times, against, in the same run and on the same broker, a plain paho loop
   publishing the same payloads to the same topics at QoS 1: (a) pipelined (all
   published, then every PUBACK awaited), (b) one PUBACK awaited per message (the
   outbox's pattern, without the database). Medians; the ratios are printed.

    .venv/bin/python bench/withdrawals/run.py                  # 200,000 lots, 1,200 businesses
    .venv/bin/python bench/withdrawals/run.py --lots 20000 --businesses 150   # quick
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import signal
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # test helpers
from devservices import MosquittoBroker  # noqa: E402  tests/devservices.py

from foodtrace.config import parse_mqtt_url  # noqa: E402
from foodtrace.db import connect  # noqa: E402
from foodtrace.mqtt_publish import Acks  # noqa: E402
from foodtrace.mqtt_publish import connect as mqtt_connect  # noqa: E402
from foodtrace.trace.link import link  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_alerts_run", ROOT / "bench/alerts/run.py")
assert _spec and _spec.loader
ba = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = ba  # its dataclasses look their module up
_spec.loader.exec_module(ba)  # bench/alerts: build (bench/trace's graph), Batch, promote, Places
tb = ba.tb
log = tb.log
USERS = ("foodtrace-ingest", "foodtrace-pipeline", "foodtrace-simulator", "lab-bench")
BUSINESS_KINDS = ("distributor", "wholesale_market", "retailer", "restaurant")


def add_incident(conn: psycopg.Connection, businesses: int, rng: random.Random) -> dict:
    """One lot reaching `businesses` businesses (module doc, step 2)."""
    places = ba.Places(conn)
    pool = [p for k in BUSINESS_KINDS for p in places.by_kind.get(k, [])]
    market = places.pick(rng, "wholesale_market")
    pool = [p for p in pool if p != market]
    if len(pool) < businesses:
        raise SystemExit(f"the graph has {len(pool)} businesses besides the market: "
                         "use more --lots")
    dests = rng.sample(pool, businesses)
    farm, pack = places.pick(rng, "farm"), places.pick(rng, "packer")
    b = ba.Batch("INC")
    qty = 20.0 * businesses
    mid = uuid.uuid4()
    lot = b.new_lot("choy_sum", farm, mid, qty)
    whole = [("lot", lot, "choy_sum", qty)]
    b.event("harvesting", farm, whole, tlc=farm, mid=mid)
    b.event("initial_packing", pack, whole)
    b.event("shipping", pack, whole, dest=market)
    b.event("receiving", market, whole, source=pack)
    share = [("lot", lot, "choy_sum", round(qty / businesses, 1))]
    for i, dest in enumerate(dests):
        b.event("shipping", market, share, dest=dest)
        b.event("receiving", dest, share, source=market)
        if i % 2 == 0:
            b.event("sale", dest, [("lot", lot, "choy_sum", 5.0)])
    ba.promote(conn, b)
    stats = link(conn)
    where = conn.execute(
        "SELECT count(DISTINCT location_id) FROM core.lot_locations WHERE lot_code = %s",
        (lot,)).fetchone()[0]
    conn.commit()
    return {"lot_code": lot, "market": market, "events": len(b.events),
            "linked": stats.events, "locations": where, "last_event_at": b.clock}


def lab_result(lot: str, market: str, at: datetime) -> dict[str, Any]:
    return {"schema": "foodtrace/lab-result/v1", "message_id": str(uuid.uuid4()),
            "lab_id": "lab-bench", "sample_id": "S-INCIDENT", "lot_code": lot,
            "sampled_at": (at + timedelta(hours=1)).isoformat(),
            "sampled_location_id": market, "tested_at": (at + timedelta(hours=2)).isoformat(),
            "product_code": "choy_sum", "test_kind": "rapid",
            "method": "GB/T 5009.199 enzyme inhibition", "analyte": "organophosphates_carbamates",
            "value": 72.0, "unit": "%", "result": "positive"}


def drill(url: str, broker: MosquittoBroker, incident: dict, report_dir: Path) -> dict:
    """Step 3: t0 -> alert -> last notice, through MQTT, ingest and the steps."""
    from foodtrace.ingest.publish import Publisher, plan

    from foodtrace.demo import AlertListener
    from foodtrace.pipeline.steps import alert_step, link_step, validate_step
    from foodtrace.simulate.responders import Behaviour
    from foodtrace.simulate.responders_mqtt import Responders, SimClock
    from foodtrace.withdrawals.drill import ingest_worker, landed, wait_landed

    sim = parse_mqtt_url(broker.url("foodtrace-simulator"))
    pipeline = parse_mqtt_url(broker.url("foodtrace-pipeline"))
    with connect(url) as conn:
        actors = [r[0] for r in conn.execute(
            "SELECT DISTINCT e.actor_id FROM core.events e JOIN core.event_lots el "
            "USING (message_id, event_time) WHERE el.lot_code = %s", (incident["lot_code"],))]
        conn.commit()
    silent = {a: Behaviour(a, "silent") for a in actors}
    result = lab_result(incident["lot_code"], incident["market"], incident["last_event_at"])
    with connect(url) as conn, \
            ingest_worker(url, parse_mqtt_url(broker.url("foodtrace-ingest")), "bench-wd"), \
            AlertListener(sim) as office, Responders(sim, silent, SimClock(1.0)) as businesses:
        log(f"{len(actors):,} businesses subscribed to their notice topics")
        before = landed(conn)
        t0 = time.time()
        with Publisher(parse_mqtt_url(broker.url("lab-bench")), client_id="bench-lab") as pub:
            pub.publish(list(plan([("lab_result", result)])))
        wait_landed(conn, 1, before=before, timeout=60)
        t_landed = time.time()
        v = validate_step(url, report_dir=report_dir, mqtt=pipeline, kinds=["lab_result"])
        lk = link_step(url)
        a = alert_step(url, mqtt=pipeline)
        t_step = time.time()
        notices = conn.execute("SELECT count(*) FROM core.withdrawal_notices").fetchone()[0]
        conn.commit()
        deadline = time.monotonic() + 120
        while len(businesses.heard) < notices and time.monotonic() < deadline:
            time.sleep(0.01)
        office.wait(min_messages=1, timeout=10)
        heard = sorted(h.received for h in businesses.heard)
    if len(heard) < notices:
        raise SystemExit(f"only {len(heard)} of {notices} notices reached their business")
    return {"businesses": len(actors), "notices": notices, "alerts": a.alerts,
            "landed_s": round(t_landed - t0, 3), "validate_s": round(v.seconds, 3),
            "link_s": round(lk.seconds, 3), "alert_step_s": a.seconds,
            "t0_to_steps_done_s": round(t_step - t0, 3),
            "t0_to_alert_s": round(min(office.heard_at) - t0, 3) if office.heard_at else None,
            "t0_to_first_notice_s": round(heard[0] - t0, 3),
            "t0_to_last_notice_s": round(heard[-1] - t0, 3)}


def outbox_rate(url: str, broker: MosquittoBroker) -> float:
    """Step 4: the notices delivered again by the outbox; notices per second."""
    from foodtrace.withdrawals import deliver

    settings = parse_mqtt_url(broker.url("foodtrace-pipeline"))
    with connect(url) as conn:
        n = conn.execute("UPDATE core.withdrawal_notices SET sent_at = NULL").rowcount
        conn.commit()
        started = time.perf_counter()
        sent = 0
        while True:
            got = deliver.deliver(conn, settings)
            sent += got
            if got == 0:
                break
        seconds = time.perf_counter() - started
    if sent != n:
        raise SystemExit(f"the outbox delivered {sent} of {n} notices")
    return n / seconds


def payloads(url: str) -> list[tuple[str, bytes]]:
    from foodtrace.ingest.topics import notice_topic

    with connect(url) as conn:
        rows = conn.execute("SELECT actor_id, payload FROM core.withdrawal_notices "
                            "ORDER BY issued_at, notice_id").fetchall()
        conn.commit()
    return [(notice_topic(a), json.dumps(p, ensure_ascii=False).encode()) for a, p in rows]


def paho_rate(broker: MosquittoBroker, messages: list[tuple[str, bytes]], *,
              one_by_one: bool) -> float:
    """Baseline: the same payloads on the same topics at QoS 1, no database."""
    acks = Acks()
    client = mqtt_connect(parse_mqtt_url(broker.url("foodtrace-pipeline")), acks,
                          f"bench-paho-{uuid.uuid4().hex[:6]}")
    try:
        started = time.perf_counter()
        mids = []
        for topic, body in messages:
            info = client.publish(topic, body, qos=1)
            if one_by_one:
                acks.wait([info.mid], 10)
            else:
                mids.append(info.mid)
        if mids and len(acks.wait(mids, 60)) != len(mids):
            raise SystemExit("the broker did not acknowledge every message")
        return len(messages) / (time.perf_counter() - started)
    finally:
        client.disconnect()
        client.loop_stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--lots", type=int, default=200_000)
    ap.add_argument("--events", type=int, default=None, help="graph events (default 10 x --lots)")
    ap.add_argument("--businesses", type=int, default=1200, help="businesses the incident reaches")
    ap.add_argument("--rounds", type=int, default=5, help="outbox and baseline rounds")
    ap.add_argument("--chunk-lots", type=int, default=100_000, help="lots per generation step")
    ap.add_argument("--link-batch", type=int, default=50_000, help="link() batch size")
    ap.add_argument("--seed", type=int, default=204)
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    plan = tb.Plan(args.lots, args.events or 10 * args.lots)
    rng = random.Random(args.seed)
    name = f"ft_bench_wd_{uuid.uuid4().hex[:8]}"
    url = psycopg.conninfo.make_conninfo(tb.ADMIN_URL, dbname=name)
    log(f"plan: {plan.lots:,} lots, ~{plan.expected_events:,} events; an incident reaching "
        f"{args.businesses:,} businesses; database {name}")
    with psycopg.connect(tb.ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            broker = MosquittoBroker(Path(tmp) / "mosquitto",
                                     {u: uuid.uuid4().hex for u in USERS}).start()
            try:
                with connect(url) as conn:
                    ba.build(conn, plan, args)
                    log(f"graph built and linked in {time.perf_counter() - started:.0f} s")
                    incident = add_incident(conn, args.businesses, rng)
                    log(f"incident: {incident['lot_code']} at {incident['locations']:,} places "
                        f"({incident['events']:,} events)")
                d = drill(url, broker, incident, Path(tmp) / "reports")
                log(f"drill: {d}")
                messages = payloads(url)
                outbox, piped, serial = [], [], []
                for _ in range(args.rounds):  # interleaved, so drift hits all three alike
                    outbox.append(outbox_rate(url, broker))
                    piped.append(paho_rate(broker, messages, one_by_one=False))
                    serial.append(paho_rate(broker, messages, one_by_one=True))
            finally:
                broker.stop()
        with connect(url) as conn:
            size = conn.execute("SELECT (SELECT count(*) FROM core.lots), "
                                "(SELECT count(*) FROM core.events)").fetchone()
        rates = {"outbox": statistics.median(outbox), "paho_pipelined": statistics.median(piped),
                 "paho_one_by_one": statistics.median(serial)}
        print()
        print(f"Graph: {size[0]:,} lots, {size[1]:,} events; incident lot "
              f"{incident['lot_code']} at {incident['locations']:,} places")
        print(f"businesses notified:            {d['notices']:,} notices to "
              f"{d['businesses']:,} businesses")
        print(f"positive result -> alert:       {d['t0_to_alert_s']:.3f} s  (landed "
              f"{d['landed_s']:.3f} s, validate {d['validate_s']:.3f} s, link {d['link_s']:.3f} s,"
              f" alert step {d['alert_step_s']:.3f} s)")
        print(f"positive result -> 1st notice:  {d['t0_to_first_notice_s']:.3f} s")
        print(f"positive result -> last notice: {d['t0_to_last_notice_s']:.3f} s")
        print(f"notices per second (median of {args.rounds}): outbox {rates['outbox']:,.0f}, "
              f"paho pipelined {rates['paho_pipelined']:,.0f}, paho one PUBACK at a time "
              f"{rates['paho_one_by_one']:,.0f}")
        print(f"ratio outbox / paho pipelined:  {rates['outbox'] / rates['paho_pipelined']:.2f}")
        print(f"ratio outbox / paho one-by-one: {rates['outbox'] / rates['paho_one_by_one']:.2f}")
        print(f"total run: {time.perf_counter() - started:.0f} s")
        if args.json:
            print(json.dumps({"args": vars(args), "incident": incident, "drill": d,
                              "rates": rates, "rounds": {"outbox": outbox, "paho_pipelined": piped,
                                                         "paho_one_by_one": serial}},
                             default=str))
    finally:
        with psycopg.connect(tb.ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        log(f"dropped database {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
