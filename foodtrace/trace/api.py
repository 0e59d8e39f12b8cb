"""Traces from Python: a thin wrapper over the SQL functions of 0004_lot_graph.sql.

The graph walk lives in SQL only (core.trace_upstream / core.trace_downstream /
core.trace_locations); this module runs them in two round trips (the walks,
then where their lots went) and shapes the result for the CLI
(`foodtrace trace`), the alerts engine and the export.

    trace(conn, lot_code, direction="both", max_depth=64) -> Trace   (with its findings)
    affected_and_sources(conn, lot_code, max_depth=64) -> Impact
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any, NamedTuple
from uuid import UUID

import psycopg

from foodtrace.jsonvalues import json_number

DIRECTIONS: tuple[str, ...] = ("up", "down", "both")
DEFAULT_MAX_DEPTH = 64

# lot_locations roles that mark where a lot code was assigned.
_CREATING_ROLES = frozenset({"created", "transformed_from"})


class LotNotFound(LookupError):
    """The lot code is neither promoted nor linked."""

    def __init__(self, lot_code: str) -> None:
        self.lot_code = lot_code
        super().__init__(
            f"no lot {lot_code}: check the code or run `foodtrace pipeline run` "
            "if it was just published"
        )


class TracedLot(NamedTuple):
    """A lot on a trace. depth: steps from the traced lot (0 = the lot itself)."""

    lot_code: str
    product_code: str | None
    depth: int
    reached_from: str | None  # the lot at depth - 1 it was reached from
    location_id: str | None  # where its lot code was assigned (TLC source)
    quantity: Decimal | None  # downstream: made; upstream: used; depth 0: at creation
    unit: str | None
    is_root: bool  # no parents at all: a source lot

    def to_json(self) -> dict[str, Any]:
        return {
            "lot_code": self.lot_code,
            "product_code": self.product_code,
            "depth": self.depth,
            "reached_from": self.reached_from,
            "location_id": self.location_id,
            "quantity": json_number(self.quantity),
            "unit": self.unit,
            "is_root": self.is_root,
        }


class LotLocation(NamedTuple):
    """One place a lot was: a core.lot_locations row with the location's master data.
    (A NamedTuple: a big trace has thousands, built straight from the rows.)"""

    lot_code: str
    location_id: str
    location_name: str | None
    kind: str | None
    city: str | None
    role: str
    quantity: Decimal | None
    unit: str | None
    event_time: datetime
    counterparty_location_id: str | None
    counterparty_city: str | None
    lat: float | None
    lon: float | None
    event_type: str
    message_id: UUID

    def to_json(self, depth: int | None = None) -> dict[str, Any]:
        """depth: that of the entry's lot on the trace (0 = the traced lot)."""
        return {
            "lot_code": self.lot_code,
            "depth": depth,
            "location_id": self.location_id,
            "location_name": self.location_name,
            "kind": self.kind,
            "city": self.city,
            "role": self.role,
            "quantity": json_number(self.quantity),
            "unit": self.unit,
            "event_time": self.event_time.isoformat(),
            "counterparty_location_id": self.counterparty_location_id,
            "lat": self.lat,
            "lon": self.lon,
            "event_type": self.event_type,
            "message_id": str(self.message_id),
        }


class TraceFinding(NamedTuple):
    """A finding on one of the trace's events (spec 2.4): the event is in the trace
    all the same; the finding says what it lacks or what is doubtful about it."""

    message_id: UUID
    rule: str
    severity: str
    cfr_section: str | None
    message: str
    resolution: str | None  # derived | reference_arrived | None (open)
    resolved_value: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "message_id": str(self.message_id),
            "rule": self.rule,
            "severity": self.severity,
            "cfr_section": self.cfr_section,
            "message": self.message,
            "resolution": self.resolution,
            "resolved_value": self.resolved_value,
        }


