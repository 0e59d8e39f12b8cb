"""Trace latency on a large synthetic lot graph, against a naive baseline.

Builds a throwaway database, generates a supply chain straight into core.lots,
core.events and core.event_lots with set-based SQL (generate_series; no Python
loop over rows), links it with the production `link()`, then traces random lots
`both` ways three ways, interleaved lot by lot:

  api    foodtrace.trace.api.trace(conn, lot, "both"): end to end through psycopg,
         shaped into a Trace (what the CLI and the alerts engine call);
  sql    one statement: core.trace_upstream + core.trace_downstream +
         core.trace_locations over their lots (what Grafana calls);
  naive  the peer approach (breadth-first rounds, one query per lot per step,
         one locations query per lot) from Python; the baseline.

Each trace's lots and location rows are checked against the naive result.

Shape: roots (harvest -> cooling -> packing) are shipped in 2-5 splits to
distributors, markets, retailers and restaurants, received there and sold;
transformations at processors merge 3 lots of one level into 2 new lots of the
next (4 levels), which are again split, shipped, received and sold. Lots are
drawn at random as inputs, so a lot feeds ~1 transformation on average and
diamonds occur as in real data. The number of shipments per lot is set so the
event total meets --events.

    .venv/bin/python bench/trace/run.py                              # 1M lots, 10M events
    .venv/bin/python bench/trace/run.py --lots 20000 --events 200000 --samples 200  # quick
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import statistics
import sys
import time
import uuid
from collections.abc import Callable

import psycopg

from foodtrace.db import connect, migrate
from foodtrace.trace.api import trace
from foodtrace.trace.link import link

ADMIN_URL = os.environ.get("FOODTRACE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

# Share of lots per level: 0 = harvested roots, 1..4 = made by transformations.
LEVEL_SHARES = (0.40, 0.25, 0.17, 0.11, 0.07)
# Locations per 1,000 lots, by kind (prefix, kind, per_1000, minimum).
LOCATION_KINDS = (
    ("FARM", "farm", 10, 20),
    ("PACK", "packer", 1, 5),
    ("PROC", "processor", 1, 5),
    ("DIST", "distributor", 2, 5),
    ("MKT", "wholesale_market", 0.2, 3),
    ("RET", "retailer", 5, 10),
    ("REST", "restaurant", 1, 5),
)
CITIES = (
    ("guangzhou", 23.13, 113.26), ("shenzhen", 22.54, 114.06), ("zhuhai", 22.27, 113.58),
    ("foshan", 23.02, 113.12), ("huizhou", 23.11, 114.42), ("dongguan", 23.02, 113.75),
    ("zhongshan", 22.52, 113.39), ("jiangmen", 22.58, 113.08), ("zhaoqing", 23.05, 112.47),
)  # fmt: skip
PRODUCTS = ("choy_sum", "pak_choi", "lettuce", "water_spinach", "tomato", "pork", "chicken",
            "tilapia", "shrimp", "mango", "lychee", "rice_noodle")  # fmt: skip


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def lot_code(lot_no: int) -> str:
    return f"LOT-{lot_no:08d}"


class Plan:
    """Sizes derived from --lots/--events."""

    def __init__(self, lots: int, events: int) -> None:
        self.lots = lots
        self.levels: list[tuple[int, int]] = []  # (start lot_no, count) per level
        start = 0
        for i, share in enumerate(LEVEL_SHARES):
            n = lots - start if i == len(LEVEL_SHARES) - 1 else int(lots * share) // 2 * 2
            self.levels.append((start, n))
            start += n
        roots = self.levels[0][1]
        self.transformations = sum(n // 2 for _, n in self.levels[1:])
        # fixed events: harvest+cooling+packing per root, one per transformation;
        # the rest are per lot: 1 sale + k shipments (shipping + receiving each)
        fixed = 3 * roots + self.transformations
        self.avg_shipments = (events - fixed - lots) / (2 * lots)
        if self.avg_shipments < 1:
            raise SystemExit(f"--events {events} is too few for {lots} lots (need about "
                             f"{fixed + 3 * lots})")  # fmt: skip
        self.expected_events = fixed + lots + round(2 * lots * self.avg_shipments)


SETUP_SQL = """
CREATE SCHEMA bench;
-- Deterministic uniform [0,1) per (i, salt): the graph is the same on every run.
CREATE FUNCTION bench.r(i bigint, salt int) RETURNS float8 IMMUTABLE PARALLEL SAFE
LANGUAGE sql AS $$ SELECT (hashint8(i * 1000003 + salt)::bigint + 2147483648) / 4294967296.0 $$;
CREATE FUNCTION bench.pick(i bigint, salt int, n int) RETURNS int IMMUTABLE PARALLEL SAFE
LANGUAGE sql AS $$ SELECT least(floor(bench.r(i, salt) * n)::int, n - 1) $$;
CREATE TABLE bench.kinds (prefix text PRIMARY KEY, n int NOT NULL);
CREATE UNLOGGED TABLE bench.lots (
    lot_no bigint PRIMARY KEY, level int, lot_code text, product text, qty numeric,
    created_at timestamptz, site text, origin text, k int, tx_no bigint);
