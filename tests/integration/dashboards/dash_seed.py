"""A small Pearl River Delta incident, written the way the pipeline leaves it, so the
dashboards have something to show.

Promoted rows go straight into core.* (what validate_and_promote writes), then the
real pipeline steps that exist run on them: the trace team's link() builds the lot
graph and the alerts engine's evaluate() raises alerts and fills the CAP outbox.
Ingest counters and quarantine rows are what the ingest edge writes.

No COPY anywhere: the same seed runs through the PGlite socket, which cannot COPY.

The story (times relative to `now`, so the dashboards' default ranges include it):
  farm (Zhaoqing) harvests spinach lot F -> packer (Guangzhou) receives it and
  packs it into lot P -> ships to a retailer (Shenzhen) that sells it. A rapid test
  at the packer is positive for clenbuterol on F (warning) and a confirmatory test
  finds 0.9 mg/kg lead in P (leafy-vegetable limit 0.3: critical).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from hashlib import sha256

import psycopg


@dataclass(frozen=True)
class Seeded:
    farm_lot: str  # the harvested lot
    packed_lot: str  # made from farm_lot at the packer
    cities: tuple[str, ...]  # where the lots went
    alerts: int  # alerts the engine raised


LOCATIONS = [
    # (suffix, kind, city, lat, lon)
    ("farm", "farm", "zhaoqing", 23.05, 112.47),
    ("packer", "packer", "guangzhou", 23.13, 113.26),
    ("retail", "retailer", "shenzhen", 22.54, 114.06),
    ("lab", "lab", "guangzhou", 23.12, 113.30),
]


def seed(conn: psycopg.Connection, now: datetime | None = None) -> Seeded:
    now = now or datetime.now(UTC)
    p = f"D{uuid.uuid4().hex[:6]}"
    loc = {suffix: f"{p}-{suffix}" for suffix, *_ in LOCATIONS}
    for suffix, kind, city, lat, lon in LOCATIONS:
        conn.execute(
            "INSERT INTO core.locations (location_id, name, kind, city, lat, lon) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (loc[suffix], f"{suffix} {city}", kind, city, lat, lon),
        )
    conn.execute(
        "INSERT INTO core.products (product_code, name, category) VALUES (%s, %s, %s), "
        "(%s, %s, %s) ON CONFLICT DO NOTHING",
        (
            f"{p}-spinach",
            "Spinach",
            "leafy_vegetables",
            f"{p}-bagged",
            "Bagged spinach",
            "leafy_vegetables",
        ),
    )
    farm_lot, packed_lot = f"{p}-LOT-F", f"{p}-LOT-P"
    spinach, bagged = f"{p}-spinach", f"{p}-bagged"
    t0 = now - timedelta(hours=30)

    def event(hours: float, kind: str, at: str, lots=(), inputs=(), outputs=(), **extra):
        mid, when = uuid.uuid4(), t0 + timedelta(hours=hours)
        conn.execute(
            "INSERT INTO core.events (message_id, event_time, actor_id, event_type, location_id,"
            " source_location_id, destination_location_id, tlc_source_location_id,"
            " reference_document_type, reference_document_number)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'BOL', %s)",
            (
                mid,
                when,
                loc[at],
                kind,
                loc[at],
                extra.get("source"),
                extra.get("dest"),
                extra.get("tlc"),
                f"DOC-{mid.hex[:6]}",
            ),
        )
        rows = [("lot", x) for x in lots] + [("input", x) for x in inputs]
        rows += [("output", x) for x in outputs]
        for position, (role, (code, product, qty)) in enumerate(rows):
            conn.execute(
                "INSERT INTO core.event_lots (message_id, event_time, role, position, lot_code,"
                " product_code, quantity, unit) VALUES (%s, %s, %s, %s, %s, %s, %s, 'kg')",
                (mid, when, role, position, code, product, Decimal(qty)),
            )
            if role == "output" or kind == "harvesting":
                conn.execute(
                    "INSERT INTO core.lots (lot_code, product_code, tlc_source_location_id,"
                    " created_by_message_id, created_at, quantity, unit)"
                    " VALUES (%s, %s, %s, %s, %s, %s, 'kg')",
                    (code, product, loc[at], mid, when, Decimal(qty)),
                )
        return mid, when, loc[at], kind

    farm = (farm_lot, spinach, "500")
    event(0, "harvesting", "farm", [farm], tlc=loc["farm"])
    event(2, "shipping", "farm", [farm], dest=loc["packer"])
    event(5, "receiving", "packer", [farm], source=loc["farm"])
    event(
        6,
        "transformation",
        "packer",
        inputs=[farm],
        outputs=[(packed_lot, bagged, "480")],
        tlc=loc["packer"],
    )
    event(8, "shipping", "packer", [(packed_lot, bagged, "120")], dest=loc["retail"])
    retail_receiving = event(
        11, "receiving", "retail", [(packed_lot, bagged, "120")], source=loc["packer"]
    )
    event(14, "sale", "retail", [(packed_lot, bagged, "20")])

    def lab_result(hours: float, lot: str, kind: str, analyte: str, **v) -> None:
        mid, tested = uuid.uuid4(), t0 + timedelta(hours=hours)
        conn.execute(
            "INSERT INTO core.lab_results (message_id, tested_at, lab_id, sample_id, lot_code,"
            " product_code, sampled_at, sampled_location_id, test_kind, method, analyte, value,"
            " unit, value_mg_per_kg, result)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                mid,
                tested,
                loc["lab"],
                f"S-{mid.hex[:8]}",
                lot,
                v.get("product"),
                tested - timedelta(hours=1),
                loc["packer"],
                kind,
                v["method"],
                analyte,
                v.get("value"),
                v.get("unit"),
                v.get("value"),
                v.get("result"),
            ),
        )

    lab_result(
        7, farm_lot, "rapid", "clenbuterol", method="colloidal gold strip", result="positive"
    )
    lab_result(
        7.5,
        farm_lot,
        "rapid",
        "organophosphates_carbamates",
        method="colloidal gold strip",
        result="negative",
    )
    lab_result(
        20,
        packed_lot,
        "confirmatory",
        "lead",
        method="GB 5009.12 ICP-MS",
        value=Decimal("0.9"),
        unit="mg/kg",
        product=bagged,
    )
    _ingest_counters(conn, now, p)
    _validation(conn, now, p)
    _kde_gap(conn, retail_receiving, loc["packer"])
    conn.commit()

    from foodtrace.alerts.engine import evaluate
    from foodtrace.trace.link import link

    link(conn)
    alerts = evaluate(conn)
    conn.commit()
    return Seeded(farm_lot, packed_lot, ("zhaoqing", "guangzhou", "shenzhen"), len(alerts))


def _validation(conn: psycopg.Connection, now: datetime, prefix: str) -> None:
    """A validation run with one failed expectation, and one landed message that no
    run has validated yet (the landing trigger queues it)."""
    run_id = conn.execute(
        "INSERT INTO ops.validation_runs (started_at, finished_at, kind, suite_name,"
        " rows_checked, rows_passed, rows_failed, rows_held, success)"
        " VALUES (%s, %s, 'chain_event', 'chain_event.kdes', 10, 8, 1, 1, false)"
        " RETURNING run_id",
        (now - timedelta(minutes=20), now - timedelta(minutes=19)),
    ).fetchone()[0]
    conn.execute(
        "INSERT INTO ops.validation_results (run_id, rule, expectation, column_name,"
        " cfr_section, on_failure, success, element_count, unexpected_count)"
        " VALUES (%s, 'kde.receiving.tlc_source', 'expect_column_values_to_not_be_null',"
        " 'tlc_source_location_id', '21 CFR 1.1345(a)(7)', 'quarantine', false, 10, 1),"
        " (%s, 'kde.shipping.destination', 'expect_column_values_to_not_be_null',"
        " 'destination_location_id', '21 CFR 1.1340(a)(3)', 'quarantine', true, 10, 0)",
        (run_id, run_id),
    )
    conn.execute(
        "INSERT INTO landing.lab_results (message_id, lab_id, topic, payload)"
        " VALUES (%s, 'lab-gz-01', 'foodtrace/v1/labs/lab-gz-01/results', %s)",
        (uuid.uuid4(), json.dumps({"schema": "foodtrace/lab-result/v1", "seed": prefix})),
    )


def _kde_gap(conn: psycopg.Connection, event: tuple, tlc_source: str) -> None:
    """The retail receiving did not name the TLC source; validation found it missing
    and the lot graph derived it (the KDE completeness scorecard still counts it)."""
    mid, when, sender, kind = event
    conn.execute(
        "INSERT INTO core.findings (kind, message_id, sender_id, event_type, event_time, rule,"
        " code, severity, cfr_section, message, path, resolved_at, resolution, resolved_value)"
        " VALUES ('chain_event', %s, %s, %s, %s, 'kde.receiving.tlc_source', 'kde_missing',"
        " 'warning', '21 CFR 1.1345(a)(7)',"
        " 'receiving event lacks TLC source (21 CFR 1.1345(a)(7))', 'tlc_source', now(),"
        " 'derived', %s)",
        (mid, sender, kind, when, tlc_source),
    )


def _ingest_counters(conn: psycopg.Connection, now: datetime, prefix: str) -> None:
    for minute in range(30):
        for worker in ("ingest-1", "ingest-2"):
            conn.execute(
                "INSERT INTO ops.ingest_stats (ts, worker_id, received, stored, duplicates,"
                " quarantined, lag_avg_s, lag_max_s) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    now - timedelta(minutes=minute),
                    f"{prefix}-{worker}",
                    120,
                    110,
                    8,
                    2,
                    0.05,
                    0.4,
                ),
            )
    _ingest_workers(conn, now, prefix)
    reasons = [
        ("edge", "lab-gz-01", [{"code": "schema", "message": "'lot_code' is a required property"}]),
        ("edge", "farm-zq-01", [{"code": "sender_mismatch", "message": "topic says farm-zq-01"}]),
        ("validation", "lab-gz-01", [{"code": "unknown_location", "message": "no such place"}]),
    ]
    for i, (stage, sender, why) in enumerate(reasons):
        raw = json.dumps({"n": i, "p": prefix}).encode()
        conn.execute(
            "INSERT INTO landing.quarantine (dedup_key, stage, received_at, topic, sender_id,"
            " raw, reasons) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (
                sha256(raw).digest(),
                stage,
                now - timedelta(minutes=5 * i),
                f"foodtrace/v1/labs/{sender}/results",
                sender,
                raw,
                json.dumps(why),
            ),
        )


def _ingest_workers(conn: psycopg.Connection, now: datetime, prefix: str) -> None:
    """ingest-1 alive; ingest-2 was SIGKILLed 20 minutes ago and ingest-1 took over
    its session 30 s later (what ingest/takeover.py records)."""
    alive, dead = f"{prefix}-ingest-1", f"{prefix}-ingest-2"
    died = now - timedelta(minutes=20)
    for worker, state, beat, ended in (
        (alive, "running", now - timedelta(seconds=2), None),
        (dead, "taken_over", died, died + timedelta(seconds=33)),
    ):
        conn.execute(
            "INSERT INTO ops.ingest_workers (worker_id, client_id, state, host, pid, started_at,"
            " last_heartbeat, heartbeat_s, session_ended_at)"
            " VALUES (%s, %s, %s, 'ingest-host', 4242, %s, %s, 5, %s)",
            (worker, f"foodtrace-ingest-{worker}", state, now - timedelta(hours=3), beat, ended),
        )
    conn.execute(
        "INSERT INTO ops.ingest_takeovers (worker_id, by_worker_id, last_heartbeat, started_at,"
        " finished_at, session_present, messages, stored, duplicates, quarantined, outcome)"
        " VALUES (%s, %s, %s, %s, %s, true, 412, 409, 3, 0, 'drained')",
        (
            dead,
            alive,
            died,
            died + timedelta(seconds=30),
            died + timedelta(seconds=33),
        ),
    )



def answer_notices(conn: psycopg.Connection) -> None:
    """The withdrawal notices the alerts engine issued for the seed: the first
    business reports half of its first lot withdrawn (through landing, as the edge
    lands it), then the withdrawal step's work (foodtrace.withdrawals.step.run) runs
    with a clock past every deadline, so the other businesses go overdue."""
    from foodtrace.withdrawals.step import run

    notices = conn.execute(
        "SELECT notice_id, actor_id, lots, deadline FROM core.withdrawal_notices"
        " WHERE state <> 'superseded' AND action <> 'released'"
        " ORDER BY city, actor_id"
    ).fetchall()
    assert len(notices) >= 2, "the seed should notify at least two businesses"
    notice_id, actor, lots, _ = next(n for n in notices if n[2][0].get("quantity_held"))
    first = lots[0]
    body = {
        "schema": "foodtrace/withdrawal-report/v1",
        "message_id": str(uuid.uuid4()),
        "actor_id": actor,
        "notice_id": str(notice_id),
        "status": "withdrawn",
        "reported_at": datetime.now(UTC).isoformat(),
        "lots": [
            {
                "lot_code": first["lot_code"],
                "quantity": float(Decimal(str(first["quantity_held"])) / 2),
                "unit": first["unit"],
            }
        ],
        "disposition": "returned",
    }
    conn.execute(
        "INSERT INTO landing.withdrawal_reports (message_id, actor_id, topic, received_at,"
        " payload) VALUES (%s, %s, %s, now(), %s)",
        (body["message_id"], actor, f"foodtrace/v1/chain/{actor}/withdrawals", json.dumps(body)),
    )
    conn.commit()
    latest = max(n[3] for n in notices if n[3] is not None)
    run(conn, None, now=latest + timedelta(hours=1))
    conn.commit()
