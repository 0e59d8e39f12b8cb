"""link(): the lot graph derived from promoted events, idempotent, late-commit safe,
shared safely by concurrent runs, repairable with full=True."""

from __future__ import annotations

import threading
from decimal import Decimal

import psycopg
from psycopg import pq
from trace_helpers import ChainBuilder

from foodtrace.db import connect
from foodtrace.trace.link import link


def _edges(conn: psycopg.Connection, prefix: str) -> set[tuple]:
    rows = conn.execute(
        "SELECT parent_lot, child_lot, location_id, input_quantity, input_unit, output_quantity, "
        "output_unit FROM core.lot_edges WHERE parent_lot LIKE %s",
        (prefix + "-%",),
    ).fetchall()
    return set(rows)


def _locations(conn: psycopg.Connection, prefix: str) -> set[tuple]:
    rows = conn.execute(
        "SELECT lot_code, location_id, role, quantity, unit, counterparty_location_id, event_type "
        "FROM core.lot_locations WHERE lot_code LIKE %s",
        (prefix + "-%",),
    ).fetchall()
    return set(rows)


def _all_rows(conn: psycopg.Connection) -> tuple[list, list, list]:
    return (
        conn.execute("SELECT * FROM core.lot_edges ORDER BY 1, 2, 3").fetchall(),
        conn.execute("SELECT * FROM core.lot_locations ORDER BY 1, 2, 3, 4").fetchall(),
        conn.execute("SELECT source, message_id FROM core.link_queue ORDER BY 1, 2").fetchall(),
    )


def test_transformation_links_every_input_to_every_output(fresh_chain: ChainBuilder) -> None:
    c = fresh_chain
    for name in ("a", "b", "c"):
        c.harvest(name, 100, "farm")
    c.transform("plant", inputs=[("a", 10), ("b", 20), ("c", 30)], outputs=[("x", 25), ("y", 35)])
    stats = link(c.conn)
    assert (stats.events, stats.edges) == (4, 6)
    L, P = c.lot, c.loc("plant")
    assert _edges(c.conn, c.prefix) == {
        (L(i), L(o), P, Decimal(qi), "kg", Decimal(qo), "kg")
        for i, qi in (("a", 10), ("b", 20), ("c", 30))
        for o, qo in (("x", 25), ("y", 35))
    }
    roles = {(lot, role) for lot, _, role, *_ in _locations(c.conn, c.prefix)}
    assert {
        (L("a"), "transformed_into"),
        (L("x"), "transformed_from"),
        (L("y"), "transformed_from"),
        (L("a"), "created"),
    } <= roles


def test_every_event_type_places_its_lots(fresh_chain: ChainBuilder) -> None:
    c = fresh_chain
    L, P = c.lot, c.loc
    c.harvest("h", 500, "farm")
    c.event("cooling", "farm", [("h", 500)])
    c.event("initial_packing", "packer", [("h", 480)])
    c.event("shipping", "packer", [("h", 200)], to="market")
    c.event("receiving", "market", [("h", 199)], source="packer")
    c.event("sale", "market", [("h", 5)])
    c.event("first_receiving", "port", [("fish", 70, "crate")], source="vessel")
    c.lab_result("h", "market")
    stats = link(c.conn)
    assert (stats.events, stats.lab_results, stats.edges) == (7, 1, 0)
    assert stats.lot_locations == 9
    got = _locations(c.conn, c.prefix)
    assert got == {
        (L("h"), P("farm"), "created", Decimal(500), "kg", None, "harvesting"),
        (L("h"), P("farm"), "cooled", Decimal(500), "kg", None, "cooling"),
        (L("h"), P("packer"), "packed", Decimal(480), "kg", None, "initial_packing"),
        (L("h"), P("packer"), "shipped_from", Decimal(200), "kg", P("market"), "shipping"),
        (L("h"), P("market"), "shipped_to", Decimal(200), "kg", P("packer"), "shipping"),
        (L("h"), P("market"), "received", Decimal(199), "kg", P("packer"), "receiving"),
        (L("h"), P("market"), "sold", Decimal(5), "kg", None, "sale"),
        (L("fish"), P("port"), "received", Decimal(70), "crate", P("vessel"), "first_receiving"),
        (L("h"), P("market"), "sampled", None, None, None, "lab_result"),
    }


def test_linking_twice_changes_nothing(fresh_chain: ChainBuilder) -> None:
    c = fresh_chain
    c.harvest("a", 10, "farm")
    c.harvest("b", 10, "farm")
    c.event("shipping", "farm", [("a", 4)], to="plant")
    c.transform("plant", inputs=[("a", 4), ("b", 10)], outputs=[("m", 14)])
    c.lab_result("m", "plant")
    first = link(c.conn)
    assert first.events == 4 and first.edges == 2 and first.lab_results == 1
    before = _all_rows(c.conn)
    again = link(c.conn)
    assert (again.events, again.lab_results, again.edges, again.lot_locations) == (0, 0, 0, 0)
    assert _all_rows(c.conn) == before
    assert before[2] == []  # nothing left queued
    # Re-linking everything (the repair mode) adds no rows either.
    redo = link(c.conn, full=True)
    assert (redo.events, redo.lab_results, redo.edges, redo.lot_locations) == (4, 1, 0, 0)
    assert _all_rows(c.conn) == before


