"""What a correct trace and alert must say about an incident, computed from the
simulator's own lot model (parents, children, holders), not from any SQL.

Per the contract (spec sections 3 and 4):
- affected_lots = {L} ∪ downstream(L): every lot made from L by transformations,
  transitively;
- affected_locations = every location that shipped, received, held (created, packed,
  cooled, transformed, stored) or sold any affected lot; affected_cities = theirs;
- source_lots = the upstream roots of L (lots created by harvesting or
  first_receiving; L itself when L is a root); source_locations = where those
  roots' codes were assigned (the farm, or the market that first received a catch).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from foodtrace.reference import ROOT_EVENT_TYPES
from foodtrace.simulate.chain import ChainDay, Lot
from foodtrace.simulate.labs import INCIDENT_SPECS, IncidentPick


@dataclass(frozen=True)
class ExpectedAlert:
    severity: str  # warning (rapid positive) | critical (confirmatory above the limit)
    test_kind: str
    analyte: str
    lab_id: str
    sample_id: str
    message_id: str
    value: float | None
    unit: str | None


@dataclass(frozen=True)
class GroundTruth:
    incident: str
    lot_code: str
    product_code: str
    sampled_location_id: str
    rapid_analyte: str
    confirmatory_analyte: str
    expected_alerts: tuple[ExpectedAlert, ...]
    affected_lots: tuple[str, ...]
    affected_locations: tuple[str, ...]
    affected_cities: tuple[str, ...]
    source_lots: tuple[str, ...]
    source_locations: tuple[str, ...]
    upstream_lots: tuple[str, ...]
    downstream_lots: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, tuple):
                data[key] = list(value)
        return data


def _reach(start: str, step: Callable[[Lot], Iterable[str]], lots: dict[str, Lot]) -> set[str]:
    seen: set[str] = set()
    todo = deque([start])
    while todo:
        for nxt in step(lots[todo.popleft()]):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    seen.discard(start)
    return seen


def ground_truth(chain: ChainDay, pick: IncidentPick) -> GroundTruth:
    lots = chain.lots
    lot = lots[pick.lot_code]
    downstream = _reach(lot.code, lambda x: x.children, lots)
    upstream = _reach(lot.code, lambda x: x.parents, lots)
    affected = {lot.code} | downstream
    locations = set().union(*(lots[c].holders for c in affected))
    roots = {c for c in upstream | {lot.code} if lots[c].created_by in ROOT_EVENT_TYPES}
    spec = INCIDENT_SPECS[pick.kind]
    alerts = tuple(
        ExpectedAlert(
            "warning" if r["test_kind"] == "rapid" else "critical",
            r["test_kind"],
            r["analyte"],
            r["lab_id"],
            r["sample_id"],
            r["message_id"],
            r.get("value"),
            r.get("unit"),
        )
        for r in pick.results
    )
    return GroundTruth(
        incident=pick.kind,
        lot_code=lot.code,
        product_code=lot.product,
        sampled_location_id=pick.market_id,
        rapid_analyte=spec.rapid.analyte,
        confirmatory_analyte=spec.confirmatory.analyte,
        expected_alerts=alerts,
        affected_lots=tuple(sorted(affected)),
        affected_locations=tuple(sorted(locations)),
        affected_cities=tuple(sorted({chain.net.get(loc).city for loc in locations})),
        source_lots=tuple(sorted(roots)),
        source_locations=tuple(sorted({lots[c].origin for c in roots})),
        upstream_lots=tuple(sorted(upstream)),
        downstream_lots=tuple(sorted(downstream)),
    )
