"""The businesses of the synthetic Pearl River Delta supply chain.

The network depends on (seed, sizes) only, not on the day: simulating several days
with one seed gives the same farms, markets and shops, with new lots every day.
Every business records its own events, so its actor id is its location id; ids
follow `{prefix}-{city}-{nn}` (farm-zq-01, market-gz-01, lab-sz-02), the same
convention the broker's per-sender accounts use.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any

from foodtrace.simulate.catalog import CITY_INFO, FISH, FRUIT, POND_SPECIES, VEGETABLES
from foodtrace.simulate.descriptions import location_description


@dataclass(frozen=True)
class Sizes:
    """How many businesses of each role; `for_scale` multiplies the defaults."""

    veg_farms: int = 24
    fruit_farms: int = 8
    pig_farms: int = 10
    fish_ponds: int = 10
    packers: int = 8
    freshcut_plants: int = 3
    pork_plants: int = 3
    dumpling_plants: int = 1
    distributors: int = 8
    markets: int = 6
    retailers: int = 40
    restaurants: int = 40
    labs: int = 4

    @classmethod
    def for_scale(cls, scale: float) -> Sizes:
        if not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        base = cls()
        # Every role keeps a minimum so that a small day still has every kind of
        # flow (splits, merges, two-level transformations, market tests).
        return cls(
            **{
                f.name: max(_MINIMUM[f.name], round(getattr(base, f.name) * scale))
                for f in fields(cls)
            }
        )


_MINIMUM = {
    "veg_farms": 4,
    "fruit_farms": 1,
    "pig_farms": 2,
    "fish_ponds": 2,
    "packers": 2,
    "freshcut_plants": 1,
    "pork_plants": 1,
    "dumpling_plants": 1,
    "distributors": 1,
    "markets": 2,
    "retailers": 4,
    "restaurants": 3,
    "labs": 1,
}

# role -> (location kind, id prefix, city weights)
_ROLES: dict[str, tuple[str, str, dict[str, float]]] = {
    "veg_farm": (
        "farm",
        "farm",
        {
            "zhaoqing": 3,
            "huizhou": 3,
            "guangzhou": 2,
            "jiangmen": 2,
            "foshan": 1,
            "dongguan": 1,
            "zhongshan": 1,
            "zhuhai": 0.5,
            "shenzhen": 0.2,
        },
    ),
    "fruit_farm": (
        "farm",
        "farm",
        {
            "dongguan": 2,
            "guangzhou": 2,
            "huizhou": 1,
            "zhongshan": 1,
            "jiangmen": 1,
            "zhaoqing": 1,
            "foshan": 0.5,
            "shenzhen": 0.5,
            "zhuhai": 0.3,
        },
    ),
    "pig_farm": (
        "farm",
        "farm",
        {"zhaoqing": 3, "jiangmen": 3, "huizhou": 2, "foshan": 1, "guangzhou": 1, "zhongshan": 0.5},
    ),
    "fish_pond": (
        "farm",
        "farm",
        {
            "foshan": 3,
            "zhongshan": 2,
            "jiangmen": 2,
            "zhuhai": 2,
            "guangzhou": 1,
            "zhaoqing": 1,
            "dongguan": 0.5,
        },
    ),
    "packer": (
        "packer",
        "packer",
        {"guangzhou": 2, "foshan": 2, "zhaoqing": 1, "huizhou": 1, "jiangmen": 1, "dongguan": 1},
    ),
    "freshcut_plant": (
        "processor",
        "proc",
        {"guangzhou": 2, "shenzhen": 2, "dongguan": 1, "foshan": 1},
    ),
    "pork_plant": (
        "processor",
        "proc",
        {"guangzhou": 2, "foshan": 1, "dongguan": 1, "jiangmen": 1, "huizhou": 1},
    ),
    "dumpling_plant": ("processor", "proc", {"guangzhou": 1, "foshan": 1, "dongguan": 1}),
    "distributor": (
        "distributor",
        "dist",
        {
            "guangzhou": 3,
            "shenzhen": 3,
            "dongguan": 2,
            "foshan": 2,
            "huizhou": 1,
            "zhongshan": 1,
            "jiangmen": 1,
            "zhuhai": 1,
            "zhaoqing": 0.5,
        },
    ),
    "market": (
        "wholesale_market",
        "market",
        {
            "guangzhou": 3,
            "shenzhen": 2,
            "foshan": 1,
            "dongguan": 1,
            "zhuhai": 1,
            "huizhou": 0.5,
            "zhongshan": 0.5,
            "jiangmen": 0.5,
            "zhaoqing": 0.3,
        },
    ),
    "retailer": (
        "retailer",
        "retail",
        {
            "guangzhou": 3,
            "shenzhen": 3,
            "dongguan": 1.5,
            "foshan": 1.5,
            "zhuhai": 0.7,
            "huizhou": 0.7,
            "zhongshan": 0.7,
            "jiangmen": 0.5,
            "zhaoqing": 0.4,
        },
    ),
    "restaurant": (
        "restaurant",
        "rest",
        {
            "guangzhou": 3,
            "shenzhen": 3,
            "dongguan": 1.5,
            "foshan": 1.5,
            "zhuhai": 0.7,
            "huizhou": 0.7,
            "zhongshan": 0.7,
            "jiangmen": 0.5,
            "zhaoqing": 0.4,
        },
    ),
    "lab": (
        "lab",
        "lab",
        {
            "guangzhou": 2,
            "shenzhen": 2,
            "foshan": 1,
            "dongguan": 1,
            "zhuhai": 0.5,
            "huizhou": 0.5,
            "jiangmen": 0.5,
        },
    ),
}
# The first businesses of some roles sit where the delta's trade really concentrates.
_FIRST_CITIES = {"market": ("guangzhou", "shenzhen"), "lab": ("guangzhou", "shenzhen")}

_CROPS_NAME = {
    "VEG-CHOYSUM": "Choy Sum",
    "VEG-CHCABBAGE": "Cabbage",
    "VEG-SPINACH": "Spinach",
    "VEG-LETTUCE": "Lettuce",
    "FRU-LYCHEE": "Lychee",
    "FRU-BANANA": "Banana",
}
_RETAIL_STYLES = ("Supermarket", "Fresh Mart", "Wet Market Stalls", "Community Grocery")
_RESTAURANT_STYLES = (
    "Dim Sum Restaurant",
    "Cantonese Kitchen",
    "Staff Canteen",
    "Hotpot Restaurant",
    "Noodle House",
)


@dataclass(frozen=True)
class Actor:
    actor_id: str  # also its location_id
    name: str
    kind: str  # reference.LOCATION_KINDS
    role: str  # finer: veg_farm, pork_plant, market, station, ...
    city: str
    lat: float
    lon: float
    crops: tuple[str, ...] = ()  # product codes a farm produces
    market_id: str | None = None  # for a market's rapid-test station
    district: str = ""  # where in the city (its address)
    number: int = 0  # the nn of its id

    def location_payload(self) -> dict[str, Any]:
        return {
            "schema": "foodtrace/location/v1",
            "location_id": self.actor_id,
            "name": self.name,
            "kind": self.kind,
            "city": self.city,
            "lat": self.lat,
            "lon": self.lon,
            # the FDA spreadsheet's location description (optional master data)
            **location_description(self.actor_id, self.role, self.city, self.district,
                                   self.crops, self.name, self.number),
        }


@dataclass(frozen=True)
class Network:
    actors: tuple[Actor, ...]

    def by_role(self, role: str) -> list[Actor]:
        return [a for a in self.actors if a.role == role]

    def get(self, actor_id: str) -> Actor:
        return self._index[actor_id]

    @cached_property
    def _index(self) -> dict[str, Actor]:
        return {a.actor_id: a for a in self.actors}

    @cached_property
    def _stations(self) -> dict[str, Actor]:
        return {a.market_id: a for a in self.actors if a.role == "station" and a.market_id}

    def station_of(self, market_id: str) -> Actor:
        return self._stations[market_id]


def build_network(seed: int, sizes: Sizes) -> Network:
    rng = random.Random(f"foodtrace-network:{seed}:{sizes}")
    counters: dict[tuple[str, str], int] = {}
    actors: list[Actor] = []

    def place(role: str, index: int) -> Actor:
        kind, prefix, weights = _ROLES[role]
        first = _FIRST_CITIES.get(role, ())
        if index < len(first):
            city_code = first[index]
        else:
            city_code = rng.choices(list(weights), weights=list(weights.values()))[0]
        city = CITY_INFO[city_code]
        key = (prefix, city.short)
        counters[key] = counters.get(key, 0) + 1
        actor_id = f"{prefix}-{city.short}-{counters[key]:02d}"
        rural = kind in ("farm", "packer")
        spread = 0.18 if rural else 0.07
        lat = round(city.lat + rng.uniform(-spread, spread), 5)
        lon = round(city.lon + rng.uniform(-spread, spread), 5)
        district = rng.choice(city.districts)
        crops = _crops(role, rng)
        name = _name(role, district, city.name, crops, rng, counters[key])
        return Actor(actor_id, name, kind, role, city_code, lat, lon, crops,
                     district=district, number=counters[key])

    for role, count in (
        ("veg_farm", sizes.veg_farms),
        ("fruit_farm", sizes.fruit_farms),
        ("pig_farm", sizes.pig_farms),
        ("fish_pond", sizes.fish_ponds),
        ("packer", sizes.packers),
        ("freshcut_plant", sizes.freshcut_plants),
        ("pork_plant", sizes.pork_plants),
        ("dumpling_plant", sizes.dumpling_plants),
        ("distributor", sizes.distributors),
        ("market", sizes.markets),
        ("retailer", sizes.retailers),
        ("restaurant", sizes.restaurants),
        ("lab", sizes.labs),
    ):
        actors.extend(place(role, i) for i in range(count))

    # A rapid-test station at every wholesale market (a `lab` location on site).
    for market in [a for a in actors if a.role == "market"]:
        city = CITY_INFO[market.city]
        key = ("lab", city.short)
        counters[key] = counters.get(key, 0) + 1
        actors.append(
            Actor(
                f"lab-{city.short}-{counters[key]:02d}",
                f"{market.name} Rapid Test Station",
                "lab",
                "station",
                market.city,
                market.lat,
                market.lon,
                market_id=market.actor_id,
                district=market.district,
                number=counters[key],
            )
        )
    return Network(tuple(actors))


def _crops(role: str, rng: random.Random) -> tuple[str, ...]:
    if role == "veg_farm":
        # Choy sum is the delta's staple vegetable: most vegetable farms grow it.
        others = [c for c in VEGETABLES if c != "VEG-CHOYSUM"]
        crops = ["VEG-CHOYSUM"] if rng.random() < 0.7 else []
        crops += rng.sample(others, rng.randint(1, 2))
        return tuple(crops)
    if role == "fruit_farm":
        return (rng.choice(FRUIT),)
    if role == "pig_farm":
        return ("PRK-PIG",)
    if role == "fish_pond":
        return tuple(rng.sample(POND_SPECIES, rng.randint(1, 2))) or FISH
    return ()


def _name(
    role: str, district: str, city: str, crops: tuple[str, ...], rng: random.Random, n: int
) -> str:
    match role:
        case "veg_farm":
            return f"{district} {_CROPS_NAME[crops[0]]} Growers' Cooperative No.{n}"
        case "fruit_farm":
            return f"{district} {_CROPS_NAME[crops[0]]} Orchard No.{n}"
        case "pig_farm":
            return f"{district} Pig Farm No.{n}"
        case "fish_pond":
            return f"{district} Aquaculture Ponds No.{n}"
        case "packer":
            return f"{district} Produce Packing House No.{n}"
        case "freshcut_plant":
            return f"{district} Fresh-Cut Vegetable Plant No.{n}"
        case "pork_plant":
            return f"{district} Designated Pig Slaughter and Pork Processing Plant No.{n}"
        case "dumpling_plant":
            return f"{district} Frozen Foods Factory No.{n}"
        case "distributor":
            return f"{district} Cold-Chain Distribution Centre No.{n}"
        case "market":
            return f"{district} Agricultural Products Wholesale Market No.{n}"
        case "retailer":
            return f"{district} {rng.choice(_RETAIL_STYLES)} No.{n}"
        case "restaurant":
            return f"{district} {rng.choice(_RESTAURANT_STYLES)} No.{n}"
        case "lab":
            return f"{city} {district} Food Inspection and Testing Centre No.{n}"
    raise ValueError(role)