def test_full_relink_repairs_rows_promoted_without_triggers(fresh_chain: ChainBuilder) -> None:
    c = fresh_chain
    c.harvest("a", 10, "farm")
    assert link(c.conn).events == 1
    # e.g. a restore: triggers do not fire under session_replication_role = replica
    c.conn.execute("SET session_replication_role = replica")
    c.transform("plant", inputs=[("a", 10)], outputs=[("b", 9)])
    c.conn.execute("RESET session_replication_role")
    c.conn.commit()
    assert link(c.conn).events == 0
    repaired = link(c.conn, full=True)
    assert (repaired.events, repaired.edges) == (2, 1)
    assert _edges(c.conn, c.prefix) == {
        (c.lot("a"), c.lot("b"), c.loc("plant"), Decimal(10), "kg", Decimal(9), "kg")
    }


def test_small_batches_link_everything(fresh_chain: ChainBuilder) -> None:
    c = fresh_chain
    for i in range(7):
        c.harvest(f"h{i}", i + 1, "farm")
    c.transform("plant", inputs=[("h0", 1), ("h1", 2)], outputs=[("o", 3)])
    stats = link(c.conn, batch_size=2)
    assert stats.events == 8 and stats.edges == 2
    assert stats.batches >= 5  # 8 events in batches of 2 (+ the empty lab-result pass)
    assert c.conn.execute("SELECT count(*) FROM core.link_queue").fetchone()[0] == 0


def test_a_late_committing_promotion_is_linked_next_run(fresh_db_url: str) -> None:
    """An event whose transaction started (promoted_at) before a link run but
    committed after it must not be skipped, as a promoted_at watermark would."""
    with connect(fresh_db_url) as slow, connect(fresh_db_url) as fast:
        slow_chain, fast_chain = ChainBuilder(slow, "LATE"), ChainBuilder(fast, "EARLY")
        slow_chain.harvest("first", 1, "farm")
        slow.commit()
        # A long promotion: begins now, commits after the next link run.
        slow_chain.event("harvesting", "farm", [("slow", 5)], commit=False)
        fast_chain.harvest("quick", 2, "farm")
        assert link(fast).events == 2  # LATE-first and EARLY-quick; LATE-slow is invisible
        slow.commit()
        second = link(fast)
        assert second.events == 1
        codes = {r[0] for r in fast.execute("SELECT lot_code FROM core.lot_locations")}
        assert codes == {"LATE-first", "LATE-slow", "EARLY-quick"}


def test_concurrent_link_runs_agree(fresh_db_url: str) -> None:
    with connect(fresh_db_url) as conn:
        c = ChainBuilder(conn)
        for i in range(30):
            c.harvest(f"h{i}", 1, "farm")
            c.transform("plant", inputs=[(f"h{i}", 1)], outputs=[(f"o{i}", 1)])
    results, errors = [], []

    def run() -> None:
        try:
            with connect(fresh_db_url) as own:
                results.append(link(own, batch_size=7))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(r.events for r in results) == 60  # each event linked by exactly one run
    assert sum(r.edges for r in results) == 30
    with connect(fresh_db_url) as conn:
        assert conn.execute("SELECT count(*) FROM core.lot_edges").fetchone()[0] == 30


def test_rows_queued_behind_the_cursor_are_linked_in_the_same_run(fresh_db_url: str) -> None:
    with connect(fresh_db_url) as conn, connect(fresh_db_url) as slow:
        c, late = ChainBuilder(conn, "Q"), ChainBuilder(slow, "LATE")
        c.harvest("h0", 1, "farm")
        # A promotion draws its queue number now and commits only after link()
        # has moved its cursor past that number.
        late.event("harvesting", "farm", [("slow", 1)], commit=False)
        for i in range(1, 6):
            c.harvest(f"h{i}", 1, "farm")

        def commit_the_slow_one(source: str, rows: int) -> None:
            if slow.info.transaction_status != pq.TransactionStatus.IDLE:
                slow.commit()

        stats = link(conn, batch_size=2, progress=commit_the_slow_one)
        assert stats.events == 7
        assert conn.execute("SELECT count(*) FROM core.link_queue").fetchone()[0] == 0
        linked = {r[0] for r in conn.execute("SELECT lot_code FROM core.lot_locations")}
        assert "LATE-slow" in linked


def test_pipeline_role_promotes_and_links(fresh_chain: ChainBuilder) -> None:
    """Production runs promotion and link() as foodtrace_pipeline: the queue
    trigger and every table link() writes must work with that role's grants."""
    c = fresh_chain
    c.conn.execute("SET ROLE foodtrace_pipeline")
    try:
        c.harvest("a", 3, "farm")
        c.transform("plant", inputs=[("a", 3)], outputs=[("b", 2)])
        c.lab_result("b", "shop")
        stats = link(c.conn)
        assert (stats.events, stats.lab_results, stats.edges) == (2, 1, 1)
    finally:
        c.conn.rollback()
        c.conn.execute("RESET ROLE")
