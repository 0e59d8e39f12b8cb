"""Living alerts: what re-scoping adds to a link run, against a link run measured in
the same run on the same graph.

Builds the lot graph of bench/trace (its generator and loader, imported from
bench/trace/run.py) in a throwaway database, links it with the production
`link()`, raises --alerts open alerts through the real path (positive rapid-test
lab results inserted into core.lab_results, linked, judged by
`foodtrace.alerts.engine.evaluate`, which writes each alert and its scope keys in
core.alert_scope through `transition.apply`), then times link runs of
--new-events freshly promoted chain events (new rows in core.events +
core.event_lots + core.lots, as promotion writes them) in four set-ups,
interleaved round by round (the order rotates every round):

  off        the re-scope triggers of 0008 disabled: the link run as it was before
             living alerts (informative);
  none       baseline (1): no open alert has scope keys (core.alert_scope is set
             aside for this run): the triggers fire and find nothing;
  untouched  (2) the open alerts' scopes in place, no new event names a scope lot:
             the triggers' cost;
  touched    (3) as (2), but --touched of the events' lots (each in the affected
             set of one alert, shipped to a city the alert does not name yet) touch
             that many alerts: link, then `rescope()`, which re-traces just those
             alerts and writes their new versions.

Every run: fresh events (the same mix each time: new harvested lots with their
cooling, packing, shipments, receivings and sale; transformations of 3 existing
lots into 2 new ones; shipments, receivings and sales of existing lots), committed
before the clock starts; VACUUM of the queues and a CHECKPOINT; then `link()` on a
fresh connection (as a pipeline task runs it), then `rescope()` on another one
(the alert step; with nothing queued it is one query). Checks each run: every
event linked, nothing queued except in `touched`, there exactly --touched alerts
queued and re-versioned.

    .venv/bin/python bench/alerts/run.py                        # 200k lots, 2M events, 200 alerts
    .venv/bin/python bench/alerts/run.py --lots 1000000 --events 10000000   # the trace bench's graph
    .venv/bin/python bench/alerts/run.py --lots 20000 --events 200000 --rounds 3   # quick
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import io
import json
import pstats
import random
import signal
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from foodtrace.alerts.engine import evaluate
from foodtrace.alerts.rescope import rescope
from foodtrace.db import connect, migrate
from foodtrace.trace.link import link

_spec = importlib.util.spec_from_file_location(
    "bench_trace_run", Path(__file__).resolve().parents[1] / "trace" / "run.py"
)
assert _spec and _spec.loader
tb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tb)  # the trace bench: Plan, generate, without_indexes, ...

log = tb.log
VARIANTS = ("off", "none", "untouched", "touched")
TRIGGERS = (
    ("core.lot_locations", "lot_locations_rescope"),
    ("core.lot_edges", "lot_edges_rescope"),
)
RETAIL_KINDS = ("distributor", "wholesale_market", "retailer", "restaurant")


# --- the graph and the alerts -----------------------------------------------------------


def build(conn: psycopg.Connection, plan: Any, args: argparse.Namespace) -> None:
    """bench/trace's graph, linked, vacuumed (as bench/trace/run.py does it)."""
    migrate(conn)
    conn.execute("SET synchronous_commit = off")
    conn.execute("SET maintenance_work_mem = '1GB'")
    conn.execute("SET work_mem = '256MB'")
    conn.commit()
    started = time.perf_counter()
    tb.without_indexes(
        conn,
        ["core.events", "core.event_lots", "core.lots", "core.link_queue"],
        lambda: tb.generate(conn, plan, args.chunk_lots),
    )
    conn.execute("ANALYZE")
    conn.execute("RESET work_mem")
    conn.execute("RESET synchronous_commit")
    conn.commit()
    log(f"generated in {time.perf_counter() - started:.0f} s")
    stats = link(conn, batch_size=args.link_batch)
    log(f"link(): {stats.events:,} events -> {stats.edges:,} edges, "
        f"{stats.lot_locations:,} lot_locations in {stats.seconds:.0f} s")  # fmt: skip
    conn.autocommit = True
    for table in ("core.lot_edges", "core.lot_locations", "core.lots", "core.link_queue",
                  "core.events", "core.event_lots"):  # fmt: skip
        conn.execute(f"VACUUM ANALYZE {table}")
    conn.autocommit = False


