"""The Critical Tracking Events of one day and the lot model behind them.

`ChainDay` records events through methods that also keep the model (lots, their
parents and children, where each lot has been, what each location holds); the
flows that call them are in `flows.py`.

The lot model (also what the ground truth is computed from):
- A lot code is assigned once, by the event that creates the lot: `harvesting` at a
  farm, `first_receiving` of a boat's catch at a wholesale market, or a
  `transformation` (its outputs). The creating location is the lot's TLC source,
  and every later event that names the lot repeats that `tlc_source_location_id`.
- `cooling` (at the farm) and `initial_packing` (at the packer) keep the farm's lot
  code: they record what happened to the lot, they do not re-code it. Packing trims
  the lot (the packed quantity is 94-99 % of what was received).
- A lot moves by `shipping` (one event per destination, each with its own quantity:
  splits) and the matching `receiving` (same BOL number and quantity).
- Transformations consume part or all of their input lots and make new lots: merges
  (fresh-cut mixes of 2-4 vegetable lots, slaughter batches of 1-3 farms' pigs) and
  a second level (salad packs repacked from a fresh-cut lot; dumplings made from
  chilled pork and choy sum).
- Retailers and restaurants record `sale` events.
Every event names exactly one lot, except transformations. Quantities are in kg,
one decimal; nobody ships, uses or sells more of a lot than they hold.
"""

from __future__ import annotations

import math
import random
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from foodtrace.simulate.catalog import CITY_INFO, PRODUCTS, distance_km
from foodtrace.simulate.network import Actor, Network

CHAIN_SCHEMA = "foodtrace/chain-event/v1"
TZ = timezone(timedelta(hours=8))  # China Standard Time, no DST
DAY_END = time(23, 50)


def floor1(x: float) -> float:
    """Round down to 0.1 kg so that parts never add up to more than the whole."""
    return math.floor(x * 10 + 1e-6) / 10


def iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


@dataclass
class Lot:
    code: str
    product: str
    quantity: float  # at creation
    origin: str  # TLC source location
    created_at: datetime
    created_by: str  # event type that assigned the code
    parents: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    holders: set[str] = field(default_factory=set)  # every location that had it


@dataclass(frozen=True)
class Arrival:
    """A lot became available at a location (created there or received)."""

    location_id: str
    lot_code: str
    time: datetime
    quantity: float
    how: str  # created | received


