"""validate_and_promote(): what lands in core, findings recorded and answered
later (references that arrive, KDEs the graph derives), idempotency, late commits, master-data ordering, concurrent callers, run records."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
from validation_helpers import DROP, Builder, land, outcome, run

from foodtrace.db import connect
from foodtrace.validate.promote import validate_and_promote

COUNTED = (
    "core.locations",
    "core.products",
    "core.events",
    "core.event_lots",
    "core.lots",
    "core.lab_results",
    "landing.quarantine",
    "landing.validation_queue",
)


def _counts(conn: psycopg.Connection) -> dict[str, int]:
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in COUNTED}


def _snapshot(conn: psycopg.Connection) -> list[tuple]:
    """Everything promotion writes, as comparable rows (timestamps of writing left out)."""
    out = []
    for table, cols in (
        ("core.events", "message_id, event_time, event_type, location_id, tlc_source_location_id"),
        ("core.event_lots", "message_id, role, position, lot_code, quantity, unit"),
        (
            "core.lots",
            "lot_code, product_code, tlc_source_location_id, created_by_message_id, "
            "created_at, quantity",
        ),
        ("core.lab_results", "message_id, tested_at, lot_code, product_code, value_mg_per_kg"),
        ("core.locations", "location_id, name, message_id"),
        ("landing.quarantine", "message_id, stage, reasons::text"),
        ("core.findings", "message_id, rule, severity, resolution"),
        ("core.sender_notices", "message_id, stage, stored, body::text"),
    ):
        out += [(table, *r) for r in conn.execute(f"SELECT {cols} FROM {table} ORDER BY 1, 2")]
    return out


def _master(conn: psycopg.Connection, b: Builder) -> None:
    for p in b.locations():
        land(conn, "location", p)
    for p in b.products():
        land(conn, "product", p)


def test_promotes_into_core_with_utc_times_lots_and_normalised_values(vconn) -> None:
    b = Builder()
    _master(vconn, b)
    chain = b.good_chain()
    for p in chain:
        land(vconn, "chain_event", p)
    shipped_unknown = b.shipping(b.lot("ELSEWHERE"), b.market, b.shop, 20, 4)  # first seen here
    land(vconn, "chain_event", shipped_unknown)
    labs = [
        b.lab_result(b.lot("L1")),  # % stays null in mg/kg, product from the lot
        b.lab_result(
            b.lot("L2"),
            test_kind="confirmatory",
            analyte="lead",
            value=0.05,
            unit="mg/kg",
            result=DROP,
            method="ICP-MS",
        ),
        b.lab_result(
            b.lot("L3"),
            test_kind="confirmatory",
            analyte="malachite_green",
            value=1.5,
            unit="ug/kg",
            result=DROP,
            method="LC-MS/MS",
            product_code=b.fish,
        ),
    ]
    for p in labs:
        land(vconn, "lab_result", p)

    stats = run(vconn)
    assert (stats.promoted, stats.quarantined, stats.findings) == (9 + len(chain) + 1 + 3, 0, 0)

    harvest = chain[0]
    stored = vconn.execute(
        "SELECT event_time, tlc_source_location_id, reference_document_number, kdes "
        "FROM core.events WHERE message_id = %s",
        (harvest["message_id"],),
    ).fetchone()
    assert stored[0] == datetime.fromisoformat(harvest["event_time"]).astimezone(UTC)
    assert harvest["event_time"].endswith("+08:00")
    assert stored[1:] == (b.farm, harvest["reference_document"]["number"], harvest["kdes"])

    transformation = chain[7]
    lines = vconn.execute(
        "SELECT role, position, lot_code, quantity, unit FROM core.event_lots "
        "WHERE message_id = %s ORDER BY role, position",
        (transformation["message_id"],),
    ).fetchall()
    assert lines == [
        ("input", 0, b.lot("L1"), Decimal("900"), "kg"),
        ("output", 0, b.lot("L2"), Decimal("800"), "kg"),
    ]

    lots = {
        r[0]: r[1:]
        for r in vconn.execute(
            "SELECT lot_code, product_code, tlc_source_location_id, created_by_message_id, quantity "
            "FROM core.lots"
        )
    }
    # harvesting created L1 (the later initial packing did not take it over)
    assert lots[b.lot("L1")] == (b.veg, b.farm, _uuid(harvest), Decimal("1000"))
    assert lots[b.lot("L2")] == (b.mix, b.plant, _uuid(transformation), Decimal("800"))
    assert lots[b.lot("L4")][2] == _uuid(chain[12])  # first land-based receiving
    # a lot first seen in a shipping still gets a row, with no creator
    assert lots[b.lot("ELSEWHERE")] == (b.veg, b.farm, None, None)

    values = dict(
        vconn.execute(
            "SELECT lot_code, (product_code, value, unit, value_mg_per_kg)::text FROM core.lab_results"
        )
    )
    assert values[b.lot("L1")] == f"({b.veg},20.5,%,)"
    assert values[b.lot("L2")] == f"({b.mix},0.05,mg/kg,0.05)"
    assert values[b.lot("L3")] == f"({b.fish},1.5,ug/kg,0.0015)"


def _uuid(payload: dict) -> object:
    import uuid

    return uuid.UUID(payload["message_id"])


def test_a_late_creation_event_takes_over_a_lot_first_seen_elsewhere(vconn) -> None:
    b = Builder()
    _master(vconn, b)
    lot = b.lot("LATE")
    land(vconn, "chain_event", b.shipping(lot, b.farm, b.market, 50, 2))
    run(vconn)
    assert vconn.execute(
        "SELECT created_by_message_id FROM core.lots WHERE lot_code = %s", (lot,)
    ).fetchone() == (None,)
    harvest = b.harvesting(lot, 60, 0)
    land(vconn, "chain_event", harvest)
    run(vconn)
    assert vconn.execute(
        "SELECT created_by_message_id, quantity FROM core.lots WHERE lot_code = %s", (lot,)
    ).fetchone() == (_uuid(harvest), 60)
    # ...but a second creation of the same code is an error finding against core: it
    # is stored (the trace shows both places) and does not take the lot over
    again = b.harvesting(lot, 60, 1)
    land(vconn, "chain_event", again)
    run(vconn)
    assert outcome(vconn, again["message_id"])[0] == "promoted"
    assert _findings(vconn, again["message_id"]) == {
        "reference.tlc_assigned_once": ("error", None, None)
    }
    assert vconn.execute(
        "SELECT created_by_message_id FROM core.lots WHERE lot_code = %s", (lot,)
    ).fetchone() == (_uuid(harvest),)


def _findings(conn: psycopg.Connection, message_id: str) -> dict[str, tuple]:
    return {
        rule: (severity, resolution, value)
        for rule, severity, resolution, value in conn.execute(
            "SELECT rule, severity, resolution, resolved_value FROM core.findings "
            "WHERE message_id = %s",
            (message_id,),
        )
    }


def test_references_not_there_yet_are_findings_answered_when_they_arrive(
    vconn, tmp_path: Path
) -> None:
    b = Builder()
    _master(vconn, b)
    lot = b.lot("H1")
    harvest = b.harvesting(lot, 100, 0)
    receiving = b.receiving(lot, b.farm, b.packer, 100, 2)
    lab = b.lab_result(b.lot("H2"))  # names a lot no event has named yet
    land(vconn, "chain_event", harvest)
    land(vconn, "chain_event", receiving)  # its shipping has not landed yet
    land(vconn, "lab_result", lab)

    first = run(vconn, tmp_path)  # nothing waits: all three are in core at once
    assert (first.promoted - 9, first.findings, first.quarantined) == (3, 2, 0)
    assert outcome(vconn, receiving["message_id"])[0] == "promoted"
    assert outcome(vconn, lab["message_id"])[0] == "promoted"
    assert vconn.execute("SELECT count(*) FROM landing.validation_queue").fetchone()[0] == 0
    assert vconn.execute("SELECT count(*) FROM landing.quarantine").fetchone()[0] == 0
    assert _findings(vconn, receiving["message_id"]) == {
        "reference.receiving_matches_shipping": ("info", None, None)
    }
    assert _findings(vconn, lab["message_id"]) == {"reference.lot_known": ("info", None, None)}

    again = run(vconn)  # nothing new: nothing changes
    assert (again.promoted, again.findings) == (0, 0)

    land(vconn, "chain_event", b.shipping(lot, b.farm, b.packer, 100, 1))
    land(vconn, "chain_event", b.harvesting(b.lot("H2"), 10, 0))
    answered = run(vconn)
    assert (answered.promoted, answered.findings, answered.quarantined) == (2, 0, 0)
    assert _findings(vconn, receiving["message_id"]) == {
        "reference.receiving_matches_shipping": ("info", "reference_arrived", b.farm)
    }
    assert _findings(vconn, lab["message_id"]) == {
        "reference.lot_known": ("info", "reference_arrived", None)
    }


def test_master_data_after_the_events_answers_their_findings(vconn) -> None:
    b = Builder()
    _master(vconn, b)
    shop = b.lot("SHOP")  # a location id nobody registered yet
    shipping = b.shipping(b.lot("M1"), shop, b.market, 5, 1)
    land(vconn, "chain_event", shipping)
    assert run(vconn).kinds["chain_event"].promoted == 1
    assert _findings(vconn, shipping["message_id"])["reference.location_known"][1] is None
    land(vconn, "location", b.location(shop, "retailer"))
    run(vconn)
    assert _findings(vconn, shipping["message_id"])["reference.location_known"] == (
        "info",
        "reference_arrived",
        None,
    )


def test_tlc_source_and_next_recipient_are_derived_from_the_graph(vconn) -> None:
    """Shippers and receivers need not repeat the TLC source, nor a harvest name its
    next recipient: the graph knows them once the events that do arrive, in any order."""
    b = Builder()
    _master(vconn, b)
    lot = b.lot("D1")
    receiving = b.receiving(lot, b.farm, b.packer, 100, 2)
    del receiving["tlc_source_location_id"]
    land(vconn, "chain_event", receiving)  # first: the lot's creation is not in yet
    run(vconn)
    assert _findings(vconn, receiving["message_id"])["kde.receiving.tlc_source"] == (
        "warning",
        None,
        None,
    )
    harvest = b.harvesting(lot, 100, 0)
    harvest["kdes"].pop("immediate_subsequent_recipient_location_id", None)
    shipping = b.shipping(lot, b.farm, b.packer, 100, 1)
    del shipping["tlc_source_location_id"]
    land(vconn, "chain_event", harvest)
    land(vconn, "chain_event", shipping)
    run(vconn)
    derived = ("warning", "derived", b.farm)
    assert _findings(vconn, receiving["message_id"])["kde.receiving.tlc_source"] == derived
    assert _findings(vconn, shipping["message_id"])["kde.shipping.tlc_source"] == derived
    assert _findings(vconn, harvest["message_id"])["kde.harvesting.next_recipient"] == (
        "warning",
        "derived",
        b.packer,
    )


def test_running_again_changes_nothing(vconn) -> None:
    b = Builder()
    _master(vconn, b)
    for p in b.good_chain():
        land(vconn, "chain_event", p)
    land(vconn, "chain_event", b.shipping(b.lot("Q"), b.farm, b.market, -1, 1))  # quarantined
    land(vconn, "chain_event", b.receiving(b.lot("W"), b.farm, b.market, 1, 1))  # a finding
    land(vconn, "lab_result", b.lab_result(b.lot("L1")))
    first = run(vconn)
    assert first.quarantined == 1 and first.findings == 1
    before = _snapshot(vconn), _counts(vconn)
    second = run(vconn)
    assert (second.promoted, second.quarantined, second.findings) == (0, 0, 0)
    assert (_snapshot(vconn), _counts(vconn)) == before
    # the repair path (re-queue whatever was never decided) finds nothing to redo
    repaired = validate_and_promote(vconn, requeue=True, write_reports=False)
    assert (repaired.promoted, repaired.quarantined) == (0, 0)
    assert (_snapshot(vconn), _counts(vconn)) == before


def test_requeue_repairs_rows_landed_without_the_trigger(vconn) -> None:
    b = Builder()
    _master(vconn, b)
    run(vconn)
    vconn.execute("ALTER TABLE landing.chain_events DISABLE TRIGGER chain_events_validation_queue")
    harvest = b.harvesting(b.lot("R"), 10, 0)
    land(vconn, "chain_event", harvest)
    vconn.execute("ALTER TABLE landing.chain_events ENABLE TRIGGER chain_events_validation_queue")
    vconn.commit()
    assert run(vconn).checked == 0
    assert validate_and_promote(vconn, requeue=True, write_reports=False).promoted == 1
    assert outcome(vconn, harvest["message_id"])[0] == "promoted"


def test_a_landing_row_that_commits_late_is_not_skipped(fresh_db_url: str) -> None:
    b = Builder()
    with (
        connect(fresh_db_url) as ingest_a,
        connect(fresh_db_url) as ingest_b,
        connect(fresh_db_url) as pipeline,
    ):
        _master(pipeline, b)
        early = b.harvesting(b.lot("A"), 10, 0)
        late = b.harvesting(b.lot("B"), 10, 0)
        land(ingest_a, "chain_event", early, commit=False)  # takes the lower ingest_seq...
        land(ingest_b, "chain_event", late)  # ...but this one commits first
        assert run(pipeline).promoted == 9 + 1
        ingest_a.commit()
        assert run(pipeline).promoted == 1
        assert outcome(pipeline, early["message_id"])[0] == "promoted"


def test_master_data_latest_by_ingest_seq_even_when_committed_late(fresh_db_url: str) -> None:
    b = Builder()
    loc = b.location(b.lot("depot"), "distributor", name="old name")
    newer = dict(loc, message_id=__import__("uuid").uuid4().hex, name="new name")
    with connect(fresh_db_url) as a, connect(fresh_db_url) as c, connect(fresh_db_url) as p:
        land(a, "location", loc, commit=False)  # lower ingest_seq, commits last
        land(c, "location", newer)
        run(p)
        a.commit()
        run(p)
        assert p.execute(
            "SELECT name FROM core.locations WHERE location_id = %s", (loc["location_id"],)
        ).fetchone() == ("new name",)
        # in one batch, the later message wins too
        land(a, "location", dict(loc, message_id=__import__("uuid").uuid4().hex, name="v3"))
        land(a, "location", dict(loc, message_id=__import__("uuid").uuid4().hex, name="v4"))
        run(p)
        assert p.execute(
            "SELECT name FROM core.locations WHERE location_id = %s", (loc["location_id"],)
        ).fetchone() == ("v4",)


def test_concurrent_runs_promote_each_row_once(fresh_db_url: str) -> None:
    b = Builder()
    with connect(fresh_db_url) as conn:
        _master(conn, b)
        for p in b.good_chain():
            land(conn, "chain_event", p)
    totals: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with connect(fresh_db_url) as c:
                totals.append(validate_and_promote(c, write_reports=False).promoted)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sum(totals) == 9 + 13
    with connect(fresh_db_url) as conn:
        assert conn.execute("SELECT count(*) FROM core.events").fetchone()[0] == 13


def test_runs_results_and_report_are_recorded(vconn, tmp_path: Path) -> None:
    b = Builder()
    _master(vconn, b)
    bad = b.receiving(b.lot("X"), b.farm, b.market, 5, 2)
    del bad["tlc_source_location_id"]
    land(vconn, "chain_event", bad)
    stats = run(vconn, tmp_path)
    runs = vconn.execute(
        "SELECT kind, suite_name, rows_checked, rows_passed, rows_failed, findings, success, "
        "report_path, finished_at IS NOT NULL FROM ops.validation_runs ORDER BY run_id"
    ).fetchall()
    # stored with its finding (a failed expectation all the same)
    assert [r[:7] for r in runs] == [
        ("master_data", "foodtrace.locations+foodtrace.products", 9, 9, 0, 0, True),
        ("chain_event", "foodtrace.chain_events", 1, 1, 0, 2, False),
    ]
    assert {r[7] for r in runs} == {stats.report_path} and all(r[8] for r in runs)
    failed = vconn.execute(
        "SELECT rule, cfr_section, unexpected_count, sample_message_ids::text[] "
        "FROM ops.validation_results WHERE NOT success"
    ).fetchall()
    assert ("kde.receiving.tlc_source", "21 CFR 1.1345(a)(7)", 1, [bad["message_id"]]) in failed
    page = Path(stats.report_path).read_text()
    assert "kde.receiving.tlc_source" in page
    assert "receiving event lacks TLC source (21 CFR 1.1345(a)(7))" in page
    assert Path(stats.report_path).with_suffix(".md").exists()


def test_landing_inserts_notify_after_commit(fresh_db_url: str) -> None:
    b = Builder()
    with connect(fresh_db_url, autocommit=True) as listener, connect(fresh_db_url) as writer:
        listener.execute("LISTEN foodtrace_landing")
        land(writer, "lab_result", b.lab_result(b.lot("N")), commit=False)
        assert list(listener.notifies(timeout=0.3)) == []  # not before COMMIT
        writer.commit()
        got = list(listener.notifies(timeout=5, stop_after=1))
        assert [n.payload for n in got] == ['{"kind" : "lab_result", "rows" : 1}']


def test_a_quarantined_row_is_no_reference_within_its_batch(vconn) -> None:
    b = Builder()
    _master(vconn, b)
    run(vconn)
    lot_a, lot_b = b.lot("A"), b.lot("B")
    harvest_a = b.harvesting(lot_a, 100, 0)
    bad_shipping = b.shipping(lot_a, b.farm, b.packer, -100, 1)  # no usable quantity
    receiving = b.receiving(lot_a, b.farm, b.packer, 100, 2)
    bad_creation = b.harvesting(lot_b, -50, 0)
    good_creation = b.harvesting(lot_b, 50, 1)  # the code is free: the first one was refused
    for p in (harvest_a, bad_shipping, receiving, bad_creation, good_creation):
        land(vconn, "chain_event", p)
    stats = run(vconn)
    assert (stats.promoted, stats.quarantined, stats.findings) == (3, 2, 1)
    assert "reference.receiving_matches_shipping" in _findings(vconn, receiving["message_id"])
    assert outcome(vconn, good_creation["message_id"])[0] == "promoted"
    tallies = dict(
        vconn.execute(
            "SELECT rule, unexpected_count FROM ops.validation_results r "
            "JOIN ops.validation_runs v USING (run_id) WHERE v.run_id = (SELECT max(run_id) "
            "FROM ops.validation_runs WHERE kind = 'chain_event')"
        )
    )
    assert tallies["reference.tlc_assigned_once"] == 0  # the final verdict, not the first pass
    assert tallies["reference.receiving_matches_shipping"] == 1
    assert tallies["kde.shipping.lots_qty"] == 1


def test_absurd_numbers_are_quarantined_not_fatal(vconn) -> None:
    """JSON allows 1e400; double precision does not. One such row must not block
    the batch (the casts would raise) but be quarantined like any bad value."""
    b = Builder()
    _master(vconn, b)
    shipping = b.shipping(b.lot("BIG"), b.farm, b.market, 12345, 1)
    lab = b.lab_result(
        b.lot("L0"),
        test_kind="confirmatory",
        analyte="lead",
        value=12345,
        unit="mg/kg",
        result=DROP,
        method="ICP-MS",
    )
    land(vconn, "chain_event", b.harvesting(b.lot("L0"), 10, 0))
    for kind, payload in (("chain_event", shipping), ("lab_result", lab)):
        raw = json.dumps(payload).replace("12345", "1e400")
        table = (
            "chain_events (message_id, actor_id"
            if kind == "chain_event"
            else "lab_results (message_id, lab_id"
        )
        vconn.execute(
            f"INSERT INTO landing.{table}, topic, payload) VALUES (%s, 'x', 't', %s::jsonb)",
            (payload["message_id"], raw),
        )
    vconn.commit()
    stats = run(vconn)
    assert (stats.quarantined, stats.findings) == (2, 0)
    assert "shipping event lacks a quantity and unit of measure" in str(
        outcome(vconn, shipping["message_id"])[1]
    )
    assert "a confirmatory result needs a numeric value" in str(
        outcome(vconn, lab["message_id"])[1]
    )