CREATE UNLOGGED TABLE bench.tx (
    tx_no bigint PRIMARY KEY, level int, first_out bigint, site text, at timestamptz,
    in_start bigint, in_n bigint);
"""

# A lot's j-th destination: mostly distributors and markets, then retail.
DEST_SQL = """
CREATE FUNCTION bench.dest(lot bigint, j int) RETURNS text IMMUTABLE PARALLEL SAFE
LANGUAGE sql AS $$
    SELECT CASE WHEN x < 0.30 THEN 'DIST-' || bench.pick(lot, 100 + j, %(DIST)s)
                WHEN x < 0.50 THEN 'MKT-' || bench.pick(lot, 100 + j, %(MKT)s)
                WHEN x < 0.85 THEN 'RET-' || bench.pick(lot, 100 + j, %(RET)s)
                ELSE 'REST-' || bench.pick(lot, 100 + j, %(REST)s) END
    FROM bench.r(lot, 50 + j) AS x
$$;
"""

# Every event_lots row of a chunk of lots [lo, hi), with its event's columns;
# position 0 carries the event row.
CHUNK_SQL = """
INSERT INTO bench.stage
SELECT md5('h:' || l.lot_no)::uuid, l.created_at, 'harvesting', l.site, NULL, NULL, l.site,
       'lot', 0, l.lot_code, l.product, l.qty
FROM bench.lots l WHERE l.level = 0 AND l.lot_no >= %(lo)s AND l.lot_no < %(hi)s
UNION ALL
SELECT md5('c:' || l.lot_no)::uuid, l.created_at + interval '2 hours', 'cooling', l.site, NULL,
       NULL, NULL, 'lot', 0, l.lot_code, l.product, l.qty
FROM bench.lots l WHERE l.level = 0 AND l.lot_no >= %(lo)s AND l.lot_no < %(hi)s
UNION ALL
SELECT md5('p:' || l.lot_no)::uuid, l.created_at + interval '6 hours', 'initial_packing',
       l.origin, NULL, NULL, NULL, 'lot', 0, l.lot_code, l.product, l.qty
FROM bench.lots l WHERE l.level = 0 AND l.lot_no >= %(lo)s AND l.lot_no < %(hi)s
UNION ALL
SELECT md5('s:' || l.lot_no || ':' || j)::uuid,
       l.created_at + interval '1 day' + j * interval '1 hour', 'shipping', l.origin, NULL,
       bench.dest(l.lot_no, j), NULL, 'lot', 0, l.lot_code, l.product, round(l.qty / l.k, 1)
FROM bench.lots l CROSS JOIN LATERAL generate_series(0, l.k - 1) j
WHERE l.lot_no >= %(lo)s AND l.lot_no < %(hi)s
UNION ALL
SELECT md5('r:' || l.lot_no || ':' || j)::uuid,
       l.created_at + interval '1 day 5 hours' + j * interval '1 hour', 'receiving',
       bench.dest(l.lot_no, j), l.origin, NULL, NULL, 'lot', 0, l.lot_code, l.product,
       round(l.qty / l.k, 1)
FROM bench.lots l CROSS JOIN LATERAL generate_series(0, l.k - 1) j
WHERE l.lot_no >= %(lo)s AND l.lot_no < %(hi)s
UNION ALL
SELECT md5('x:' || l.lot_no)::uuid, l.created_at + interval '3 days', 'sale',
       bench.dest(l.lot_no, 0), NULL, NULL, NULL, 'lot', 0, l.lot_code, l.product,
       round(l.qty / l.k / 10, 1)