class Directory:
    """Picks trading partners: nearer cities are likelier, then a business at random."""

    def __init__(self, network: Network, rng: random.Random) -> None:
        self.rng = rng
        self.by_role_city: dict[str, dict[str, list[Actor]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for a in network.actors:
            self.by_role_city[a.role][a.city].append(a)
        self._city_weights: dict[tuple[str, str], tuple[list[str], list[float]]] = {}

    def _cities(self, role: str, src_city: str) -> tuple[list[str], list[float]]:
        key = (role, src_city)
        if key not in self._city_weights:
            src = CITY_INFO[src_city]
            cities = list(self.by_role_city[role])
            weights = [
                len(self.by_role_city[role][c])
                / (20.0 + distance_km(src.lat, src.lon, CITY_INFO[c].lat, CITY_INFO[c].lon))
                for c in cities
            ]
            self._city_weights[key] = (cities, weights)
        return self._city_weights[key]

    def pick(
        self, roles: dict[str, float], src: Actor, k: int, forced: Sequence[Actor] = ()
    ) -> list[Actor]:
        """Up to k distinct partners; `forced` ones first."""
        chosen: list[Actor] = list(forced)[:k]
        present = {r: w for r, w in roles.items() if self.by_role_city.get(r)}
        if not present:
            return chosen
        role_names, role_weights = list(present), list(present.values())
        attempts = 0
        while len(chosen) < k and attempts < 8 * k:
            attempts += 1
            role = self.rng.choices(role_names, role_weights)[0]
            cities, weights = self._cities(role, src.city)
            city = self.rng.choices(cities, weights)[0]
            actor = self.rng.choice(self.by_role_city[role][city])
            if actor is not src and actor not in chosen:
                chosen.append(actor)
        return chosen


class ChainDay:
    """Generates the day's chain events and keeps the lot model alongside."""

    def __init__(
        self, network: Network, day: date, rng: random.Random, ids: random.Random, token: str
    ) -> None:
        self.net = network
        self.day = day
        self.rng = rng
        self.ids = ids
        self.token = token
        self.start = datetime.combine(day, time(0, 0), TZ)
        self.end = datetime.combine(day, DAY_END, TZ)
        self.directory = Directory(network, rng)
        self.lots: dict[str, Lot] = {}
        self.stock: dict[tuple[str, str], float] = {}
        self.arrivals: dict[str, list[Arrival]] = defaultdict(list)
        self.log: list[Arrival] = []
        self._events: list[tuple[datetime, int, dict[str, Any]]] = []
        self._counters: dict[str, int] = defaultdict(int)
        # Processors that still want inputs of a kind (so small days still merge).
        self.wants: dict[str, dict[str, int]] = {}
        for a in network.actors:
            if a.role == "freshcut_plant":
                self.wants[a.actor_id] = {"vegetable": 3}
            elif a.role == "dumpling_plant":
                self.wants[a.actor_id] = {"VEG-CHOYSUM": 1, "PRK-CHILLED": 1}

    # ---- output -------------------------------------------------------------
    def events(self) -> list[dict[str, Any]]:
        """In time order (generation order breaks ties)."""
        return [ev for _, _, ev in sorted(self._events, key=lambda e: (e[0], e[1]))]

    # ---- small helpers ------------------------------------------------------
    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.ids.getrandbits(128), version=4))

    def _number(self, prefix: str) -> str:
        self._counters[prefix] += 1
        return f"{prefix}-{self.day:%y%m%d}-{self.token}-{self._counters[prefix]:05d}"

    def at(self, start: time, stop: time) -> datetime:
        lo = datetime.combine(self.day, start, TZ)
        hi = datetime.combine(self.day, stop, TZ)
        return lo + timedelta(seconds=self.rng.randint(0, int((hi - lo).total_seconds())))

    def later(self, t: datetime, lo_min: float, hi_min: float) -> datetime:
        return t + timedelta(seconds=self.rng.randint(int(lo_min * 60), int(hi_min * 60)))

    def _split(self, total: float, k: int) -> list[float]:
        weights = [self.rng.uniform(0.6, 1.4) for _ in range(k)]
        s = sum(weights)
        return [floor1(total * w / s) for w in weights]

    def _line(self, code: str, qty: float) -> dict[str, Any]:
        return {
            "lot_code": code,
            "product_code": self.lots[code].product,
            "quantity": qty,
            "unit": "kg",
        }

    def _emit(
        self,
        event_type: str,
        actor: Actor,
        t: datetime,
        body: dict[str, Any],
        doc: tuple[str, str],
        kdes: dict[str, Any],
    ) -> dict[str, Any]:
        ev: dict[str, Any] = {
            "schema": CHAIN_SCHEMA,
            "message_id": self._uuid(),
            "actor_id": actor.actor_id,
            "event_type": event_type,
            "event_time": iso(t),
            "location_id": actor.actor_id,
            **body,
            "reference_document": {"type": doc[0], "number": doc[1]},
        }
        if kdes:
            ev["kdes"] = kdes
        self._events.append((t, len(self._events), ev))
        return ev

    def _arrive(self, loc: Actor, code: str, t: datetime, qty: float, how: str) -> None:
        key = (code, loc.actor_id)
        self.stock[key] = round(self.stock.get(key, 0.0) + qty, 1)
        self.lots[code].holders.add(loc.actor_id)
        arrival = Arrival(loc.actor_id, code, t, qty, how)
        self.arrivals[loc.actor_id].append(arrival)
        self.log.append(arrival)

    def _take(self, loc: Actor, code: str, qty: float) -> None:
        key = (code, loc.actor_id)
        left = round(self.stock[key] - qty, 1)
        assert left >= 0, f"{loc.actor_id} would use more of {code} than it holds"
        self.stock[key] = left

    def held(self, loc: Actor, code: str) -> float:
        return self.stock.get((code, loc.actor_id), 0.0)

    def _new_lot(
        self,
        product: str,
        qty: float,
        origin: Actor,
        t: datetime,
        how: str,
        parents: Sequence[str] = (),
    ) -> Lot:
        self._counters["lot"] += 1
        code = (
            f"{origin.actor_id.upper()}-{self.day:%y%m%d}-{self.token}-{self._counters['lot']:05d}"
        )
        lot = Lot(code, product, qty, origin.actor_id, t, how, list(parents))
        self.lots[code] = lot
        for p in parents:
            self.lots[p].children.append(code)
        return lot

    # ---- the Critical Tracking Events ----------------------------------------
    def harvest(
        self,
        farm: Actor,
        product: str,
        qty: float,
        t: datetime,
        recipient: Actor,
        kdes: dict[str, Any],
    ) -> Lot:
        lot = self._new_lot(product, qty, farm, t, "harvesting")
        self._emit(
            "harvesting",
            farm,
            t,
            {"lots": [self._line(lot.code, qty)], "tlc_source_location_id": farm.actor_id},
            ("PO", self._number("PO")),
            {
                "harvest_date": self.day.isoformat(),
                "immediate_subsequent_recipient_location_id": recipient.actor_id,
                "commodity": PRODUCTS[product].name,
                **kdes,
            },
        )
        self._arrive(farm, lot.code, t, qty, "created")
        return lot

    def cool(self, farm: Actor, code: str, t: datetime, recipient: Actor) -> None:
        self._emit(
            "cooling",
            farm,
            t,
            {"lots": [self._line(code, self.held(farm, code))]},
            ("PO", self._number("PO")),
            {
                "cooling_date": self.day.isoformat(),
                "cooling_location_id": farm.actor_id,
                "harvest_location_id": self.lots[code].origin,
                "immediate_subsequent_recipient_location_id": recipient.actor_id,
            },
        )
        self.lots[code].holders.add(farm.actor_id)

    def first_receive(
        self, market: Actor, product: str, qty: float, t: datetime, kdes: dict[str, Any]
    ) -> Lot:
        lot = self._new_lot(product, qty, market, t, "first_receiving")
        self._emit(
            "first_receiving",
            market,
            t,
            {"lots": [self._line(lot.code, qty)], "tlc_source_location_id": market.actor_id},
            ("INV", self._number("INV")),
            {"landing_date": self.day.isoformat(), **kdes},
        )
        self._arrive(market, lot.code, t, qty, "created")
        return lot

    def pack(self, packer: Actor, code: str, t: datetime, kdes: dict[str, Any]) -> float:
        received = self.held(packer, code)
        packed = floor1(received * self.rng.uniform(0.94, 0.99))
        self._emit(
            "initial_packing",
            packer,
            t,
            {"lots": [self._line(code, packed)], "tlc_source_location_id": self.lots[code].origin},
            ("INV", self._number("INV")),
            {
                "pack_date": self.day.isoformat(),
                "received_quantity": received,
                "product_description": PRODUCTS[self.lots[code].product].name,
                **kdes,
            },
        )
        self._take(packer, code, round(received - packed, 1))  # trimmings
        return packed

    def ship(self, code: str, src: Actor, dst: Actor, qty: float, t: datetime) -> datetime | None:
        """Shipping at src and receiving at dst; None if it would not arrive today."""
        qty = min(floor1(qty), self.held(src, code))
        if qty < 1.0:
            return None
        km = distance_km(src.lat, src.lon, dst.lat, dst.lon)
        transit = min(15 + km / 50 * 60, 150) * self.rng.uniform(0.9, 1.15)
        arrive = self.later(t, transit, transit + 5)
        if arrive > self.end:
            return None
        lot = self.lots[code]
        bol = self._number("BOL")
        product = PRODUCTS[lot.product].name
        self._emit(
            "shipping",
            src,
            t,
            {
                "lots": [self._line(code, qty)],
                "destination_location_id": dst.actor_id,
                "tlc_source_location_id": lot.origin,
            },
            ("BOL", bol),
            {"ship_date": t.date().isoformat(), "product_description": product},
        )
        self._take(src, code, qty)
        lot.holders.add(src.actor_id)
        self._emit(
            "receiving",
            dst,
            arrive,
            {
                "lots": [self._line(code, qty)],
                "source_location_id": src.actor_id,
                "tlc_source_location_id": lot.origin,
            },
            ("BOL", bol),
            {"receive_date": arrive.date().isoformat(), "product_description": product},
        )
        self._arrive(dst, code, arrive, qty, "received")
        for family in (PRODUCTS[lot.product].family, lot.product):
            wants = self.wants.get(dst.actor_id, {})
            if wants.get(family, 0) > 0:
                wants[family] -= 1
        return arrive

    def transform(
        self,
        plant: Actor,
        inputs: list[tuple[str, float]],
        outputs: list[tuple[str, float]],
        t: datetime,
        process: str,
    ) -> list[Lot]:
        made = [
            self._new_lot(p, q, plant, t, "transformation", [c for c, _ in inputs])
            for p, q in outputs
        ]
        self._emit(
            "transformation",
            plant,
            t,
            {
                "inputs": [self._line(c, q) for c, q in inputs],
                "outputs": [self._line(lot.code, lot.quantity) for lot in made],
                "tlc_source_location_id": plant.actor_id,
            },
            ("PO", self._number("PO")),
            {"completion_date": self.day.isoformat(), "process": process},
        )
        for c, q in inputs:
            self._take(plant, c, q)
            self.lots[c].holders.add(plant.actor_id)
        for lot in made:
            self._arrive(plant, lot.code, t, lot.quantity, "created")
        return made

    def sell(self, shop: Actor, code: str, qty: float, t: datetime) -> None:
        self._emit(
            "sale",
            shop,
            t,
            {"lots": [self._line(code, qty)]},
            ("INV", self._number("INV")),
            {
                "sale_date": self.day.isoformat(),
                "channel": "restaurant" if shop.kind == "restaurant" else "retail",
            },
        )
        self._take(shop, code, qty)
        self.lots[code].holders.add(shop.actor_id)
