"""The trace graph's layout: layers left to right by depth, edges in the direction
food moved, no overlaps, and lots beyond the cap counted, not dropped silently."""

from __future__ import annotations

from decimal import Decimal

from foodtrace.report.graph import COLUMN_GAP, GraphLot, layout


def lot(code: str, layer: int, via: str | None, kind: str, root: bool = False) -> GraphLot:
    return GraphLot(code, layer, via, "veg", Decimal("12.5"), "kg", kind, root)


CHAIN = [
    lot("L", 0, None, "self"),
    lot("U1", -1, "L", "upstream"),
    lot("U2", -1, "L", "upstream"),
    lot("R1", -2, "U1", "upstream", root=True),
    lot("D1", 1, "L", "downstream"),
    lot("D2", 2, "D1", "downstream"),
    lot("D3", 2, "D1", "downstream"),
]


def test_layers_run_left_to_right_from_the_sources_to_the_products() -> None:
    out = layout(CHAIN, affected=["L", "D1", "D2", "D3"])
    x = {n.lot.lot_code: n.x for n in out.nodes}
    assert x["R1"] < x["U1"] == x["U2"] < x["L"] < x["D1"] < x["D2"] == x["D3"]
    assert x["L"] - x["U1"] == x["D1"] - x["L"] > COLUMN_GAP
    affected = {n.lot.lot_code for n in out.nodes if n.affected}
    assert affected == {"L", "D1", "D2", "D3"}
    assert out.width >= max(n.x + n.width for n in out.nodes)
    assert out.height >= max(n.y + n.height for n in out.nodes)
    assert out.left_out == 0


def test_edges_follow_the_food_and_every_lot_but_the_first_hangs_from_one() -> None:
    out = layout(CHAIN)
    assert {(e.source, e.target) for e in out.edges} == {
        ("U1", "L"), ("U2", "L"), ("R1", "U1"), ("L", "D1"), ("D1", "D2"), ("D1", "D3"),
    }
    for e in out.edges:
        assert e.path.startswith("M") and " C" in e.path


def test_no_two_nodes_overlap() -> None:
    many = [lot("L", 0, None, "self")] + [
        lot(f"D{i:02d}", 1, "L", "downstream") for i in range(12)
    ] + [lot(f"E{i:02d}", 2, f"D{i:02d}", "downstream") for i in range(12)]
    nodes = layout(many).nodes
    for i, a in enumerate(nodes):
        for b in nodes[i + 1:]:
            apart = (a.x + a.width <= b.x or b.x + b.width <= a.x
                     or a.y + a.height <= b.y or b.y + b.height <= a.y)
            assert apart, (a.lot.lot_code, b.lot.lot_code)


def test_children_sit_in_the_order_of_their_parents() -> None:
    lots = [lot("L", 0, None, "self"), lot("P-b", 1, "L", "downstream"),
            lot("P-a", 1, "L", "downstream"), lot("C-from-b", 2, "P-b", "downstream"),
            lot("C-from-a", 2, "P-a", "downstream")]
    y = {n.lot.lot_code: n.y for n in layout(lots).nodes}
    assert y["P-a"] < y["P-b"]
    assert y["C-from-a"] < y["C-from-b"]  # no crossing


def test_a_lot_reached_twice_is_drawn_once_at_its_nearest_depth() -> None:
    lots = [*CHAIN, lot("D2", 3, "D3", "downstream")]
    codes = [n.lot.lot_code for n in layout(lots).nodes]
    assert codes.count("D2") == 1
    assert next(n for n in layout(lots).nodes if n.lot.lot_code == "D2").lot.layer == 2


def test_lots_over_the_cap_are_counted() -> None:
    lots = [lot("L", 0, None, "self")] + [lot(f"D{i}", 1, "L", "downstream") for i in range(9)]
    out = layout(lots, max_nodes=5)
    assert len(out.nodes) == 5 and out.left_out == 5
    assert "L" in {n.lot.lot_code for n in out.nodes}  # the alerted lot always


def test_nodes_are_wide_enough_for_long_codes() -> None:
    long_code = "LOT-" + "9" * 40
    out = layout([lot(long_code, 0, None, "self")])
    assert out.nodes[0].width >= len(long_code) * 7


def test_the_sublabel_names_product_and_quantity() -> None:
    node = layout([lot("L", 0, None, "self")]).nodes[0]
    assert node.sublabel == "veg · 12.5 kg"