def raise_alerts(conn: psycopg.Connection, plan: Any, n: int, rng: random.Random) -> dict:
    """n open alerts through the real path: positive rapid tests on n random lots,
    linked (their 'sampled' places), judged by engine.evaluate()."""
    lots = [tb.lot_code(i) for i in rng.sample(range(plan.lots), n)]
    rows = conn.execute(
        "SELECT l.lot_code, w.location_id, w.event_time FROM unnest(%s::text[]) l(lot_code) "
        "CROSS JOIN LATERAL (SELECT location_id, event_time FROM core.lot_locations ll "
        "  WHERE ll.lot_code = l.lot_code ORDER BY event_time DESC LIMIT 1) w",
        (lots,),
    ).fetchall()
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY core.lab_results (message_id, tested_at, lab_id, sample_id, lot_code, "
            "sampled_at, sampled_location_id, test_kind, method, analyte, result) FROM STDIN"
        ) as copy,
    ):
        for i, (lot, where, at) in enumerate(rows):
            sampled = at + timedelta(hours=6)
            copy.write_row((uuid.uuid4(), sampled + timedelta(hours=2), "LAB-bench",
                            f"S-{i:05d}", lot, sampled, where, "rapid", "colloidal_gold",
                            "clenbuterol", "positive"))  # fmt: skip
    conn.commit()
    link(conn)
    started = time.perf_counter()
    raised = evaluate(conn)
    seconds = time.perf_counter() - started
    keys = conn.execute(
        "SELECT count(*) FILTER (WHERE key_kind = 'lot'), "
        "       count(*) FILTER (WHERE key_kind = 'location'), count(DISTINCT alert_id) "
        "FROM core.alert_scope"
    ).fetchone()
    sizes = [r[0] for r in conn.execute(
        "SELECT count(*) FROM core.alert_scope WHERE key_kind = 'lot' GROUP BY alert_id"
    )]  # fmt: skip
    payload_kb = conn.execute(
        "SELECT percentile_disc(ARRAY[0.5, 0.95, 1]) WITHIN GROUP "
        "(ORDER BY octet_length(payload::text) / 1024), "
        "percentile_disc(0.5) WITHIN GROUP (ORDER BY jsonb_array_length(payload->'affected_cities')) "
        "FROM core.alerts"
    ).fetchone()
    conn.commit()
    info = {"alerts": len(raised), "evaluate_s": round(seconds, 2),
            "payload_kib_p50_p95_max": payload_kb[0], "cities_per_alert_median": payload_kb[1],
            "scope_lot_keys": keys[0],
            "scope_location_keys": keys[1], "alerts_with_scope": keys[2],
            "scope_lots_per_alert_median": statistics.median(sizes),
            "scope_lots_per_alert_max": max(sizes)}  # fmt: skip
    if len(raised) != n or keys[2] != n:
        raise SystemExit(f"expected {n} open alerts with scopes, got {info}")
    return info


# --- fresh events -----------------------------------------------------------------------


@dataclass
class Batch:
    """The rows promotion would write for a set of new chain events."""

    tag: str
    events: list[tuple] = field(default_factory=list)
    event_lots: list[tuple] = field(default_factory=list)
    lots: list[tuple] = field(default_factory=list)
    touching: int = 0  # events naming a lot of some alert's scope
    clock: datetime = field(default_factory=lambda: datetime.now(UTC) - timedelta(hours=3))

    def event(self, etype: str, where: str, lines: list[tuple[str, str, str, float]], *,
              source: str | None = None, dest: str | None = None,
              tlc: str | None = None, mid: uuid.UUID | None = None) -> uuid.UUID:  # fmt: skip
        mid = mid or uuid.uuid4()
        self.clock += timedelta(milliseconds=500)
        prefix, _, no = where.partition("-")
        self.events.append((mid, self.clock, f"{prefix}-actor-{no}", etype, where, source, dest,
                            tlc, "BOL", str(mid)[:13]))  # fmt: skip
        for pos, (role, lot, product, qty) in enumerate(lines):
            self.event_lots.append((mid, self.clock, role, pos, lot, product, qty, "kg"))
        return mid

    def new_lot(self, product: str, where: str, created_by: uuid.UUID | None, qty: float) -> str:
        code = f"NEW-{self.tag}-{len(self.lots):06d}"
        self.lots.append((code, product, where, created_by, self.clock, qty, "kg"))
        return code