@dataclass(frozen=True)
class Trace:
    """A trace of one lot (spec 5, `foodtrace trace --json`).

    `locations` covers the lot itself and every lot of the requested directions:
    down -> L and downstream(L); up -> L and upstream(L); both -> all of them.
    `cities` are the known cities of those locations and of their counterparties
    (the destination of a shipment, the source of a receipt), sorted.
    """

    lot: TracedLot  # the traced lot itself (depth 0)
    direction: str
    max_depth: int
    upstream: list[TracedLot] = field(default_factory=list)  # by depth, lot_code
    downstream: list[TracedLot] = field(default_factory=list)
    locations: list[LotLocation] = field(default_factory=list)  # by event_time
    cities: list[str] = field(default_factory=list)
    depth_capped: bool = False
    findings: list[TraceFinding] = field(default_factory=list)  # on its events

    @property
    def open_findings(self) -> list[TraceFinding]:
        return [f for f in self.findings if f.resolution is None]

    @property
    def lot_code(self) -> str:
        return self.lot.lot_code

    @property
    def roots(self) -> list[TracedLot]:
        """Upstream source lots (the lot itself when it has no parents)."""
        return [t for t in [self.lot, *self.upstream] if t.is_root]

    def to_json(self) -> dict[str, Any]:
        """The contract's JSON object (JSON-ready: numbers, strings, lists)."""
        depths: dict[str, int] = {}
        for lot in [*self.downstream, *self.upstream, self.lot]:  # the smallest wins
            depths[lot.lot_code] = min(lot.depth, depths.get(lot.lot_code, lot.depth))
        return {
            "lot_code": self.lot.lot_code,
            "product_code": self.lot.product_code,
            "location_id": self.lot.location_id,
            "quantity": json_number(self.lot.quantity),
            "unit": self.lot.unit,
            "is_root": self.lot.is_root,
            "direction": self.direction,
            "max_depth": self.max_depth,
            "upstream": [t.to_json() for t in self.upstream],
            "downstream": [t.to_json() for t in self.downstream],
            "locations": [loc.to_json(depths.get(loc.lot_code)) for loc in self.locations],
            "cities": list(self.cities),
            "depth_capped": self.depth_capped,
            "findings": [f.to_json() for f in self.findings],
        }


@dataclass(frozen=True)
class Impact:
    """What an alert on a lot touches (spec 4), all lists sorted.

    affected_lots: {L} and downstream(L); affected_locations: every location that
    shipped, received, held, sold or sampled any of them, and their counterparties;
    affected_cities: the known cities of those; source_lots: the upstream roots of
    L (L itself when it is a root); source_locations: where those roots came from
    (their TLC source, else the location of the event that created them, plus the
    source named by a first_receiving).
    """

    lot_code: str
    affected_lots: list[str]
    affected_locations: list[str]
    affected_cities: list[str]
    source_lots: list[str]
    source_locations: list[str]
    depth_capped: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "lot_code": self.lot_code,
            "affected_lots": list(self.affected_lots),
            "affected_locations": list(self.affected_locations),
            "affected_cities": list(self.affected_cities),
            "source_lots": list(self.source_lots),
            "source_locations": list(self.source_locations),
            "depth_capped": self.depth_capped,
        }


class WalkRow(NamedTuple):
    """A row of _WALK_SQL, in its column order: one lot reached by a walk."""

    direction: str  # up | down
    lot_code: str
    product_code: str | None
    depth: int
    parent_lot: str | None  # the lot it was reached from
    tlc_source: str | None  # core.lots.tlc_source_location_id
    quantity: Decimal | None
    unit: str | None
    is_root: bool
    depth_capped: bool


_WALK_SQL = """
SELECT w.dir, w.lot_code, w.product_code, w.depth, w.parent_lot,
       (SELECT l.tlc_source_location_id FROM core.lots l WHERE l.lot_code = w.lot_code),
       w.quantity, w.unit, w.is_root, w.depth_capped
FROM (
    SELECT 'up' AS dir, t.* FROM core.trace_upstream(%(lot)s, %(depth)s) t WHERE %(up)s
    UNION ALL
    SELECT 'down' AS dir, t.* FROM core.trace_downstream(%(lot)s, %(depth)s) t WHERE %(down)s
) w
ORDER BY w.dir, w.depth, w.lot_code
"""

_LOCATIONS_SQL = """
SELECT t.lot_code, t.location_id, t.location_name, t.kind, t.city, t.role, t.quantity, t.unit,
       t.event_time, t.counterparty_location_id, cp.city, t.lat, t.lon, t.event_type, t.message_id
FROM core.trace_locations(%s) t
LEFT JOIN LATERAL (SELECT l.city FROM core.locations l
                   WHERE l.location_id = t.counterparty_location_id LIMIT 1) cp ON true
"""


_FINDINGS_SQL = """
SELECT message_id, rule, severity, cfr_section, message, resolution, resolved_value
FROM core.findings WHERE message_id = ANY(%s::uuid[])
ORDER BY CASE severity WHEN 'error' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, rule, message_id
"""


