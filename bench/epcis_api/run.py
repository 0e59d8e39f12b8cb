"""The EPCIS 2.0 REST interface: capture throughput against the MQTT path, and
GET /events latency on the bench/trace graph, each against a baseline measured in
the same run.

1. Capture: --documents EPCISDocuments of --events-per-doc events each (packing
   and shipping ObjectEvents of GS1 lots, ~600 bytes an event), landed
   (a) through MQTT: QoS 1 publishes to foodtrace/v1/epcis/{actor}, one
       `foodtrace ingest` process, until every event row is committed (baseline);
   (b) through HTTP: `foodtrace serve` (one process), POST /capture over real HTTP
       by --clients concurrent clients, until every 202 (committed) is back.
   Each path gets a fresh database and the same documents. Figures: events/s,
   documents/s, HTTP / MQTT.
2. Query: the bench/trace supply chain (its generator, without linking: queries
   read core.events / core.event_lots only), then for --days random days
   GET /events?GE_eventTime=<day>&LT_eventTime=<day+1>&perPage=<n> and its next
   --pages pages through the Link header, as a regulator, timed per request
   (p50/p95), against (a) the same page statements run directly through psycopg
   (the SQL floor: what HTTP, auth and rendering add) and (b) for one deep page
   (--deep events into the day), keyset (a token) against LIMIT/OFFSET.

    .venv/bin/python bench/epcis_api/run.py                         # 1M lots, 10M events
    .venv/bin/python bench/epcis_api/run.py --lots 20000 --events 200000 --documents 100  # quick
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import paho.mqtt.client as mqtt
import psycopg

from foodtrace.db import connect, migrate
from foodtrace.epcis_api import paging
from foodtrace.epcis_api.auth import Principal
from foodtrace.epcis_api.query import events_statement, parse_query

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))  # test helpers
from devservices import MosquittoBroker  # tests/devservices.py

ADMIN_URL = os.environ.get("FOODTRACE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ACTOR = "packer-gz-01"
TOKEN = "bench-" + uuid.uuid4().hex
REGULATOR_TOKEN = "bench-reg-" + uuid.uuid4().hex
PAGE_KEY = uuid.uuid4().hex
ROOT = Path(__file__).resolve().parents[2]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def fresh_database(prefix: str = "ft_bench_api") -> tuple[str, str]:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = psycopg.conninfo.make_conninfo(ADMIN_URL, dbname=name)
    with connect(url) as conn:
        migrate(conn)
    return name, url


def drop_database(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def documents(n: int, per_doc: int) -> list[bytes]:
    """n distinct EPCISDocuments: a packing and per_doc - 1 shipments of one lot each."""
    now = datetime.now(UTC).replace(microsecond=0)
    out = []
    for d in range(n):
        lot = f"urn:epc:class:lgtin:4012345.012345.B{d:06d}"
        events = []
        for i in range(per_doc):
            shipping = i > 0
            event = {
                "type": "ObjectEvent",
                "eventID": f"ni:///sha-256;{uuid.uuid4().hex}{uuid.uuid4().hex}?ver=CBV2.0",
                "eventTime": (now - timedelta(hours=3, seconds=-i)).isoformat(),
                "eventTimeZoneOffset": "+08:00",
                "action": "OBSERVE" if shipping else "ADD",
                "bizStep": "shipping" if shipping else "packing",
                "quantityList": [{"epcClass": lot, "quantity": 1 if shipping else 500,
                                  "uom": "KGM"}],
                "bizLocation": {"id": "urn:epc:id:sgln:4012345.00001.0"},
                "bizTransactionList": [{"type": "bol" if shipping else "po",
                                        "bizTransaction": f"urn:epcglobal:cbv:bt:4012345000009:{d}-{i}"}],
            }
            if shipping:
                event["destinationList"] = [{"type": "location",
                                             "destination": f"urn:epc:id:sgln:4012345.{i:05d}.0"}]
            events.append(event)
        out.append(json.dumps({
            "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
            "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": now.isoformat(),
            "epcisBody": {"eventList": events}}, separators=(",", ":")).encode())
    return out


def chain_rows(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as c:
        return c.execute("SELECT count(*) FROM landing.chain_events").fetchone()[0]


def wait_rows(url: str, n: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if chain_rows(url) >= n:
            return time.monotonic()
        time.sleep(0.02)
    raise TimeoutError(f"fewer than {n} chain events after {timeout}s")


def capture_mqtt(broker: MosquittoBroker, docs: list[bytes], per_doc: int) -> float:
    name, url = fresh_database()
    try:
        env = {**os.environ, "FOODTRACE_DATABASE_URL": url,
               "FOODTRACE_MQTT_URL": broker.url("foodtrace-ingest")}
        proc = subprocess.Popen([sys.executable, "-m", "foodtrace.cli.main", "ingest",
                                 "--worker-id", f"bench-{uuid.uuid4().hex[:6]}"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(3.0)  # connected and subscribed
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                 client_id=f"bench-pub-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5)
            client.username_pw_set(ACTOR, broker.users[ACTOR])
            client.max_inflight_messages_set(100)
            client.connect("127.0.0.1", broker.port)
            client.loop_start()
            start = time.monotonic()
            infos = [client.publish(f"foodtrace/v1/epcis/{ACTOR}", d, qos=1) for d in docs]
            for info in infos:
                info.wait_for_publish(300)
            end = wait_rows(url, len(docs) * per_doc, 900)
            client.disconnect()
            client.loop_stop()
        finally:
            proc.terminate()
            proc.wait(20)
        return len(docs) * per_doc / (end - start)
    finally:
        drop_database(name)


class Server:
    """`foodtrace serve` as its own process."""

    def __init__(self, url: str, tokens: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        env = {**os.environ, "FOODTRACE_DATABASE_URL": url,
               "FOODTRACE_API_TOKENS_FILE": str(tokens), "FOODTRACE_API_PAGE_TOKEN_KEY": PAGE_KEY}
        env.pop("FOODTRACE_MQTT_URL", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "foodtrace.cli.main", "serve", "--port", str(self.port),
             "--log-level", "WARNING"], env=env, cwd=ROOT)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(self.url + "/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("foodtrace serve did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)


def tokens_file(directory: Path) -> Path:
    path = directory / "tokens"
    path.write_text(f"{hashlib.sha256(TOKEN.encode()).hexdigest()} {ACTOR}\n"
                    f"{hashlib.sha256(REGULATOR_TOKEN.encode()).hexdigest()} regulator-gd regulator\n")
    return path


def capture_http(docs: list[bytes], per_doc: int, clients: int, tokens: Path) -> float:
    name, url = fresh_database()
    server = Server(url, tokens)
    try:
        queue_ = list(enumerate(docs))
        lock = threading.Lock()
        failures: list[str] = []

        def worker() -> None:
            with httpx.Client(base_url=server.url, timeout=120,
                              headers={"Authorization": f"Bearer {TOKEN}",
                                       "Content-Type": "application/ld+json"}) as http:
                while True:
                    with lock:
                        if not queue_:
                            return
                        _, body = queue_.pop()
                    r = http.post("/capture", content=body)
                    if r.status_code != 202:
                        failures.append(f"{r.status_code} {r.text[:200]}")

        threads = [threading.Thread(target=worker) for _ in range(clients)]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        end = time.monotonic()
        if failures:
            raise RuntimeError(f"{len(failures)} captures failed, e.g. {failures[0]}")
        stored = chain_rows(url)
        if stored != len(docs) * per_doc:
            raise RuntimeError(f"{stored} chain events landed, expected {len(docs) * per_doc}")
        return len(docs) * per_doc / (end - start)
    finally:
        server.stop()
        drop_database(name)


# --- query ---------------------------------------------------------------------------


def _trace_bench():
    spec = importlib.util.spec_from_file_location("bench_trace", ROOT / "bench/trace/run.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def build_graph(url: str, lots: int, events: int) -> None:
    tb = _trace_bench()
    plan = tb.Plan(lots, events)
    log(f"plan: {plan.lots:,} lots, ~{plan.expected_events:,} events (bench/trace generator)")
    with connect(url) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("SET work_mem = '256MB'")
        conn.commit()
        started = time.perf_counter()
        tb.without_indexes(conn, ["core.events", "core.event_lots", "core.lots",
                                  "core.link_queue"],
                           lambda: tb.generate(conn, plan, 100_000))
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE core.events")
        conn.execute("VACUUM ANALYZE core.event_lots")
        n = conn.execute("SELECT count(*) FROM core.events").fetchone()[0]
        size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
        log(f"generated {n:,} events in {time.perf_counter() - started:.0f} s; database {size}")


def pct(samples: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return q[49], q[94]


def measure_queries(url: str, tokens: Path, days: int, pages: int, per_page: int, deep: int,
                    seed: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        lo, hi = conn.execute("SELECT min(event_time), max(event_time) FROM core.events").fetchone()
    rng = random.Random(seed)
    first = lo.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    span = max(1, (hi - first).days - 1)
    sample_days = [first + timedelta(days=rng.randrange(span)) for _ in range(days)]
    regulator = Principal("regulator-gd", "regulator")
    server = Server(url, tokens)
    http_first, http_next, sql_first, sql_next, day_sizes, deep_keyset, deep_offset = \
        [], [], [], [], [], [], []
    try:
        with httpx.Client(base_url=server.url, timeout=60,
                          headers={"Authorization": f"Bearer {REGULATOR_TOKEN}"}) as http, \
                psycopg.connect(url, autocommit=True) as conn:
            for warm in sample_days[:3]:  # caches, prepared plans
                http.get("/events", params={"GE_eventTime": warm.isoformat(),
                                            "LT_eventTime": (warm + timedelta(days=1)).isoformat(),
                                            "perPage": str(per_page)})
            for n, day in enumerate(sample_days, 1):
                params = [("GE_eventTime", day.isoformat()),
                          ("LT_eventTime", (day + timedelta(days=1)).isoformat()),
                          ("perPage", str(per_page))]
                day_sizes.append(conn.execute(
                    "SELECT count(*) FROM core.events WHERE event_time >= %s AND event_time < %s",
                    (day, day + timedelta(days=1))).fetchone()[0])
                q = parse_query(params)
                # HTTP: first page, then the Link header's pages
                link = "/events?" + "&".join(f"{k}={quote(v)}" for k, v in params)
                positions: list[paging.Position | None] = [None]
                for p in range(pages + 1):
                    t0 = time.perf_counter()
                    r = http.get(link)
                    elapsed = (time.perf_counter() - t0) * 1000
                    if r.status_code != 200:
                        raise RuntimeError(f"GET {link}: {r.status_code} {r.text[:300]}")
                    (http_first if p == 0 else http_next).append(elapsed)
                    evs = r.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
                    if len(evs) != per_page or "Link" not in r.headers:
                        break
                    link = r.headers["Link"][1:r.headers["Link"].index(">")]
                    if p < pages:  # the pages the HTTP loop fetches, for the SQL floor
                        token = link.split("nextPageToken=")[1]
                        digest = paging.query_digest(["regulator-gd", "regulator",
                                                      *q.normalised])
                        positions.append(paging.decode(PAGE_KEY.encode(), token, digest))
                # SQL floor: the same statements, straight through psycopg
                for p, after in enumerate(positions):
                    sql, sql_params = events_statement(q, regulator, after)
                    t0 = time.perf_counter()
                    conn.execute(sql, sql_params).fetchall()
                    (sql_first if p == 0 else sql_next).append((time.perf_counter() - t0) * 1000)
                # a deep page: keyset (token) against OFFSET
                if day_sizes[-1] > deep + per_page:
                    at = conn.execute(
                        "SELECT event_time, message_id FROM core.events WHERE event_time >= %s "
                        "AND event_time < %s ORDER BY event_time, message_id OFFSET %s LIMIT 1",
                        (day, day + timedelta(days=1), deep - 1)).fetchone()
                    digest = paging.query_digest(["regulator-gd", "regulator", *q.normalised])
                    token = paging.encode(PAGE_KEY.encode(), paging.Position(*at), digest)
                    url_deep = "/events?" + "&".join(f"{k}={quote(v)}" for k, v in params) + \
                        f"&nextPageToken={token}"
                    t0 = time.perf_counter()
                    assert http.get(url_deep).status_code == 200
                    deep_keyset.append((time.perf_counter() - t0) * 1000)
                    sql, sql_params = events_statement(q, regulator, None)
                    t0 = time.perf_counter()
                    conn.execute(sql.replace(" LIMIT %(limit)s", " LIMIT %(limit)s OFFSET %(o)s"),
                                 {**sql_params, "o": deep}).fetchall()
                    deep_offset.append((time.perf_counter() - t0) * 1000)
                if n % 10 == 0:
                    log(f"queried {n}/{len(sample_days)} days")
    finally:
        server.stop()
    print()
    print(f"GET /events, one-day GE_eventTime/LT_eventTime window, perPage={per_page}, "
          f"{len(sample_days)} random days (events per day: median "
          f"{statistics.median(day_sizes):,.0f}, min {min(day_sizes):,}, max {max(day_sizes):,}):")
    print(f"  {'ms per request':44}{'p50':>9}{'p95':>9}{'n':>7}")
    rows = (("HTTP, first page", http_first), ("HTTP, next pages (Link header)", http_next),
            ("SQL floor (psycopg), first page", sql_first),
            ("SQL floor (psycopg), next pages", sql_next),
            (f"HTTP, page {deep:,} events deep (keyset)", deep_keyset),
            (f"SQL, LIMIT/OFFSET {deep:,} (baseline)", deep_offset))
    for name, samples in rows:
        if len(samples) >= 2:
            p50, p95 = pct(samples)
            print(f"  {name:44}{p50:9.2f}{p95:9.2f}{len(samples):7}")
    if len(http_next) >= 2 and len(sql_next) >= 2:
        print(f"  HTTP / SQL floor, next pages: p50 {pct(http_next)[0] / pct(sql_next)[0]:.1f}x, "
              f"p95 {pct(http_next)[1] / pct(sql_next)[1]:.1f}x")
    if len(deep_keyset) >= 2:
        print(f"  OFFSET / keyset at {deep:,} deep: p50 "
              f"{pct(deep_offset)[0] / pct(deep_keyset)[0]:.1f}x")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--documents", type=int, default=300, help="documents captured per path")
    ap.add_argument("--events-per-doc", type=int, default=100)
    ap.add_argument("--clients", type=int, default=2, help="concurrent HTTP clients")
    ap.add_argument("--lots", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=50, help="random days queried")
    ap.add_argument("--pages", type=int, default=5, help="next pages followed per day")
    ap.add_argument("--per-page", type=int, default=100)
    ap.add_argument("--deep", type=int, default=50_000, help="events into the day of the deep page")
    ap.add_argument("--seed", type=int, default=204)
    ap.add_argument("--skip-capture", action="store_true")
    ap.add_argument("--skip-query", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tokens = tokens_file(Path(tmp))
        if not args.skip_capture:
            docs = documents(args.documents, args.events_per_doc)
            size = sum(map(len, docs)) / len(docs)
            users = {u: uuid.uuid4().hex for u in ("foodtrace-ingest", ACTOR)}
            broker = MosquittoBroker(Path(tmp) / "mosquitto", users).start()
            try:
                log(f"capture: {len(docs)} documents x {args.events_per_doc} events "
                    f"({size / 1024:.0f} KiB each)")
                mqtt_rate = capture_mqtt(broker, docs, args.events_per_doc)
                log(f"MQTT path: {mqtt_rate:,.0f} events/s")
            finally:
                broker.stop()
            http_rate = capture_http(docs, args.events_per_doc, args.clients, tokens)
            log(f"HTTP path: {http_rate:,.0f} events/s")
            print()
            print(f"Capture of {len(docs)} documents of {args.events_per_doc} events, "
                  "until committed:")
            print(f"  {'path':40}{'events/s':>10}{'docs/s':>9}")
            print(f"  {'MQTT, 1 ingest worker (baseline)':40}{mqtt_rate:10,.0f}"
                  f"{mqtt_rate / args.events_per_doc:9.1f}")
            print(f"  {f'HTTP POST /capture, {args.clients} clients':40}{http_rate:10,.0f}"
                  f"{http_rate / args.events_per_doc:9.1f}")
            print(f"  HTTP / MQTT: {http_rate / mqtt_rate:.2f}")
        if not args.skip_query:
            name, url = fresh_database("ft_bench_api_query")
            try:
                build_graph(url, args.lots, args.events)
                measure_queries(url, tokens, args.days, args.pages, args.per_page, args.deep,
                                args.seed)
            finally:
                drop_database(name)
                log(f"dropped database {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