class Places:
    def __init__(self, conn: psycopg.Connection) -> None:
        rows = conn.execute("SELECT location_id, kind, city FROM core.locations").fetchall()
        self.by_kind: dict[str, list[str]] = {}
        self.city = {}
        for lid, kind, city in rows:
            self.by_kind.setdefault(kind, []).append(lid)
            self.city[lid] = city
        self.retail = [lid for k in RETAIL_KINDS for lid in self.by_kind.get(k, [])]

    def pick(self, rng: random.Random, kind: str) -> str:
        return rng.choice(self.by_kind[kind])


def make_events(conn: psycopg.Connection, plan: Any, places: Places, rng: random.Random,
                n: int, tag: str, touch: int) -> tuple[Batch, list[str]]:  # fmt: skip
    """n new events; `touch` of the existing-lot shipments are of lots in exactly one
    alert's affected set (returns those alerts' ids)."""
    scope = {r[0] for r in conn.execute(
        "SELECT key FROM core.alert_scope WHERE key_kind = 'lot'")}  # fmt: skip
    n_tx = n // 10  # transformations: 3 existing lots -> 2 new lots
    n_roots = (n * 6 // 10) // 8  # new harvested lots: 8 events each
    n_moves = (n - n_tx - 8 * n_roots) // 3  # shipping + receiving + sale of an existing lot
    n_sales = n - n_tx - 8 * n_roots - 3 * n_moves  # the remainder: sales of existing lots
    want = 3 * n_tx + n_moves + n_sales
    candidates = rng.sample(range(plan.lots), min(plan.lots, 2 * want + 100))
    rows = conn.execute(
        "SELECT l.lot_code, l.product, w.location_id FROM bench.lots l "
        "CROSS JOIN LATERAL (SELECT location_id FROM core.lot_locations ll "
        "  WHERE ll.lot_code = l.lot_code ORDER BY event_time DESC LIMIT 1) w "
        "WHERE l.lot_no = ANY(%s)",
        (candidates,),
    ).fetchall()
    existing = [r for r in rows if r[0] not in scope]
    rng.shuffle(existing)
    if len(existing) < want:
        raise SystemExit("not enough lots outside the alerts' scopes: use more --lots")
    pool = iter(existing)
    touched_alerts: list[str] = []
    touched_lots: list[tuple[str, str, str, str]] = []  # (lot, product, where, dest)
    if touch:
        touched_alerts, touched_lots = _touching(conn, places, rng, touch)
    conn.commit()

    b = Batch(tag)
    for _ in range(n_roots):
        farm, pack = places.pick(rng, "farm"), places.pick(rng, "packer")
        product, qty = rng.choice(tb.PRODUCTS), round(rng.uniform(200, 1000), 1)
        mid = uuid.uuid4()
        lot = b.new_lot(product, farm, mid, qty)
        line = [("lot", lot, product, qty)]
        b.event("harvesting", farm, line, tlc=farm, mid=mid)
        b.event("cooling", farm, line)
        b.event("initial_packing", pack, line)
        dests = rng.sample(places.retail, 2)
        half = [("lot", lot, product, round(qty / 2, 1))]
        for dest in dests:
            b.event("shipping", pack, half, dest=dest)
            b.event("receiving", dest, half, source=pack)
        b.event("sale", dests[0], [("lot", lot, product, round(qty / 20, 1))])
    for _ in range(n_tx):
        proc = places.pick(rng, "processor")
        inputs = [next(pool) for _ in range(3)]
        lines = [("input", code, product, 100.0) for code, product, _ in inputs]
        mid = uuid.uuid4()  # the event that assigns the output lots' codes
        outs = [b.new_lot("processed_1", proc, mid, 150.0) for _ in range(2)]
        lines += [("output", code, "processed_1", 150.0) for code in outs]
        b.event("transformation", proc, lines, tlc=proc, mid=mid)
    moves = [(code, product, where, rng.choice(places.retail)) for code, product, where in
             (next(pool) for _ in range(n_moves - len(touched_lots)))]  # fmt: skip
    for i, (code, product, where, dest) in enumerate([*touched_lots, *moves]):
        line = [("lot", code, product, 10.0)]
        b.event("shipping", where, line, dest=dest)
        b.event("receiving", dest, line, source=where)
        b.event("sale", dest, [("lot", code, product, 1.0)])
        if i < len(touched_lots):
            b.touching += 3
    for _ in range(n_sales):
        code, product, where = next(pool)
        b.event("sale", where, [("lot", code, product, 1.0)])
    assert len(b.events) == n, (len(b.events), n)
    return b, touched_alerts


def _touching(conn: psycopg.Connection, places: Places, rng: random.Random,
              touch: int) -> tuple[list[str], list[tuple[str, str, str, str]]]:  # fmt: skip
    """`touch` alerts, each with one affected lot in no other alert's scope, and a
    destination in a city the alert does not name yet (a new version is due)."""
    alerts = conn.execute(
        "SELECT alert_id, payload FROM core.alerts WHERE status <> 'closed'"
    ).fetchall()
    owners: dict[str, int] = {}
    for (key,) in conn.execute("SELECT key FROM core.alert_scope WHERE key_kind = 'lot'"):
        owners[key] = owners.get(key, 0) + 1
    rng.shuffle(alerts)
    chosen, lots = [], []
    for alert_id, p in alerts:
        own = sorted(a["lot_code"] for a in p["affected_lots"] if owners.get(a["lot_code"]) == 1)
        if not own:
            continue
        lot = rng.choice(own)
        cities = set(p["affected_cities"])
        dests = [d for d in places.retail if places.city[d] not in cities] or [
            d for d in places.retail if d not in {x["location_id"] for x in p["affected_locations"]}
        ]
        info = conn.execute(
            "SELECT l.product_code, w.location_id FROM core.lots l CROSS JOIN LATERAL "
            "(SELECT location_id FROM core.lot_locations ll WHERE ll.lot_code = l.lot_code "
            " ORDER BY event_time DESC LIMIT 1) w WHERE l.lot_code = %s",
            (lot,),
        ).fetchone()
        chosen.append(str(alert_id))
        lots.append((lot, info[0], info[1], rng.choice(dests)))
        if len(chosen) == touch:
            return chosen, lots
    raise SystemExit(f"only {len(chosen)} alerts have an affected lot of their own")


def promote(conn: psycopg.Connection, b: Batch) -> None:
    """Write the batch as promotion does (core.lots, core.events, core.event_lots;
    the link-queue trigger on core.events fires)."""
    with conn.cursor() as cur:
        with cur.copy(
            "COPY core.lots (lot_code, product_code, tlc_source_location_id, "
            "created_by_message_id, created_at, quantity, unit) FROM STDIN"
        ) as copy:
            for row in b.lots:
                copy.write_row(row)
        with cur.copy(
            "COPY core.events (message_id, event_time, actor_id, event_type, location_id, "
            "source_location_id, destination_location_id, tlc_source_location_id, "
            "reference_document_type, reference_document_number) FROM STDIN"
        ) as copy:
            for row in b.events:
                copy.write_row(row)
        with cur.copy(
            "COPY core.event_lots (message_id, event_time, role, position, lot_code, "
            "product_code, quantity, unit) FROM STDIN"
        ) as copy:
            for row in b.event_lots:
                copy.write_row(row)
    conn.commit()


# --- one timed run ----------------------------------------------------------------------


def _setup(conn: psycopg.Connection, variant: str) -> None:
    if variant == "off":
        for table, trigger in TRIGGERS:
            conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
    elif variant == "none":
        conn.execute("CREATE TABLE bench.scope_aside AS SELECT * FROM core.alert_scope")
        conn.execute("DELETE FROM core.alert_scope")
    conn.commit()


def _teardown(conn: psycopg.Connection, variant: str) -> None:
    if variant == "off":
        for table, trigger in TRIGGERS:
            conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")
    elif variant == "none":
        conn.execute("INSERT INTO core.alert_scope SELECT * FROM bench.scope_aside")
        conn.execute("DROP TABLE bench.scope_aside")
    conn.commit()


def _quiet(conn: psycopg.Connection) -> None:
    """The same starting state for every run: queues vacuumed, a checkpoint."""
    conn.autocommit = True
    conn.execute("VACUUM ANALYZE core.link_queue, core.alert_rescope_queue, core.alert_scope")
    conn.execute("CHECKPOINT")
    conn.autocommit = False


def _function_ms(conn: psycopg.Connection) -> float:
    row = conn.execute(
        "SELECT coalesce(sum(self_time), 0) FROM pg_stat_user_functions "
        "WHERE schemaname = 'core' AND funcname IN "
        "('queue_rescope_lot_locations', 'queue_rescope_lot_edges')"
    ).fetchone()
    conn.commit()
    return float(row[0])


def one_run(url: str, conn: psycopg.Connection, plan: Any, places: Places, rng: random.Random,
            variant: str, tag: str, args: argparse.Namespace,
            profile: cProfile.Profile | None = None) -> dict:  # fmt: skip
    touch = args.touched if variant == "touched" else 0
    b, touched = make_events(conn, plan, places, rng, args.new_events, tag, touch)
    promote(conn, b)
    _setup(conn, variant)
    try:
        _quiet(conn)
        fn_before = _function_ms(conn)
        with connect(url) as c:
            c.execute("SET track_functions = 'pl'")  # the triggers' own time, server side
            started = time.perf_counter()
            stats = link(c)
            link_s = time.perf_counter() - started
            queued = {str(r[0]) for r in c.execute(
                "SELECT DISTINCT alert_id FROM core.alert_rescope_queue")}  # fmt: skip
            c.commit()
        with connect(url) as c:
            started = time.perf_counter()
            if profile:
                profile.enable()
            changed = rescope(c)
            if profile:
                profile.disable()
            rescope_s = time.perf_counter() - started
        trigger_ms = _function_ms(conn) - fn_before  # flushed when the session ended
    finally:
        _teardown(conn, variant)
    problems = []
    if stats.events != args.new_events:
        problems.append(f"linked {stats.events} of {args.new_events} events")
    if queued != set(touched):
        problems.append(f"queued {len(queued)} alerts, expected {len(touched)}")
    if {str(a) for a in changed} != set(touched):
        problems.append(f"{len(changed)} alerts re-versioned, expected {len(touched)}")
    return {"variant": variant, "link_s": link_s, "rescope_s": rescope_s,
            "total_s": link_s + rescope_s, "trigger_fn_ms": trigger_ms,
            "events": stats.events, "edges": stats.edges, "lot_locations": stats.lot_locations,
            "touching_events": b.touching, "queued": len(queued), "rescoped": len(changed),
            "problems": problems}  # fmt: skip


# --- report -----------------------------------------------------------------------------


def summarize(runs: list[dict]) -> dict[str, dict]:
    out = {}
    for v in VARIANTS:
        rs = [r for r in runs if r["variant"] == v]
        if rs:
            out[v] = {k: statistics.median(r[k] for r in rs)
                      for k in ("link_s", "rescope_s", "total_s", "trigger_fn_ms")}  # fmt: skip
            out[v]["n"] = len(rs)
            out[v]["min_total_s"] = min(r["total_s"] for r in rs)
            out[v]["max_total_s"] = max(r["total_s"] for r in rs)
    base = out["none"]["link_s"]
    for v in out:
        out[v]["link_ratio"] = out[v]["link_s"] / base
        out[v]["total_ratio"] = out[v]["total_s"] / base
    return out


def report(summary: dict[str, dict], runs: list[dict], args: argparse.Namespace) -> None:
    labels = {
        "off": "re-scope triggers disabled (the link run before 0008)",
        "none": "(1) baseline: no open alert scopes",
        "untouched": f"(2) {args.alerts} open alerts, none touched",
        "touched": f"(3) {args.alerts} open alerts, {args.touched} touched",
    }
    print()
    print(f"Link runs of {args.new_events:,} new events, medians of {args.rounds} rounds "
          f"(ratios against (1)'s link time):")  # fmt: skip
    print(f"  {'':56}{'link s':>8}{'rescope s':>11}{'total s':>9}{'ratio':>7}"
          f"{'trig ms':>9}")  # fmt: skip
    for v in VARIANTS:
        s = summary.get(v)
        if s:
            print(f"  {labels[v]:56}{s['link_s']:8.3f}{s['rescope_s']:11.3f}{s['total_s']:9.3f}"
                  f"{s['total_ratio']:6.2f}x{s['trigger_fn_ms']:9.1f}")  # fmt: skip
    un, to = summary["untouched"], summary["touched"]
    print(f"  (2)/(1): {un['link_ratio']:.2f}x link alone, {un['total_ratio']:.2f}x with rescope() "
          f"(nothing queued); (3)/(1): {to['total_ratio']:.2f}x link + rescope() "
          f"({to['link_ratio']:.2f}x link alone)")  # fmt: skip
    verdict = "met" if max(un["total_ratio"], to["total_ratio"]) < 1.2 else "NOT met"
    print(f"  target < 1.2x: {verdict}")
    bad = [r for r in runs if r["problems"]]
    print(f"  runs with problems: {len(bad)}" + "".join(f"\n    {r}" for r in bad))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--lots", type=int, default=200_000)
    ap.add_argument("--events", type=int, default=None, help="graph events (default 10 x --lots)")
    ap.add_argument("--alerts", type=int, default=200, help="open alerts")
    ap.add_argument("--touched", type=int, default=20, help="alerts touched in set-up (3)")
    ap.add_argument("--new-events", type=int, default=10_000, help="events per link run")
    ap.add_argument("--rounds", type=int, default=7, help="runs of each set-up")
    ap.add_argument("--chunk-lots", type=int, default=100_000, help="lots per generation step")
    ap.add_argument("--link-batch", type=int, default=50_000, help="link() batch size")
    ap.add_argument("--seed", type=int, default=204)
    ap.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    ap.add_argument("--json", action="store_true", help="print the runs and summary as JSON")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="afterwards, profile rescope() of one more touched run (cProfile)",
    )
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    plan = tb.Plan(args.lots, args.events or 10 * args.lots)
    rng = random.Random(args.seed)
    name = f"ft_bench_alerts_{uuid.uuid4().hex[:8]}"
    url = psycopg.conninfo.make_conninfo(tb.ADMIN_URL, dbname=name)
    log(f"plan: {plan.lots:,} lots, ~{plan.expected_events:,} events; {args.alerts} alerts; "
        f"{args.rounds} rounds of {args.new_events:,} new events; database {name}")  # fmt: skip
    with psycopg.connect(tb.ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with connect(url) as conn:
            started = time.perf_counter()
            build(conn, plan, args)
            log(f"graph built and linked in {time.perf_counter() - started:.0f} s")
            alerts = raise_alerts(conn, plan, args.alerts, rng)
            log(f"alerts: {alerts}")
            places = Places(conn)
            conn.commit()
            # one untimed run of each set-up: caches and the new tables' statistics
            for v in VARIANTS:
                one_run(url, conn, plan, places, rng, v, f"w{v[0]}", args)
            log("warm-up done")
            runs = []
            for rnd in range(args.rounds):
                for k in range(len(VARIANTS)):
                    v = VARIANTS[(rnd + k) % len(VARIANTS)]
                    r = one_run(url, conn, plan, places, rng, v, f"r{rnd:02d}{v[0]}", args)
                    r["round"] = rnd
                    runs.append(r)
                    log(f"round {rnd} {v:9}: link {r['link_s']:.3f} s, rescope "
                        f"{r['rescope_s']:.3f} s, triggers {r['trigger_fn_ms']:.1f} ms, "
                        f"queued {r['queued']}, re-versioned {r['rescoped']}"
                        + (f" PROBLEMS {r['problems']}" if r["problems"] else ""))  # fmt: skip
            if args.profile:  # one more touched run, rescope() under cProfile, not in the medians
                prof = cProfile.Profile()
                r = one_run(url, conn, plan, places, rng, "touched", "prof", args, prof)
                out = io.StringIO()
                pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(
                    r"foodtrace/(alerts|trace)", 25
                )
                print(f"\nrescope() of {r['rescoped']} touched alerts under cProfile: "
                      f"{r['rescope_s']:.3f} s\n" + out.getvalue())  # fmt: skip
            size = conn.execute(
                "SELECT (SELECT count(*) FROM core.events), (SELECT count(*) FROM core.lots), "
                "pg_size_pretty(pg_database_size(current_database()))"
            ).fetchone()
            conn.commit()
            summary = summarize(runs)
            print()
            print(f"Graph: {size[1]:,} lots, {size[0]:,} events, database {size[2]}; "
                  f"alerts: {alerts}")  # fmt: skip
            report(summary, runs, args)
            if args.json:
                print(json.dumps({"args": vars(args), "alerts": alerts, "summary": summary,
                                  "runs": runs}, default=str))  # fmt: skip
    finally:
        if args.keep:
            log(f"kept database {name}")
        else:
            with psycopg.connect(tb.ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            log(f"dropped database {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
