"""core.trace_downstream / trace_upstream / trace_locations on known graphs."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest
from trace_helpers import ChainBuilder

from foodtrace.trace.link import link


def down(conn: psycopg.Connection, lot: str, max_depth: int = 64) -> list[tuple]:
    return conn.execute(
        "SELECT lot_code, depth, parent_lot, quantity, is_root, depth_capped "
        "FROM core.trace_downstream(%s, %s)",
        (lot, max_depth),
    ).fetchall()


def up(conn: psycopg.Connection, lot: str, max_depth: int = 64) -> list[tuple]:
    return conn.execute(
        "SELECT lot_code, depth, parent_lot, quantity, is_root, depth_capped "
        "FROM core.trace_upstream(%s, %s)",
        (lot, max_depth),
    ).fetchall()


def lots_at(rows: list[tuple]) -> dict[str, int]:
    """lot -> depth; also checks every lot appears once."""
    codes = [r[0] for r in rows]
    assert len(codes) == len(set(codes)), f"a lot appears twice: {codes}"
    return {r[0]: r[1] for r in rows}


def test_merge_three_into_one(chain: ChainBuilder) -> None:
    c, L = chain, chain.lot
    for name, qty in (("a", 100), ("b", 200), ("c", 300)):
        c.harvest(name, qty, "farm")
    c.transform("plant", inputs=[("a", 10), ("b", 20), ("c", 30)], outputs=[("mix", 55)])
    link(c.conn)
    rows = up(c.conn, L("mix"))
    assert rows == [
        (L("mix"), 0, None, Decimal(55), False, False),
        # quantity upstream = how much of the lot went into the lot it was reached from
        (L("a"), 1, L("mix"), Decimal(10), True, False),
        (L("b"), 1, L("mix"), Decimal(20), True, False),
        (L("c"), 1, L("mix"), Decimal(30), True, False),
    ]
    for name in "abc":
        assert lots_at(down(c.conn, L(name))) == {L(name): 0, L("mix"): 1}
    # downstream quantity = how much of the lot the transformation made
    assert down(c.conn, L("a"))[1][3] == Decimal(55)


def test_multi_level_depths_and_roots(chain: ChainBuilder) -> None:
    c, L = chain, chain.lot
    c.harvest("r1", 50, "farm")
    c.harvest("r2", 60, "farm")
    c.transform("p1", inputs=[("r1", 50)], outputs=[("l1", 45)])
    c.transform("p2", inputs=[("l1", 45), ("r2", 60)], outputs=[("l2", 100)])
    c.transform("p3", inputs=[("l2", 100)], outputs=[("l3a", 40), ("l3b", 60)])
    c.transform("p4", inputs=[("l3a", 40)], outputs=[("l4", 38)])
    link(c.conn)
    assert lots_at(down(c.conn, L("r1"))) == {
        L("r1"): 0,
        L("l1"): 1,
        L("l2"): 2,
        L("l3a"): 3,
        L("l3b"): 3,
        L("l4"): 4,
    }
    upstream = up(c.conn, L("l4"))
    assert lots_at(upstream) == {
        L("l4"): 0,
        L("l3a"): 1,
        L("l2"): 2,
        L("l1"): 3,
        L("r2"): 3,
        L("r1"): 4,
    }
    assert {r[0] for r in upstream if r[4]} == {L("r1"), L("r2")}  # the roots
    assert not any(r[5] for r in upstream)
    by_lot = {r[0]: r for r in upstream}
    assert by_lot[L("r1")][2] == L("l1") and by_lot[L("l1")][2] == L("l2")


def test_diamond_lot_appears_once_at_min_depth(chain: ChainBuilder) -> None:
    c, L = chain, chain.lot
    c.harvest("a", 100, "farm")
    c.transform("p", inputs=[("a", 50)], outputs=[("b", 50)])
    c.transform("p", inputs=[("a", 50)], outputs=[("c", 50)])
    c.transform("p", inputs=[("b", 50), ("c", 50)], outputs=[("d", 100)])
    c.transform("p", inputs=[("d", 100)], outputs=[("e", 100)])
    # a shortcut: a also goes straight into e (e reachable at depth 1 and 3)
    c.transform("p", inputs=[("a", 1)], outputs=[("e", 1)])
    link(c.conn)
    rows = down(c.conn, L("a"))
    assert lots_at(rows) == {L("a"): 0, L("b"): 1, L("c"): 1, L("d"): 2, L("e"): 1}
    d_row = next(r for r in rows if r[0] == L("d"))
    assert d_row[2] == L("b")  # two parents at depth 1: the smallest code is reported
    up_rows = up(c.conn, L("e"))
    assert lots_at(up_rows) == {L("e"): 0, L("d"): 1, L("a"): 1, L("b"): 2, L("c"): 2}
    assert [r[0] for r in up_rows if r[4]] == [L("a")]


def test_cycle_in_bad_data_terminates(chain: ChainBuilder) -> None:
    c, L = chain, chain.lot
    c.harvest("a", 10, "farm")
    c.transform("p", inputs=[("a", 10)], outputs=[("b", 10)])
    c.transform("p", inputs=[("b", 10)], outputs=[("a", 10)])  # bad data: b -> a
    c.transform("p", inputs=[("b", 5)], outputs=[("c", 5)])
    link(c.conn)
    rows = down(c.conn, L("a"))
    assert lots_at(rows) == {L("a"): 0, L("b"): 1, L("c"): 2}
    assert not any(r[5] for r in rows)  # everything was found: not a cap
    up_rows = up(c.conn, L("c"))
    assert lots_at(up_rows) == {L("c"): 0, L("b"): 1, L("a"): 2}
    assert not any(r[4] for r in up_rows)  # in a cycle nothing is parentless
    # a cap inside the cycle is reported
    capped = down(c.conn, L("a"), 1)
    assert lots_at(capped) == {L("a"): 0, L("b"): 1}
    assert all(r[5] for r in capped)


def test_depth_cap_is_reported_only_when_hit(chain: ChainBuilder) -> None:
    c, L = chain, chain.lot
    c.harvest("l0", 1, "farm")
    for i in range(5):
        c.transform("p", inputs=[(f"l{i}", 1)], outputs=[(f"l{i + 1}", 1)])
    link(c.conn)
    two = down(c.conn, L("l0"), 2)
    assert lots_at(two) == {L("l0"): 0, L("l1"): 1, L("l2"): 2}
    assert all(r[5] for r in two)
    exact = down(c.conn, L("l0"), 5)  # the chain is exactly 5 deep
    assert len(exact) == 6 and not any(r[5] for r in exact)
    up_capped = up(c.conn, L("l5"), 3)
    assert lots_at(up_capped) == {L("l5"): 0, L("l4"): 1, L("l3"): 2, L("l2"): 3}
    assert all(r[5] for r in up_capped)
    assert not any(r[4] for r in up_capped)  # l2 has parents beyond the cap: no root
    zero = down(c.conn, L("l0"), 0)
    assert zero == [(L("l0"), 0, None, Decimal(1), True, True)]


def test_unknown_lot_gives_no_rows(conn: psycopg.Connection) -> None:
    assert down(conn, "NO-SUCH-LOT") == []
    assert up(conn, "NO-SUCH-LOT") == []
    assert conn.execute("SELECT * FROM core.trace_locations(ARRAY['NO-SUCH-LOT'])").fetchall() == []


def test_split_to_three_destinations_with_quantities(chain: ChainBuilder) -> None:
    c, L, P = chain, chain.lot, chain.loc
    c.location("farm", "zhaoqing", "farm")
    for name, city in (("m1", "guangzhou"), ("m2", "shenzhen"), ("m3", "foshan")):
        c.location(name, city, "wholesale_market")
    c.harvest("s", 900, "farm")
    for dest, qty in (("m1", 300), ("m2", 250), ("m3", 350)):
        c.event("shipping", "farm", [("s", qty)], to=dest)
    c.event("receiving", "m2", [("s", 249)], source="farm")
    link(c.conn)
    rows = c.conn.execute(
        "SELECT location_id, city, role, quantity, unit, counterparty_location_id "
        "FROM core.trace_locations(%s) ORDER BY event_time, role",
        ([L("s")],),
    ).fetchall()
    assert rows == [
        (P("farm"), "zhaoqing", "created", Decimal(900), "kg", None),
        (P("farm"), "zhaoqing", "shipped_from", Decimal(300), "kg", P("m1")),
        (P("m1"), "guangzhou", "shipped_to", Decimal(300), "kg", P("farm")),
        (P("farm"), "zhaoqing", "shipped_from", Decimal(250), "kg", P("m2")),
        (P("m2"), "shenzhen", "shipped_to", Decimal(250), "kg", P("farm")),
        (P("farm"), "zhaoqing", "shipped_from", Decimal(350), "kg", P("m3")),
        (P("m3"), "foshan", "shipped_to", Decimal(350), "kg", P("farm")),
        (P("m2"), "shenzhen", "received", Decimal(249), "kg", P("farm")),
    ]
    shipped = c.conn.execute(
        "SELECT sum(quantity) FROM core.trace_locations(%s) WHERE role = 'shipped_to'", ([L("s")],)
    ).fetchone()[0]
    assert shipped == Decimal(900)


def test_trace_locations_names_each_lot_once_and_keeps_unregistered(chain: ChainBuilder) -> None:
    c, L = chain, chain.lot
    c.location("plant", "dongguan", "processor")
    c.harvest("a", 5, "nowhere-registered")
    c.transform("plant", inputs=[("a", 5)], outputs=[("b", 4)])
    link(c.conn)
    rows = c.conn.execute(
        "SELECT lot_code, location_id, city, role FROM core.trace_locations(%s)",
        ([L("a"), L("b"), L("a")],),
    ).fetchall()
    assert sorted(rows) == sorted(
        [
            (L("a"), c.loc("nowhere-registered"), None, "created"),
            (L("a"), c.loc("plant"), "dongguan", "transformed_into"),
            (L("b"), c.loc("plant"), "dongguan", "transformed_from"),
        ]
    )


@pytest.mark.parametrize("role", ["foodtrace_reader", "foodtrace_pipeline"])
def test_roles_can_trace(chain: ChainBuilder, role: str) -> None:
    c, L = chain, chain.lot
    c.harvest("a", 5, "farm")
    c.transform("p", inputs=[("a", 5)], outputs=[("b", 5)])
    link(c.conn)
    with c.conn.transaction():
        c.conn.execute(f"SET LOCAL ROLE {role}")
        assert len(down(c.conn, L("a"))) == 2
        assert len(up(c.conn, L("b"))) == 2
        places = c.conn.execute("SELECT role FROM core.trace_locations(%s)", ([L("a")],))
        assert sorted(r[0] for r in places) == ["created", "transformed_into"]
