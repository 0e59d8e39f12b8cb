"""Validation throughput: landing -> core for a batch of chain events, against a
naive per-row baseline measured in the same run.

  (a) foodtrace: `validate_and_promote()` (set-based SQL + great_expectations
      suites over DataFrame batches, one transaction per batch);
  (b) baseline: per row, jsonschema validation of the payload, the same FSMA 204
      KDE checks in Python, one SELECT per reference (location, products, the
      matching shipping of a receiving) and one INSERT per core row, committed
      per message (how a straightforward consumer would do it). Run on the first
      --baseline-rows events into a second throwaway database, rows/s compared.

The events come from the simulator (`foodtrace.simulate.simulate_day`), the first
--events of a large enough day in event-time order, landed into landing.* of a
throwaway database as the ingest edge would. Master data is validated first (and
great_expectations imported) outside the timed section.

    .venv/bin/python bench/validation/run.py --events 100000
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import time
import uuid
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import psycopg
from psycopg import sql

from foodtrace.db import connect, migrate
from foodtrace.simulate import simulate_day
from foodtrace.validate.promote import validate_and_promote
from foodtrace.validate.rules import _KDES

ADMIN_URL = os.environ.get("FOODTRACE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "json" / "chain-event.v1.json"
EVENTS_PER_SCALE = 2820  # simulate_day(..., scale=1.0) makes about this many


@contextmanager
def throwaway_db(tag: str):
    name = f"ft_bench_{tag}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = psycopg.conninfo.make_conninfo(ADMIN_URL, dbname=name)
    try:
        with connect(url) as conn:
            migrate(conn)
        yield url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def generate(n_events: int, seed: int):
    scale = max(1.0, n_events / EVENTS_PER_SCALE * 1.15)
    started = time.perf_counter()
    sim = simulate_day(seed, date.today() - timedelta(days=2), scale=scale)
    events = sim.chain_events[:n_events]
    if len(events) < n_events:
        raise SystemExit(f"the simulator made only {len(events)} events at scale {scale:.1f}")
    print(
        f"simulated {len(sim.chain_events):,} events ({len(sim.locations):,} locations, "
        f"{len(sim.products)} products) at scale {scale:.1f} in "
        f"{time.perf_counter() - started:.1f} s; using the first {n_events:,}"
    )
    return sim.locations, sim.products, events


def land(conn: psycopg.Connection, locations, products, events) -> None:
    """COPY into landing (the queue triggers fire per statement, as with the edge)."""
    with conn.cursor() as cur:
        with cur.copy(
            "COPY landing.master_data (message_id, kind, natural_key, topic, payload) FROM STDIN"
        ) as copy:
            for p in locations:
                copy.write_row(
                    (p["message_id"], "location", p["location_id"], "registry", json.dumps(p))
                )
            for p in products:
                copy.write_row(
                    (p["message_id"], "product", p["product_code"], "registry", json.dumps(p))
                )
        with cur.copy(
            "COPY landing.chain_events (message_id, actor_id, topic, payload) FROM STDIN"
        ) as copy:
            for p in events:
                copy.write_row(
                    (
                        p["message_id"],
                        p["actor_id"],
                        f"foodtrace/v1/chain/{p['actor_id']}/events",
                        json.dumps(p),
                    )
                )
    conn.commit()


class _Laps(logging.Handler):
    """Sums the per-phase seconds promote.py logs for each batch."""

    PATTERN = re.compile(r"(\w+) ([0-9.]+)s")

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.totals: dict[str, float] = {}
        self.batches = 0

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if "chain_event batch" not in msg:
            return
        self.batches += 1
        for name, secs in self.PATTERN.findall(msg.split(":", 1)[1]):
            self.totals[name] = self.totals.get(name, 0.0) + float(secs)


def run_foodtrace(url: str, locations, products, events, batch_size: int) -> dict[str, Any]:
    with connect(url) as conn:
        land(conn, locations, products, [])
        validate_and_promote(conn, write_reports=False)  # master data; imports GX
        land_started = time.perf_counter()
        land(conn, [], [], events)
        landed_s = time.perf_counter() - land_started
        laps = _Laps()
        logger = logging.getLogger("foodtrace.validate.promote")
        logger.setLevel(logging.DEBUG)
        logger.addHandler(laps)
        started = time.perf_counter()
        stats = validate_and_promote(conn, write_reports=False, batch_size=batch_size)
        seconds = time.perf_counter() - started
        logger.removeHandler(laps)
        promoted = conn.execute("SELECT count(*) FROM core.events").fetchone()[0]
    return {
        "rows": len(events),
        "landing_copy_s": landed_s,
        "seconds": seconds,
        "rows_per_s": len(events) / seconds,
        "promoted": stats.promoted,
        "quarantined": stats.quarantined,
        # HEAD~1 held rows back; since 0008 nothing is held, findings are recorded instead
        "held": getattr(stats, "held", 0),
        "findings": getattr(stats, "findings", None),
        "core_events": promoted,
        "batches": laps.batches,
        "phases": laps.totals,
    }


# --- the baseline: one message at a time ---------------------------------------------


def _kde_value(p: dict[str, Any], column: str) -> Any:
    kdes = p.get("kdes") or {}
    lines = {r: p.get(r) or [] for r in ("lots", "inputs", "outputs")}
    role = column.split("_", 1)[0]
    if role in lines and column.split("_", 1)[1] in ("tlc", "qty", "product"):
        what = column.split("_", 1)[1]
        rows = lines[role]
        if not rows:
            return None
        key = {"tlc": "lot_code", "product": "product_code", "qty": "quantity"}[what]
        return True if all(r.get(key) for r in rows) else None
    return {
        "next_recipient": kdes.get("immediate_subsequent_recipient_location_id")
        or p.get("destination_location_id"),
        "harvest_farm": kdes.get("harvest_location_id") or p.get("tlc_source_location_id"),
        "harvest_date": kdes.get("harvest_date"),
        "field_kde": kdes.get("field_id") or kdes.get("container_id") or kdes.get("pen_id") or "-",
        "container_kde": "-",
        "catch_kde": kdes.get("harvest_area"),
        "tlc_source": p.get("tlc_source_location_id") or kdes.get("tlc_source_reference"),
        "reference_document": p.get("reference_document"),
        "event_time_utc": p.get("event_time"),
    }.get(column, p.get(column))


KDES_BY_TYPE: dict[str, list[tuple[str, str | None]]] = {}
for _event_type, _label, _column, _cfr in _KDES:
    KDES_BY_TYPE.setdefault(_event_type, []).append((_column, _cfr))


def baseline(url: str, locations, products, events) -> dict[str, Any]:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    with connect(url) as conn:
        land(conn, locations, products, [])
        validate_and_promote(conn, write_reports=False)  # master data, not timed
        started = time.perf_counter()
        promoted = rejected = 0
        for p in events:
            reasons = [e.message for e in validator.iter_errors(p)]
            for column, cfr in KDES_BY_TYPE.get(p.get("event_type"), []):
                if _kde_value(p, column) is None:
                    reasons.append(f"{p['event_type']} lacks {column} ({cfr})")
            if (
                conn.execute(
                    "SELECT 1 FROM core.locations WHERE location_id = %s", (p.get("location_id"),)
                ).fetchone()
                is None
            ):
                reasons.append("unknown location")
            lines = (p.get("lots") or []) + (p.get("inputs") or []) + (p.get("outputs") or [])
            for line in lines:
                if (
                    conn.execute(
                        "SELECT 1 FROM core.products WHERE product_code = %s",
                        (line["product_code"],),
                    ).fetchone()
                    is None
                ):
                    reasons.append("unknown product")
            if p.get("event_type") == "receiving":
                for line in p["lots"]:
                    if (
                        conn.execute(
                            "SELECT 1 FROM core.event_lots el JOIN core.events e "
                            "ON e.message_id = el.message_id AND e.event_time = el.event_time "
                            "WHERE el.lot_code = %s AND e.event_type = 'shipping' "
                            "AND e.location_id = %s AND e.destination_location_id = %s LIMIT 1",
                            (line["lot_code"], p["source_location_id"], p["location_id"]),
                        ).fetchone()
                        is None
                    ):
                        reasons.append("no matching shipping")
            if reasons:
                rejected += 1
                conn.rollback()
                continue
            ref = p["reference_document"]
            conn.execute(
                "INSERT INTO core.events (message_id, event_time, actor_id, event_type, "
                "location_id, source_location_id, destination_location_id, "
                "tlc_source_location_id, reference_document_type, reference_document_number, "
                "kdes) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (
                    p["message_id"],
                    p["event_time"],
                    p["actor_id"],
                    p["event_type"],
                    p["location_id"],
                    p.get("source_location_id"),
                    p.get("destination_location_id"),
                    p.get("tlc_source_location_id"),
                    ref["type"],
                    ref["number"],
                    json.dumps(p.get("kdes") or {}),
                ),
            )
            for role, key in (("lot", "lots"), ("input", "inputs"), ("output", "outputs")):
                for pos, line in enumerate(p.get(key) or []):
                    conn.execute(
                        "INSERT INTO core.event_lots (message_id, event_time, role, position, "
                        "lot_code, product_code, quantity, unit) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                        (
                            p["message_id"],
                            p["event_time"],
                            role,
                            pos,
                            line["lot_code"],
                            line["product_code"],
                            line["quantity"],
                            line["unit"],
                        ),
                    )
                    conn.execute(
                        "INSERT INTO core.lots (lot_code, product_code) VALUES (%s, %s) "
                        "ON CONFLICT DO NOTHING",
                        (line["lot_code"], line["product_code"]),
                    )
            conn.commit()
            promoted += 1
        seconds = time.perf_counter() - started
    return {
        "rows": len(events),
        "seconds": seconds,
        "rows_per_s": len(events) / seconds,
        "promoted": promoted,
        "rejected": rejected,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--baseline-rows", type=int, default=5_000)
    ap.add_argument("--batch-size", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=204)
    ap.add_argument(
        "--bad-percent",
        type=float,
        default=0.0,
        help="drop the reference document of this share of events (they are "
        "quarantined: measures the failure path)",
    )
    args = ap.parse_args()

    locations, products, events = generate(args.events, args.seed)
    if args.bad_percent:
        step = max(1, round(100 / args.bad_percent))
        events = [dict(e) for e in events]
        for e in events[::step]:
            e.pop("reference_document", None)
    with throwaway_db("set") as url:
        ours = run_foodtrace(url, locations, products, events, args.batch_size)
    with throwaway_db("naive") as url:
        base = baseline(url, locations, products, events[: args.baseline_rows])

    print()
    print(
        f"foodtrace validate_and_promote: {ours['rows']:,} chain events in "
        f"{ours['seconds']:.1f} s = {ours['rows_per_s']:,.0f} rows/s "
        f"({ours['batches']} batches of up to {args.batch_size:,}; promoted "
        f"{ours['promoted']:,}, quarantined {ours['quarantined']:,}, held {ours['held']:,}"
        + (f", findings {ours['findings']:,})" if ours["findings"] is not None else ")")
    )
    phases = ", ".join(f"{k} {v:.1f} s" for k, v in ours["phases"].items())
    print(f"  phases: {phases}")
    print(f"  (landing COPY of the events, not timed: {ours['landing_copy_s']:.1f} s)")
    print(
        f"baseline per-row jsonschema + SELECTs + INSERTs, commit per message: "
        f"{base['rows']:,} events in {base['seconds']:.1f} s = {base['rows_per_s']:,.0f} "
        f"rows/s (promoted {base['promoted']:,}, rejected {base['rejected']:,})"
    )
    ratio = ours["rows_per_s"] / base["rows_per_s"]
    print(f"ratio foodtrace / baseline: {ratio:.1f}x")
    estimate = args.events / base["rows_per_s"]
    print(
        f"baseline extrapolated to {args.events:,} events: {estimate:.0f} s "
        f"({math.ceil(estimate / 60)} min)"
    )
    print(json.dumps({"foodtrace": ours, "baseline": base, "ratio": ratio}, default=str))


if __name__ == "__main__":
    main()