def trace(
    conn: psycopg.Connection,
    lot_code: str,
    direction: str = "both",
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Trace:
    """Trace `lot_code` up, down or both ways, at most `max_depth` steps each way.

    Raises LotNotFound for an unknown lot and ValueError for a bad direction or a
    negative max_depth. Read-only: two queries (on a connection that is not in
    autocommit mode they run in the caller's transaction).
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    if max_depth < 0:
        raise ValueError(f"max_depth must be 0 or more, got {max_depth}")
    want_up = direction in ("up", "both")
    want_down = direction in ("down", "both")
    # Both walks return the lot itself at depth 0; with neither "up" nor "down"
    # nothing would, so at least one always runs.
    rows = [WalkRow._make(r) for r in conn.execute(
        _WALK_SQL,
        {"lot": lot_code, "depth": max_depth, "up": want_up, "down": want_down},
    ).fetchall()]
    if not rows:
        raise LotNotFound(lot_code)
    loc_rows = conn.execute(_LOCATIONS_SQL, ([*{r.lot_code for r in rows}],)).fetchall()
    t = build_trace(lot_code, direction, max_depth, rows, loc_rows)
    found = conn.execute(_FINDINGS_SQL, ([*{loc.message_id for loc in t.locations}],)).fetchall()
    return replace(t, findings=[TraceFinding._make(r) for r in found])


def build_trace(
    lot_code: str,
    direction: str,
    max_depth: int,
    walk_rows: Sequence[tuple[Any, ...]],
    location_rows: Sequence[tuple[Any, ...]],
) -> Trace:
    """Shape the rows of _WALK_SQL (WalkRow) and _LOCATIONS_SQL (LotLocation) into a
    Trace (pure)."""
    walk = [WalkRow._make(r) for r in walk_rows]
    locations = sorted(
        map(LotLocation._make, location_rows),
        key=lambda loc: (loc.event_time, loc.lot_code, loc.role, loc.location_id),
    )
    origin = creation_locations(locations)

    def traced(row: WalkRow) -> TracedLot:
        return TracedLot(
            lot_code=row.lot_code,
            product_code=row.product_code,
            depth=row.depth,
            reached_from=row.parent_lot,
            location_id=row.tlc_source or origin.get(row.lot_code),
            quantity=row.quantity,
            unit=row.unit,
            is_root=row.is_root,
        )

    upstream = [traced(r) for r in walk if r.direction == "up" and r.depth > 0]
    downstream = [traced(r) for r in walk if r.direction == "down" and r.depth > 0]
    self_row = next(r for r in walk if r.depth == 0)
    return Trace(
        lot=traced(self_row),
        direction=direction,
        max_depth=max_depth,
        upstream=sorted(upstream, key=lambda t: (t.depth, t.lot_code)),
        downstream=sorted(downstream, key=lambda t: (t.depth, t.lot_code)),
        locations=locations,
        cities=cities_of(locations),
        depth_capped=any(r.depth_capped for r in walk),
    )


def creation_locations(locations: list[LotLocation]) -> dict[str, str]:
    """lot_code -> where it was created, from its earliest creating row
    (harvest, transformation output, first receipt), else its earliest row."""
    first_any: dict[str, str] = {}
    creating: dict[str, str] = {}
    for loc in sorted(locations, key=attrgetter("event_time")):
        first_any.setdefault(loc.lot_code, loc.location_id)
        if loc.role in _CREATING_ROLES or loc.event_type == "first_receiving":
            creating.setdefault(loc.lot_code, loc.location_id)
    return {**first_any, **creating}


def cities_of(locations: list[LotLocation]) -> list[str]:
    found = {loc.city for loc in locations} | {loc.counterparty_city for loc in locations}
    return sorted(c for c in found if c)


def affected_and_sources(
    conn: psycopg.Connection, lot_code: str, max_depth: int = DEFAULT_MAX_DEPTH
) -> Impact:
    """The affected and source sets of spec 4 for a lot (raises LotNotFound)."""
    return impact_of(trace(conn, lot_code, "both", max_depth))


def impact_of(t: Trace) -> Impact:
    """Spec 4's sets from a `both` trace (pure)."""
    affected = {t.lot.lot_code} | {d.lot_code for d in t.downstream}
    held = [loc for loc in t.locations if loc.lot_code in affected]
    locations = {loc.location_id for loc in held} | {
        loc.counterparty_location_id for loc in held if loc.counterparty_location_id
    }
    roots = t.roots
    root_codes = {r.lot_code for r in roots}
    sources = {r.location_id for r in roots if r.location_id}
    # A first receiver names where the food came from (vessel, importer).
    sources |= {
        loc.counterparty_location_id
        for loc in t.locations
        if loc.lot_code in root_codes
        and loc.event_type == "first_receiving"
        and loc.counterparty_location_id
    }
    return Impact(
        lot_code=t.lot.lot_code,
        affected_lots=sorted(affected),
        affected_locations=sorted(locations),
        affected_cities=cities_of(held),
        source_lots=sorted(root_codes),
        source_locations=sorted(sources),
        depth_capped=t.depth_capped,
    )