FROM bench.lots l WHERE l.lot_no >= %(lo)s AND l.lot_no < %(hi)s
UNION ALL
SELECT md5('t:' || t.tx_no)::uuid, t.at, 'transformation', t.site, NULL, NULL, t.site,
       'input', j, il.lot_code, il.product, round(il.qty / 3, 1)
FROM bench.tx t CROSS JOIN generate_series(0, 2) j
JOIN bench.lots il ON il.lot_no = t.in_start + bench.pick(t.tx_no, 10 + j, t.in_n::int)
WHERE t.first_out >= %(lo)s AND t.first_out < %(hi)s
UNION ALL
SELECT md5('t:' || t.tx_no)::uuid, t.at, 'transformation', t.site, NULL, NULL, t.site,
       'output', 3 + j, ol.lot_code, ol.product, ol.qty
FROM bench.tx t CROSS JOIN generate_series(0, 1) j
JOIN bench.lots ol ON ol.lot_no = t.first_out + j
WHERE t.first_out >= %(lo)s AND t.first_out < %(hi)s
"""


def generate(conn: psycopg.Connection, plan: Plan, chunk_lots: int) -> None:
    """Fill core.locations, core.lots, core.events, core.event_lots."""
    conn.execute(SETUP_SQL)
    counts = {p: max(m, round(plan.lots * per / 1000)) for p, _, per, m in LOCATION_KINDS}
    for prefix, kind, _, _ in LOCATION_KINDS:
        conn.execute("INSERT INTO bench.kinds VALUES (%s, %s)", (prefix, counts[prefix]))
        conn.execute(
            "INSERT INTO core.locations (location_id, name, kind, city, lat, lon) "
            "SELECT %(p)s || '-' || g, %(kind)s || ' ' || g, %(kind)s, c.city, "
            "       c.lat + (bench.r(g, 1) - 0.5) * 0.3, c.lon + (bench.r(g, 2) - 0.5) * 0.3 "
            "FROM generate_series(0, %(n)s - 1) g "
            "JOIN unnest(%(cities)s::text[], %(lats)s::float8[], %(lons)s::float8[]) "
            "     WITH ORDINALITY AS c(city, lat, lon, i) ON c.i = 1 + g %% 9",
            {"p": prefix, "kind": kind, "n": counts[prefix],
             "cities": [c[0] for c in CITIES], "lats": [c[1] for c in CITIES],
             "lons": [c[2] for c in CITIES]},
        )  # fmt: skip
    conn.execute(DEST_SQL % {k: counts[k] for k in ("DIST", "MKT", "RET", "REST")})
    conn.execute(
        "INSERT INTO core.products (product_code, name, category) "
        "SELECT p, p, 'food' FROM unnest(%s::text[]) p",
        (list(PRODUCTS),),
    )
    conn.execute("CREATE INDEX ON bench.tx (first_out)")
    conn.commit()
    base_k, frac = int(plan.avg_shipments), plan.avg_shipments - int(plan.avg_shipments)
    t0 = "2026-09-01 00:00+00"
    for level, (start, n) in enumerate(plan.levels):
        prev_start, prev_n = plan.levels[level - 1] if level else (0, 0)
        if level:
            tx0 = sum(c // 2 for _, c in plan.levels[1:level])  # first tx_no of this level
            conn.execute(
                "INSERT INTO bench.tx SELECT t, %(lvl)s, %(start)s + 2 * (t - %(tx0)s), "
                "  'PROC-' || bench.pick(t, 3, %(proc)s), "
                "  %(t0)s::timestamptz + %(lvl)s * interval '3 days' "
                "    + bench.r(t, 4) * interval '60 days', "
                "  %(pstart)s, %(pn)s "
                "FROM generate_series(%(tx0)s, %(tx0)s + %(n)s / 2 - 1) t",
                {"lvl": level, "start": start, "proc": counts["PROC"], "t0": t0,
                 "pstart": prev_start, "pn": prev_n, "tx0": tx0, "n": n},
            )  # fmt: skip
        conn.execute(
            "INSERT INTO bench.lots "
            "SELECT i, %(lvl)s, 'LOT-' || lpad(i::text, 8, '0'), "
            "  CASE WHEN %(lvl)s = 0 THEN (%(products)s::text[])[1 + bench.pick(i, 5, %(np)s)] "
            "       ELSE 'processed_' || %(lvl)s END, "
            "  round((200 + bench.r(i, 6) * 800)::numeric, 1), "
            "  CASE WHEN %(lvl)s = 0 THEN %(t0)s::timestamptz + bench.r(i, 4) * interval '60 days' "
            "       ELSE t.at END, "
            "  CASE WHEN %(lvl)s = 0 THEN 'FARM-' || bench.pick(i, 3, %(farms)s) ELSE t.site END, "
            "  CASE WHEN %(lvl)s = 0 THEN 'PACK-' || bench.pick(i, 8, %(packs)s) ELSE t.site END, "
            "  %(k)s + (bench.r(i, 7) < %(frac)s)::int, t.tx_no "
            "FROM generate_series(%(start)s, %(start)s + %(n)s - 1) i "
            "LEFT JOIN bench.tx t ON %(lvl)s > 0 AND t.first_out = i - (i - %(start)s) %% 2",
            {"lvl": level, "products": list(PRODUCTS), "np": len(PRODUCTS), "t0": t0,
             "farms": counts["FARM"], "packs": counts["PACK"], "k": base_k, "frac": frac,
             "start": start, "n": n},
        )  # fmt: skip
        conn.commit()
        log(f"planned level {level}: {n:,} lots")
    conn.execute("ANALYZE bench.lots")
    conn.execute("ANALYZE bench.tx")
    conn.execute(
        "INSERT INTO core.lots (lot_code, product_code, tlc_source_location_id, "
        "  created_by_message_id, created_at, quantity, unit) "
        "SELECT lot_code, product, site, "
        "  CASE WHEN level = 0 THEN md5('h:' || lot_no) ELSE md5('t:' || tx_no) END::uuid, "
        "  created_at, qty, 'kg' FROM bench.lots"
    )
    conn.commit()
    log(f"core.lots: {plan.lots:,} rows")
    conn.execute(
        "CREATE UNLOGGED TABLE bench.stage (message_id uuid, event_time timestamptz, "
        " event_type text, location_id text, source text, dest text, tlc text, role text, "
        " position int, lot_code text, product text, qty numeric)"
    )
    events = 0
    for lo in range(0, plan.lots, chunk_lots):
        hi = min(plan.lots, lo + chunk_lots)
        conn.execute("TRUNCATE bench.stage")
        conn.execute(CHUNK_SQL, {"lo": lo, "hi": hi})
        cur = conn.execute(
            "INSERT INTO core.events (message_id, event_time, actor_id, event_type, location_id, "
            "  source_location_id, destination_location_id, tlc_source_location_id, "
            "  reference_document_type, reference_document_number) "
            "SELECT message_id, event_time, split_part(location_id, '-', 1) || '-actor-' || "
            "  split_part(location_id, '-', 2), event_type, location_id, source, dest, tlc, "
            "  'BOL', left(message_id::text, 13) "
            "FROM bench.stage WHERE position = 0"
        )
        events += cur.rowcount
        conn.execute(
            "INSERT INTO core.event_lots (message_id, event_time, role, position, lot_code, "
            "  product_code, quantity, unit) "
            "SELECT message_id, event_time, role, position, lot_code, product, qty, 'kg' "
            "FROM bench.stage"
        )
        conn.commit()
        log(f"events for lots {lo:,}..{hi:,}: {events:,} of ~{plan.expected_events:,}")
    conn.execute("DROP TABLE bench.stage")
    conn.commit()


def _index_ddl(conn: psycopg.Connection, tables: list[str]) -> list[tuple[str, str, str]]:
    """(table, index name, CREATE/ADD statement) of every index of `tables`."""
    return conn.execute(
        "SELECT i.indrelid::regclass::text, c.relname, "
        "       CASE WHEN con.conname IS NOT NULL "
        "            THEN 'ALTER TABLE ' || i.indrelid::regclass || ' ADD CONSTRAINT ' "
        "                 || quote_ident(con.conname) || ' ' || pg_get_constraintdef(con.oid) "
        "            ELSE pg_get_indexdef(i.indexrelid) END "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.contype = 'p' "
        "WHERE i.indrelid = ANY(%s::regclass[])",
        (tables,),
    ).fetchall()


def without_indexes(conn: psycopg.Connection, tables: list[str], work: Callable[[], None]) -> None:
    """Bulk-load with the indexes dropped, then rebuild them exactly as they were."""
    ddl = _index_ddl(conn, tables)
    for table, name, stmt in ddl:
        if stmt.startswith("ALTER TABLE"):
            conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        else:
            conn.execute(f"DROP INDEX core.{name}")
    conn.commit()
    work()
    started = time.perf_counter()
    for _, _, stmt in ddl:
        conn.execute(stmt)
        conn.commit()
    log(f"rebuilt {len(ddl)} indexes in {time.perf_counter() - started:.0f} s")


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return q[49], q[94], q[98]


def naive_trace(conn: psycopg.Connection, lot: str) -> tuple[set[str], set[str], int]:
    """Breadth-first rounds, one query per lot per step, as peers trace (baseline)."""

    def walk(sql: str) -> set[str]:
        seen, frontier = {lot}, [lot]
        for _ in range(64):
            nxt = []
            for code in frontier:
                for (other,) in conn.execute(sql, (code,)):
                    if other not in seen:
                        seen.add(other)
                        nxt.append(other)
            if not nxt:
                break
            frontier = nxt
        return seen - {lot}

    up = walk("SELECT parent_lot FROM core.lot_edges WHERE child_lot = %s")
    down = walk("SELECT child_lot FROM core.lot_edges WHERE parent_lot = %s")
    rows = 0
    for code in {lot} | up | down:
        rows += len(
            conn.execute(
                "SELECT ll.*, loc.name, loc.city FROM core.lot_locations ll "
                "LEFT JOIN core.locations loc USING (location_id) WHERE ll.lot_code = %s",
                (code,),
            ).fetchall()
        )
    return up, down, rows


SQL_TRACE = """
WITH u AS (SELECT lot_code FROM core.trace_upstream(%(lot)s)),
     d AS (SELECT lot_code FROM core.trace_downstream(%(lot)s))
SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM d),
       (SELECT count(*) FROM core.trace_locations(ARRAY(SELECT lot_code FROM u
                                                        UNION SELECT lot_code FROM d)))
"""


def explain_walks(conn: psycopg.Connection, lot: str) -> None:
    """EXPLAIN the bodies of the walk functions for one lot: index use, not seq scans."""
    for fn in ("trace_downstream", "trace_upstream"):
        body = conn.execute(
            "SELECT prosrc FROM pg_proc WHERE oid = %s::regprocedure", (f"core.{fn}(text,integer)",)
        ).fetchone()[0]
        body = re.sub(r"\bp_max_depth\b", "64", re.sub(r"\bp_lot\b", "%(lot)s", body))
        plan = conn.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + body, {"lot": lot})
        lines = [r[0] for r in plan]
        scans = sorted({m.group(0) for ln in lines
                        for m in re.finditer(r"(Index Only Scan|Index Scan|Seq Scan|Bitmap Heap Scan)"
                                             r"(?: using \w+)? on \w+", ln)})  # fmt: skip
        total = next((ln for ln in lines if "Execution Time" in ln), "").strip()
        log(f"EXPLAIN {fn}({lot}): {'; '.join(scans)}; {total}")


def measure(conn: psycopg.Connection, plan: Plan, samples: int, seed: int) -> None:
    rng = random.Random(seed)
    lots = [lot_code(n) for n in rng.sample(range(plan.lots), samples)]
    explain_walks(conn, lots[0])
    for lot in lots[:20]:  # warm caches and prepared statements alike for all three
        trace(conn, lot, "both")
        conn.execute(SQL_TRACE, {"lot": lot}).fetchone()
        naive_trace(conn, lot)
    api_ms, sql_ms, naive_ms, sizes, mismatches = [], [], [], [], 0
    for i, lot in enumerate(lots, 1):
        t0 = time.perf_counter()
        t = trace(conn, lot, "both")
        t1 = time.perf_counter()
        n_up, n_down, n_loc = conn.execute(SQL_TRACE, {"lot": lot}).fetchone()
        t2 = time.perf_counter()
        up, down, rows = naive_trace(conn, lot)
        t3 = time.perf_counter()
        api_ms.append((t1 - t0) * 1000)
        sql_ms.append((t2 - t1) * 1000)
        naive_ms.append((t3 - t2) * 1000)
        sizes.append(1 + len(t.upstream) + len(t.downstream))
        got = ({u.lot_code for u in t.upstream}, {d.lot_code for d in t.downstream},
               len(t.locations))  # fmt: skip
        if got != (up, down, rows) or (n_up - 1, n_down - 1, n_loc) != (len(up), len(down), rows):
            mismatches += 1
        if i % 200 == 0:
            log(f"traced {i}/{len(lots)}")
    api, sql, naive = percentiles(api_ms), percentiles(sql_ms), percentiles(naive_ms)
    print()
    print(f"Traces ('both', max depth 64) of {len(lots)} random lots, interleaved:")
    print(f"  lots per trace: median {statistics.median(sizes):.0f}, "
          f"p95 {percentiles([float(s) for s in sizes])[1]:.0f}, max {max(sizes)}")  # fmt: skip
    print(f"  {'':28}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    for name, p in (("api.trace() end to end", api), ("SQL functions, 1 statement", sql),
                    ("naive BFS (baseline)", naive)):  # fmt: skip
        print(f"  {name:28}{p[0]:9.2f}{p[1]:9.2f}{p[2]:9.2f}")
    print(f"  naive / api at p50: {naive[0] / api[0]:.1f}x, at p95: {naive[1] / api[1]:.1f}x")
    print(f"  results differing from the baseline: {mismatches}")
    print(f"  target p95 < 50 ms (api): {'met' if api[1] < 50 else 'NOT met'}")


def graph_size(conn: psycopg.Connection) -> None:
    print()
    print("Graph size:")
    for table in ("core.lots", "core.events", "core.event_lots", "core.lot_edges",
                  "core.lot_locations", "core.link_queue", "core.locations"):  # fmt: skip
        n = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        print(f"  {table:24}{n:>14,}")
    size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()
    print(f"  database size: {size[0]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--lots", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--samples", type=int, default=1000, help="random lots to trace")
    ap.add_argument("--chunk-lots", type=int, default=100_000, help="lots per generation step")
    ap.add_argument("--link-batch", type=int, default=50_000, help="link() batch size")
    ap.add_argument("--seed", type=int, default=204)
    ap.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    args = ap.parse_args()
    # `kill PID` still drops the bench database (finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    plan = Plan(args.lots, args.events)
    name = f"ft_bench_trace_{uuid.uuid4().hex[:8]}"
    url = psycopg.conninfo.make_conninfo(ADMIN_URL, dbname=name)
    log(f"plan: {plan.lots:,} lots in levels {[n for _, n in plan.levels]}, "
        f"{plan.transformations:,} transformations, {plan.avg_shipments:.2f} shipments/lot, "
        f"~{plan.expected_events:,} events; database {name}")  # fmt: skip
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with connect(url) as conn:
            migrate(conn)
            conn.execute("SET synchronous_commit = off")
            conn.execute("SET maintenance_work_mem = '1GB'")
            conn.execute("SET work_mem = '256MB'")
            conn.commit()
            started = time.perf_counter()
            without_indexes(
                conn,
                ["core.events", "core.event_lots", "core.lots", "core.link_queue"],
                lambda: generate(conn, plan, args.chunk_lots),
            )
            conn.execute("ANALYZE")
            conn.commit()
            log(f"generated in {time.perf_counter() - started:.0f} s")

            conn.execute("RESET work_mem")
            conn.commit()

            pages = [0]

            def progress(source: str, rows: int) -> None:
                pages[0] += 1
                if pages[0] % 20 == 0:
                    log(f"linked {rows:,} {source}s")

            stats = link(conn, batch_size=args.link_batch, progress=progress)
            log(f"link(): {stats.events:,} events -> {stats.edges:,} edges, "
                f"{stats.lot_locations:,} lot_locations in {stats.seconds:.0f} s "
                f"({stats.events / max(stats.seconds, 1e-9):,.0f} events/s)")  # fmt: skip
            again = link(conn, batch_size=args.link_batch)
            log(f"link() again with nothing new: {again.events} events in {again.seconds:.3f} s")
            conn.autocommit = True
            conn.execute("VACUUM ANALYZE core.lot_edges")
            conn.execute("VACUUM ANALYZE core.lot_locations")
            conn.execute("VACUUM ANALYZE core.lots")
            conn.autocommit = False
            graph_size(conn)
            conn.commit()
            conn.autocommit = True  # traces are read-only: no transaction per trace
            measure(conn, plan, args.samples, args.seed)
    finally:
        if args.keep:
            log(f"kept database {name}")
        else:
            with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            log(f"dropped database {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
