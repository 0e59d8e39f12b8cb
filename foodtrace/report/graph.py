"""The trace drawn as a graph (pure): lots layered left to right by depth,
upstream lots to the left of the alerted lot, downstream ones to the right.

Input is a trace of foodtrace.trace.api (the walk itself is never redone here):
each lot knows its depth and the lot it was reached from, which gives the edges
(upstream: the lot went into the one it was reached from; downstream: it was made
from it). Within a layer, lots sit in the order of the lots they hang from, so
edges cross little.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from foodtrace.trace.api import Trace, TracedLot

NODE_HEIGHT = 40.0
ROW_GAP = 14.0
COLUMN_GAP = 56.0
MARGIN = 12.0
MIN_NODE_WIDTH = 150.0
CHAR_WIDTH = 7.4  # a monospace character at the lot code's 12 px
SUB_CHAR_WIDTH = 6.2  # ... and at the product line's 10 px
MAX_NODES = 400  # more are listed in the tables, and the page says so


@dataclass(frozen=True)
class GraphLot:
    lot_code: str
    layer: int  # -depth upstream, 0 the alerted lot, +depth downstream
    reached_from: str | None
    product_code: str | None
    quantity: Decimal | float | None
    unit: str | None
    kind: str  # "self" | "upstream" | "downstream"
    is_root: bool


@dataclass(frozen=True)
class Node:
    lot: GraphLot
    x: float
    y: float
    width: float
    height: float
    affected: bool

    @property
    def label(self) -> str:
        return self.lot.lot_code

    @property
    def sublabel(self) -> str:
        return sublabel(self.lot)


@dataclass(frozen=True)
class Edge:
    source: str  # lot codes, in the direction food moved
    target: str
    path: str  # SVG path data


@dataclass(frozen=True)
class Layout:
    nodes: list[Node]
    edges: list[Edge]
    width: float
    height: float
    left_out: int  # lots not drawn (over MAX_NODES)


def lots_of_trace(trace: Trace) -> list[GraphLot]:
    """GraphLots from a foodtrace.trace.api.Trace (both directions)."""

    def lot(t: TracedLot, layer: int, kind: str) -> GraphLot:
        return GraphLot(t.lot_code, layer, t.reached_from, t.product_code, t.quantity,
                        t.unit, kind, t.is_root)

    return [
        lot(trace.lot, 0, "self"),
        *(lot(t, -t.depth, "upstream") for t in trace.upstream),
        *(lot(t, t.depth, "downstream") for t in trace.downstream),
    ]


def layout(lots: Sequence[GraphLot], affected: Iterable[str] = (),
           max_nodes: int = MAX_NODES) -> Layout:
    """Positions of every lot and the edges between them, in SVG units."""
    affected_codes = set(affected)
    seen: dict[tuple[str, str], GraphLot] = {}
    for lot in sorted(lots, key=lambda g: (abs(g.layer), g.lot_code)):
        side = "up" if lot.layer < 0 else "down" if lot.layer > 0 else "self"
        seen.setdefault((side, lot.lot_code), lot)  # a lot reached twice: its nearest
    unique = sorted(seen.values(), key=lambda g: (abs(g.layer), g.layer, g.lot_code))
    drawn, left_out = unique[:max_nodes], max(0, len(unique) - max_nodes)

    widest = max(
        (max(len(g.lot_code) * CHAR_WIDTH, len(sublabel(g)) * SUB_CHAR_WIDTH) for g in drawn),
        default=0.0,
    )
    width = max(MIN_NODE_WIDTH, widest + 20)
    layers = sorted({g.layer for g in drawn})
    column = {layer: i for i, layer in enumerate(layers)}

    rows: dict[tuple[str, str], float] = {}  # (side, lot) -> row index in its layer
    by_layer: dict[int, list[GraphLot]] = {}
    for g in drawn:
        by_layer.setdefault(g.layer, []).append(g)
    order = sorted(by_layer, key=abs)  # outwards from the alerted lot: parents first
    for layer in order:
        side = "up" if layer < 0 else "down" if layer > 0 else "self"
        parent_side = side if abs(layer) > 1 else "self"
        members = sorted(
            by_layer[layer],
            key=lambda g: (rows.get((parent_side, g.reached_from or ""), 0.0), g.lot_code),
        )
        for i, g in enumerate(members):
            rows[(side, g.lot_code)] = float(i)

    tallest = max((len(m) for m in by_layer.values()), default=1)
    total_height = 2 * MARGIN + tallest * NODE_HEIGHT + (tallest - 1) * ROW_GAP
    nodes: list[Node] = []
    position: dict[tuple[str, str], Node] = {}
    for g in drawn:
        side = "up" if g.layer < 0 else "down" if g.layer > 0 else "self"
        count = len(by_layer[g.layer])
        column_height = count * NODE_HEIGHT + (count - 1) * ROW_GAP
        top = (total_height - column_height) / 2
        node = Node(
            lot=g,
            x=round(MARGIN + column[g.layer] * (width + COLUMN_GAP), 1),
            y=round(top + rows[(side, g.lot_code)] * (NODE_HEIGHT + ROW_GAP), 1),
            width=round(width, 1),
            height=NODE_HEIGHT,
            affected=g.lot_code in affected_codes,
        )
        nodes.append(node)
        position[(side, g.lot_code)] = node

    edges: list[Edge] = []
    for node in nodes:
        g = node.lot
        if g.kind == "self" or not g.reached_from:
            continue
        side = "up" if g.layer < 0 else "down"
        parent = position.get((side if abs(g.layer) > 1 else "self", g.reached_from))
        if parent is None:
            continue
        # food moves left to right: from the upstream lot into the one it was reached from
        left, right = (node, parent) if side == "up" else (parent, node)
        edges.append(Edge(left.lot.lot_code, right.lot.lot_code, _curve(left, right)))

    total_width = 2 * MARGIN + len(layers) * width + max(0, len(layers) - 1) * COLUMN_GAP
    return Layout(nodes, edges, round(total_width, 1), round(total_height, 1), left_out)


def sublabel(lot: GraphLot) -> str:
    """The node's second line: product and quantity."""
    qty = "" if lot.quantity is None else f"{_num(lot.quantity)} {lot.unit or ''}".strip()
    return " · ".join(p for p in (lot.product_code or "?", qty) if p)


def _curve(left: Node, right: Node) -> str:
    x1, y1 = left.x + left.width, left.y + left.height / 2
    x2, y2 = right.x, right.y + right.height / 2
    mid = (x1 + x2) / 2
    return f"M{x1:.1f},{y1:.1f} C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"


def _num(value: Decimal | float) -> str:
    return f"{float(value):g}"
