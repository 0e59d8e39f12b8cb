"""The affected and source sets of an alert (spec 4), with quantities.

The sets themselves come from the trace team's `foodtrace.trace.api` (one home of
the graph walk); this module only shapes them for the alert JSON: each lot with its
quantity, each location with its master data and what of which lot it held.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from foodtrace.alerts.limits import number
from foodtrace.trace.api import LotNotFound, Trace, impact_of, trace

# Master data of a location: name, kind, city, lat, lon.
Place = dict[str, Any]


@dataclass(frozen=True)
class AlertImpact:
    affected_lots: list[dict[str, Any]]
    affected_locations: list[dict[str, Any]]
    affected_cities: list[str]
    source_lots: list[dict[str, Any]]
    source_locations: list[dict[str, Any]]
    depth_capped: bool
    lot_traced: bool  # False: the lot is not in the lot graph (yet)
    # Every lot of the `both` trace (upstream ones included): the keys a later
    # event must touch to change this impact (core.alert_scope). Not in the JSON.
    scope_lots: tuple[str, ...] = ()

    @property
    def scope_locations(self) -> tuple[str, ...]:
        ids = {p["location_id"] for p in [*self.affected_locations, *self.source_locations]}
        return tuple(sorted(ids))

    def to_json(self) -> dict[str, Any]:
        return {
            "affected_lots": self.affected_lots,
            "affected_locations": self.affected_locations,
            "affected_cities": self.affected_cities,
            "source_lots": self.source_lots,
            "source_locations": self.source_locations,
            "depth_capped": self.depth_capped,
            "lot_traced": self.lot_traced,
        }


def compute(
    conn: psycopg.Connection, lot_code: str, sampled_location_id: str | None = None
) -> AlertImpact:
    """Trace `lot_code` both ways and shape spec 4's sets.

    A lot that is not in the graph yet (its chain events not promoted or linked)
    still gets an impact: the place it was sampled, so the alert reaches that city.
    """
    try:
        t = trace(conn, lot_code, "both")
    except LotNotFound:
        places = fetch_places(conn, [sampled_location_id] if sampled_location_id else [])
        return untraced_impact(lot_code, sampled_location_id, places)
    ids = {loc.location_id for loc in t.locations} | {
        loc.counterparty_location_id for loc in t.locations if loc.counterparty_location_id
    }
    ids |= {lot.location_id for lot in [t.lot, *t.upstream] if lot.location_id}
    return shape(t, fetch_places(conn, sorted(ids)))


def fetch_places(conn: psycopg.Connection, location_ids: list[str]) -> dict[str, Place]:
    """The master data of the named locations (the one lookup: alerts and the FSMA export)."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT location_id, name, kind, city, lat, lon FROM core.locations "
            "WHERE location_id = ANY(%s)",
            (location_ids,),
        ).fetchall()
    return {r.pop("location_id"): r for r in rows}


def _place(location_id: str, places: Mapping[str, Place]) -> dict[str, Any]:
    known = places.get(location_id, {})
    return {
        "location_id": location_id,
        "name": known.get("name"),
        "kind": known.get("kind"),
        "city": known.get("city"),
        "lat": known.get("lat"),
        "lon": known.get("lon"),
    }


def shape(t: Trace, places: Mapping[str, Place]) -> AlertImpact:
    """Spec 4's sets from a `both` trace, with quantities (pure)."""
    impact = impact_of(t)
    by_code = {lot.lot_code: lot for lot in [t.lot, *t.downstream, *t.upstream]}
    affected = set(impact.affected_lots)

    affected_lots = [
        {
            "lot_code": code,
            "product_code": by_code[code].product_code,
            "depth": by_code[code].depth,
            "reached_from": by_code[code].reached_from,
            "quantity": number(by_code[code].quantity),
            "unit": by_code[code].unit,
        }
        for code in impact.affected_lots
        if code in by_code
    ]
    holdings: dict[str, list[dict[str, Any]]] = {lid: [] for lid in impact.affected_locations}
    for loc in t.locations:
        if loc.lot_code in affected and loc.location_id in holdings:
            holdings[loc.location_id].append(
                {
                    "lot_code": loc.lot_code,
                    "role": loc.role,
                    "quantity": number(loc.quantity),
                    "unit": loc.unit,
                    "event_time": loc.event_time.isoformat(),
                    "counterparty_location_id": loc.counterparty_location_id,
                }
            )
    affected_locations = [
        {**_place(lid, places), "holdings": holdings[lid]} for lid in impact.affected_locations
    ]
    # Only samples name the lot so far, no supply-chain event (spec 4): its origin is
    # not known, and the place it was sampled is not its source.
    traced = bool(t.upstream or t.downstream) or any(loc.role != "sampled" for loc in t.locations)
    roots = {lot.lot_code: lot for lot in t.roots} if traced else {}
    source_lots = [
        {
            "lot_code": code,
            "product_code": roots[code].product_code,
            "location_id": roots[code].location_id,
            "quantity": number(roots[code].quantity),
            "unit": roots[code].unit,
        }
        for code in impact.source_lots
        if code in roots
    ]
    source_ids = impact.source_locations if traced else []
    cities = set(impact.affected_cities) | {p["city"] for p in affected_locations if p.get("city")}
    return AlertImpact(
        affected_lots=affected_lots,
        affected_locations=affected_locations,
        affected_cities=sorted(cities),
        source_lots=source_lots,
        source_locations=[_place(lid, places) for lid in source_ids],
        depth_capped=impact.depth_capped,
        lot_traced=traced,
        scope_lots=tuple(
            sorted(
                {
                    t.lot.lot_code,
                    *(x.lot_code for x in t.upstream),
                    *(x.lot_code for x in t.downstream),
                }
            )
        ),
    )


def untraced_impact(
    lot_code: str, sampled_location_id: str | None, places: Mapping[str, Place]
) -> AlertImpact:
    locations = [_place(sampled_location_id, places)] if sampled_location_id else []
    for loc in locations:
        loc["holdings"] = [
            {
                "lot_code": lot_code,
                "role": "sampled",
                "quantity": None,
                "unit": None,
                "event_time": None,
                "counterparty_location_id": None,
            }
        ]
    return AlertImpact(
        affected_lots=[
            {
                "lot_code": lot_code,
                "product_code": None,
                "depth": 0,
                "reached_from": None,
                "quantity": None,
                "unit": None,
            }
        ],
        affected_locations=locations,
        affected_cities=sorted({loc["city"] for loc in locations if loc.get("city")}),
        source_lots=[],
        source_locations=[],
        depth_capped=False,
        lot_traced=False,
        scope_lots=(lot_code,),
    )
