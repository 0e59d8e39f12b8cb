"""Shared, cached simulated days and an independent reading of chain events
(for the simulator's tests only)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from functools import lru_cache

from foodtrace.simulate import SimulatedDay, simulate_day

DAY = date(2026, 11, 27)


@lru_cache(maxsize=32)
def day(
    seed: int = 11, scale: float = 1.0, incident: str | None = None, on: date = DAY
) -> SimulatedDay:
    return simulate_day(seed, on, scale=scale, incident=incident)


def event_lots(ev: dict) -> list[dict]:
    return ev.get("lots", []) + ev.get("inputs", []) + ev.get("outputs", [])


class EventGraph:
    """The lot graph as a reader of the messages would build it."""

    def __init__(self, events: list[dict]) -> None:
        self.children: dict[str, set[str]] = defaultdict(set)
        self.parents: dict[str, set[str]] = defaultdict(set)
        self.created_by: dict[str, str] = {}
        self.tlc_source: dict[str, str] = {}
        self.places: dict[str, set[str]] = defaultdict(set)
        for ev in events:
            kind = ev["event_type"]
            if kind == "transformation":
                for out in ev["outputs"]:
                    self.created_by[out["lot_code"]] = kind
                    self.tlc_source[out["lot_code"]] = ev["tlc_source_location_id"]
                    for inp in ev["inputs"]:
                        self.children[inp["lot_code"]].add(out["lot_code"])
                        self.parents[out["lot_code"]].add(inp["lot_code"])
            elif kind in ("harvesting", "first_receiving"):
                for line in ev["lots"]:
                    self.created_by[line["lot_code"]] = kind
                    self.tlc_source[line["lot_code"]] = ev["tlc_source_location_id"]
            for line in event_lots(ev):
                self.places[line["lot_code"]].add(ev["location_id"])
                if kind == "shipping":
                    self.places[line["lot_code"]].add(ev["destination_location_id"])

    def reach(self, lot: str, edges: dict[str, set[str]]) -> set[str]:
        seen: set[str] = set()
        frontier = [lot]
        while frontier:
            nxt = []
            for x in frontier:
                for y in edges.get(x, ()):
                    if y not in seen:
                        seen.add(y)
                        nxt.append(y)
            frontier = nxt
        seen.discard(lot)
        return seen
