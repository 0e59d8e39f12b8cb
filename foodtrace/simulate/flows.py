"""The day's flows through the network (which CTEs happen where and when).

Vegetables and fruit: harvest at the farm before dawn, optional cooling there,
shipped to a packer, packed, then split across wholesale markets, distributors,
fresh-cut plants, the dumpling factory and supermarkets. Pigs: loaded at night,
slaughtered in batches of 1-3 farms' pigs into chilled pork lots. Pond fish and
shrimp: harvested and sold live to markets; boats land catches at markets
(`first_receiving`). Fresh-cut plants mix 2-4 vegetable lots and repack part of a
mix as salad packs; the dumpling factory makes dumplings from chilled pork and
choy sum. Markets and distributors split what they receive across shops and
restaurants, which record sales. Steps that would end after 23:50 are skipped
(the goods stay where they are).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from foodtrace.simulate.catalog import PRODUCTS
from foodtrace.simulate.chain import Arrival, ChainDay, floor1
from foodtrace.simulate.network import Actor


class SupplyDay(ChainDay):
    """A ChainDay that knows how the delta's food moves; `run()` generates the day."""

    def distribute(
        self,
        code: str,
        src: Actor,
        t: datetime,
        roles: dict[str, float],
        ks: tuple[int, ...],
        share: tuple[float, float],
        available: float | None = None,
    ) -> None:
        """Split (a share of) what src holds of a lot across several destinations."""
        product = self.lots[code].product
        family = PRODUCTS[product].family
        forced = [
            self.net.get(pid)
            for pid, wants in self.wants.items()
            if (wants.get(family, 0) > 0 or wants.get(product, 0) > 0)
            and self.net.get(pid).role in roles
        ][:1]
        k = self.rng.choice(ks)
        dests = self.directory.pick(roles, src, k, forced)
        if not dests:
            return
        held = self.held(src, code)
        total = min(held, available if available is not None else held) * self.rng.uniform(*share)
        for dst, qty in zip(dests, self._split(total, len(dests)), strict=True):
            self.ship(code, src, dst, qty, self.later(t, 5, 75))

    def run(self) -> None:
        self._produce()
        self._pigs()
        self._ponds()
        self._boats()
        self._slaughter()
        self._fresh_cut()
        self._dumplings()
        self._wholesale()
        self._retail()

    def _produce(self) -> None:
        farms = self.net.by_role("veg_farm") + self.net.by_role("fruit_farm")
        for farm in farms:
            is_veg = farm.role == "veg_farm"
            for n in range(self.rng.randint(1, 3) if is_veg else self.rng.randint(1, 2)):
                product = self.rng.choice(farm.crops)
                qty = floor1(self.rng.uniform(400, 2500) if is_veg else self.rng.uniform(300, 3000))
                t = self.at(time(0, 30), time(4, 30)) if is_veg else self.at(time(4), time(7))
                packer = self.directory.pick({"packer": 1}, farm, 1)[0]
                lot = self.harvest(
                    farm, product, qty, t, packer, {"field_id": f"{farm.actor_id}-field-{n + 1}"}
                )
                cooled = product == "FRU-LYCHEE" or (is_veg and self.rng.random() < 0.5)
                if cooled:
                    t = self.later(t, 20, 60)
                    self.cool(farm, lot.code, t, packer)
                arrive = self.ship(lot.code, farm, packer, qty, self.later(t, 20, 60))
                if arrive is None:
                    continue
                t_pack = self.later(arrive, 30, 90)
                self.pack(
                    packer,
                    lot.code,
                    t_pack,
                    {
                        "harvest_location_id": farm.actor_id,
                        "field_id": f"{farm.actor_id}-field-{n + 1}",
                        "harvest_date": self.day.isoformat(),
                        "received_date": arrive.date().isoformat(),
                        "harvester_business_name": farm.name,
                        **(
                            {
                                "cooling_location_id": farm.actor_id,
                                "cooling_date": self.day.isoformat(),
                            }
                            if cooled
                            else {}
                        ),
                    },
                )
                roles = {"market": 3, "distributor": 2, "retailer": 0.5}
                if is_veg:
                    roles["freshcut_plant"] = 1.2
                if product == "VEG-CHOYSUM":
                    roles["dumpling_plant"] = 0.6
                self.distribute(
                    lot.code,
                    packer,
                    self.later(t_pack, 15, 30),
                    roles,
                    (1, 2, 2, 3, 3, 4),
                    (0.85, 1.0),
                )

    def _pigs(self) -> None:
        for farm in self.net.by_role("pig_farm"):
            for n in range(self.rng.randint(1, 2)):
                heads = self.rng.randint(20, 80)
                qty = floor1(heads * self.rng.uniform(105, 125))
                t = self.at(time(0, 30), time(3, 0))
                plant = self.directory.pick({"pork_plant": 1}, farm, 1)[0]
                lot = self.harvest(
                    farm,
                    "PRK-PIG",
                    qty,
                    t,
                    plant,
                    {
                        "pen_id": f"{farm.actor_id}-pen-{n + 1}",
                        "head_count": heads,
                        "animal_quarantine_certificate": self._number("AQC"),
                    },
                )
                self.ship(lot.code, farm, plant, qty, self.later(t, 20, 45))

    def _ponds(self) -> None:
        for pond in self.net.by_role("fish_pond"):
            for n in range(self.rng.randint(1, 2)):
                product = self.rng.choice(pond.crops)
                qty = floor1(self.rng.uniform(300, 1500))
                t = self.at(time(1, 0), time(4, 0))
                first = self.directory.pick({"market": 1}, pond, 1)[0]
                lot = self.harvest(
                    pond, product, qty, t, first, {"container_id": f"{pond.actor_id}-pond-{n + 1}"}
                )
                dests = self.directory.pick(
                    {"market": 4, "distributor": 1, "restaurant": 0.5},
                    pond,
                    self.rng.choice((1, 1, 2)),
                    [first],
                )
                for dst, part in zip(
                    dests, self._split(qty * self.rng.uniform(0.95, 1.0), len(dests)), strict=True
                ):
                    self.ship(lot.code, pond, dst, part, self.later(t, 20, 60))

    def _boats(self) -> None:
        areas = ("Pearl River Estuary", "South China Sea, FAO area 61", "Daya Bay")
        for market in self.net.by_role("market"):
            for _ in range(self.rng.choice((0, 1, 1, 2))):
                product = self.rng.choice(("AQU-SHRIMP", "AQU-SHRIMP", "AQU-TILAPIA"))
                t = self.at(time(2, 0), time(5, 0))
                self.first_receive(
                    market,
                    product,
                    floor1(self.rng.uniform(200, 1200)),
                    t,
                    {
                        "vessel_id": f"YUE-{self.rng.randint(10000, 99999)}",
                        "harvest_area": self.rng.choice(areas),
                        "harvest_date_range": [
                            (self.day - timedelta(days=self.rng.randint(1, 3))).isoformat(),
                            self.day.isoformat(),
                        ],
                    },
                )

    def _batches(self, arrivals: list[Arrival], sizes: tuple[int, ...]) -> list[list[Arrival]]:
        pending = sorted(arrivals, key=lambda a: (a.time, a.lot_code))
        out = []
        while pending:
            n = self.rng.choice(sizes)
            out.append(pending[:n])
            pending = pending[n:]
        return out

    def _whole(self, plant: Actor, batch: list[Arrival]) -> list[tuple[str, float]]:
        """All of each lot of the batch that the plant holds (each lot once)."""
        codes = list(dict.fromkeys(a.lot_code for a in batch))
        return [(c, self.held(plant, c)) for c in codes if self.held(plant, c) > 0]

    def _slaughter(self) -> None:
        for plant in self.net.by_role("pork_plant"):
            pigs = [a for a in self.arrivals[plant.actor_id] if a.how == "received"]
            for batch in self._batches(pigs, (1, 2, 2, 3, 3)):
                t = self.later(max(a.time for a in batch), 60, 150)
                if t > self.end - timedelta(hours=3):
                    continue  # too late today: the pigs wait in the lairage
                inputs = self._whole(plant, batch)
                if not inputs:
                    continue
                total = sum(q for _, q in inputs) * self.rng.uniform(0.62, 0.70)
                outs = self._split(total, self.rng.choice((1, 2, 2)))
                made = self.transform(
                    plant,
                    inputs,
                    [("PRK-CHILLED", q) for q in outs],
                    t,
                    "slaughter, chilling and cutting",
                )
                for lot in made:
                    self.distribute(
                        lot.code,
                        plant,
                        self.later(t, 20, 60),
                        {
                            "market": 3,
                            "distributor": 2,
                            "retailer": 1,
                            "restaurant": 1,
                            "dumpling_plant": 0.5,
                        },
                        (2, 3, 3, 4),
                        (0.85, 1.0),
                    )

    def _fresh_cut(self) -> None:
        for plant in self.net.by_role("freshcut_plant"):
            veg = [a for a in self.arrivals[plant.actor_id] if a.how == "received"]
            for batch in self._batches(veg, (2, 3, 3, 4)):
                t = self.later(max(a.time for a in batch), 45, 120)
                if t > self.end - timedelta(hours=4):
                    continue
                inputs = self._whole(plant, batch)
                if not inputs:
                    continue
                total = sum(q for _, q in inputs) * self.rng.uniform(0.78, 0.88)
                outs = self._split(total, self.rng.choice((1, 1, 2)))
                made = self.transform(
                    plant,
                    inputs,
                    [("VPR-FRESHCUT", q) for q in outs],
                    t,
                    "washing, cutting and mixing",
                )
                # Second level: part of the first mix is repacked as salad packs.
                t2 = self.later(t, 40, 90)
                used = floor1(made[0].quantity * self.rng.uniform(0.4, 0.7))
                packs = self.transform(
                    plant,
                    [(made[0].code, used)],
                    [("VPR-SALADPACK", floor1(used * self.rng.uniform(0.95, 0.99)))],
                    t2,
                    "repacking into retail salad packs",
                )
                for lot in made:
                    self.distribute(
                        lot.code,
                        plant,
                        self.later(t, 20, 50),
                        {"restaurant": 3, "retailer": 1},
                        (1, 2, 3),
                        (0.9, 1.0),
                    )
                self.distribute(
                    packs[0].code,
                    plant,
                    self.later(t2, 15, 40),
                    {"retailer": 1},
                    (2, 3, 4),
                    (0.9, 1.0),
                )

    def _dumplings(self) -> None:
        for plant in self.net.by_role("dumpling_plant"):
            got = [
                a
                for a in self.arrivals[plant.actor_id]
                if a.how == "received" and a.time < self.end - timedelta(hours=5)
            ]
            pork = [a for a in got if self.lots[a.lot_code].product == "PRK-CHILLED"]
            greens = [a for a in got if self.lots[a.lot_code].product == "VEG-CHOYSUM"]
            if not pork or not greens:
                continue  # nothing to make today; what arrived stays in the cold store
            batch = sorted(pork + greens, key=lambda a: (a.time, a.lot_code))
            t = self.later(max(a.time for a in batch), 60, 120)
            inputs = [
                (
                    a.lot_code,
                    floor1(
                        self.held(plant, a.lot_code)
                        * (self.rng.uniform(0.5, 0.9) if a in pork else self.rng.uniform(0.3, 0.6))
                    ),
                )
                for a in batch
            ]
            inputs = [(c, q) for c, q in inputs if q > 0]
            out = floor1(sum(q for _, q in inputs) * self.rng.uniform(0.9, 0.97))
            made = self.transform(
                plant, inputs, [("MPR-DUMPLING", out)], t, "mincing, filling and quick-freezing"
            )
            self.distribute(
                made[0].code, plant, self.later(t, 30, 60), {"retailer": 1}, (2, 3, 4), (0.8, 1.0)
            )

    def _wholesale(self) -> None:
        hubs = self.net.by_role("distributor") + self.net.by_role("market")
        for hub in hubs:
            is_market = hub.role == "market"
            for arrival in sorted(self.arrivals[hub.actor_id], key=lambda a: (a.time, a.lot_code)):
                t = (
                    self.later(arrival.time, 20, 90)
                    if is_market
                    else self.later(arrival.time, 30, 120)
                )
                self.distribute(
                    arrival.lot_code,
                    hub,
                    t,
                    {"retailer": 3, "restaurant": 3 if is_market else 2},
                    (2, 3, 3, 4, 5) if is_market else (2, 3, 4),
                    (0.8, 1.0),
                    available=arrival.quantity,
                )

    def _retail(self) -> None:
        shops = self.net.by_role("retailer") + self.net.by_role("restaurant")
        for shop in shops:
            for arrival in sorted(self.arrivals[shop.actor_id], key=lambda a: (a.time, a.lot_code)):
                # Only what this delivery brought: a second delivery of the lot comes later.
                available = min(arrival.quantity, self.held(shop, arrival.lot_code))
                total = available * self.rng.uniform(0.5, 1.0)
                n = self.rng.choice((1, 1, 2))
                times = sorted(self.later(arrival.time, 30, 300) for _ in range(n))
                for t, qty in zip(times, self._split(total, n), strict=True):
                    if t <= self.end and qty >= 0.1:
                        self.sell(shop, arrival.lot_code, qty, t)
