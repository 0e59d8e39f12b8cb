"""Lab results of the day: rapid tests by the stations at wholesale markets and
confirmatory tests by the inspection labs, and the results of an incident.

Without an incident every result is unremarkable: rapid tests are negative
(enzyme inhibition well under the 50 % threshold of GB/T 5009.199) and
confirmatory values sit far below the GB 2762 / GB 2763 / GB 31650 limits. Normal
confirmatory tests never look for prohibited substances (clenbuterol, malachite
green), where any detection is a violation.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from foodtrace.simulate.catalog import PRODUCTS, distance_km
from foodtrace.simulate.chain import Arrival, ChainDay, iso
from foodtrace.simulate.network import Actor

LAB_SCHEMA = "foodtrace/lab-result/v1"
INCIDENTS: tuple[str, ...] = ("pesticide", "clenbuterol", "malachite_green")

ENZYME = "GB/T 5009.199 enzyme inhibition"
STRIP = "colloidal gold strip"


@dataclass(frozen=True)
class Assay:
    analyte: str
    method: str
    low: float | None  # range of normal values; None for qualitative strips
    high: float | None
    unit: str | None
    instrument: str


_ENZYME = Assay(
    "organophosphates_carbamates", ENZYME, 2.0, 32.0, "%", "pesticide residue rapid analyser"
)
RAPID: dict[str, Assay] = {
    "vegetable": _ENZYME,
    "fruit": _ENZYME,
    "pork": Assay("clenbuterol", STRIP, None, None, None, "colloidal gold strip reader"),
    "aquatic": Assay("malachite_green", STRIP, None, None, None, "colloidal gold strip reader"),
}

_LEAD = Assay("lead", "GB 5009.268 ICP-MS", 0.005, 0.04, "mg/kg", "Agilent 7900 ICP-MS")
_CADMIUM = Assay("cadmium", "GB 5009.268 ICP-MS", 0.002, 0.02, "mg/kg", "Agilent 7900 ICP-MS")
_CHLORPYRIFOS = Assay(
    "chlorpyrifos", "GB 23200.113 GC-MS/MS", 0.001, 0.008, "mg/kg", "Shimadzu GCMS-TQ8050"
)
_ENRO = Assay("enrofloxacin_ciprofloxacin", "LC-MS/MS", 2.0, 30.0, "ug/kg", "SCIEX QTRAP 5500")
CONFIRMATORY: dict[str, tuple[Assay, ...]] = {
    "vegetable": (_LEAD, _CADMIUM, _CHLORPYRIFOS),
    "fruit": (_LEAD, _CHLORPYRIFOS),
    "pork": (_LEAD, _ENRO),
    "aquatic": (_LEAD, _CADMIUM, _ENRO),
    "vegetable_product": (_LEAD, _CADMIUM),
    "pork_product": (_LEAD,),
}


@dataclass(frozen=True)
class IncidentSpec:
    rapid: Assay
    rapid_positive: tuple[float, float] | None  # inhibition % range, None for strips
    confirmatory: Assay  # low/high = the contaminated value range
    products: tuple[str, ...]  # what the incident lot can be
    roots_only: bool


INCIDENT_SPECS: dict[str, IncidentSpec] = {
    # Organophosphate on one farm's choy sum (a root lot).
    "pesticide": IncidentSpec(
        _ENZYME,
        (58.0, 88.0),
        Assay("omethoate", "GB 23200.121 LC-MS/MS", 0.08, 0.45, "mg/kg", "SCIEX QTRAP 5500"),
        ("VEG-CHOYSUM",),
        True,
    ),
    # Clenbuterol in chilled pork (a transformation output made from several farms' pigs).
    "clenbuterol": IncidentSpec(
        RAPID["pork"],
        None,
        Assay("clenbuterol", "GB/T 22286 LC-MS/MS", 1.5, 9.0, "ug/kg", "SCIEX QTRAP 5500"),
        ("PRK-CHILLED",),
        False,
    ),
    # Malachite green in pond fish or shrimp (a root lot).
    "malachite_green": IncidentSpec(
        RAPID["aquatic"],
        None,
        Assay("malachite_green", "GB/T 19857 LC-MS/MS", 2.0, 18.0, "ug/kg", "SCIEX QTRAP 5500"),
        ("AQU-GRASSCARP", "AQU-TILAPIA", "AQU-SHRIMP"),
        True,
    ),
}

_OPERATORS = (
    "Chen W.",
    "Li X.",
    "Huang J.",
    "Zhang Y.",
    "Liang M.",
    "Wu H.",
    "Lin Q.",
    "Zhou L.",
    "He Z.",
    "Luo F.",
)


@dataclass(frozen=True)
class IncidentPick:
    kind: str
    lot_code: str
    market_id: str
    arrived: datetime
    results: tuple[dict[str, Any], ...]


class LabDay:
    def __init__(
        self, chain: ChainDay, day: date, rng: random.Random, ids: random.Random, token: str
    ) -> None:
        self.chain = chain
        self.net = chain.net
        self.day = day
        self.rng = rng
        self.ids = ids
        self.token = token
        self.results: list[dict[str, Any]] = []
        self._samples: dict[str, int] = {}
        self._labs = self.net.by_role("lab")

    def _sample_id(self, lab: Actor) -> str:
        n = self._samples[lab.actor_id] = self._samples.get(lab.actor_id, 0) + 1
        return f"{lab.actor_id.upper()}-{self.day:%y%m%d}-{self.token}-{n:04d}"

    def _later(
        self, t: datetime, lo_min: float, hi_min: float, rng: random.Random | None = None
    ) -> datetime:
        r = rng or self.rng
        return t + timedelta(seconds=r.randint(int(lo_min * 60), int(hi_min * 60)))

    def nearest_lab(self, place: Actor) -> Actor:
        return min(
            self._labs,
            key=lambda lab: (distance_km(place.lat, place.lon, lab.lat, lab.lon), lab.actor_id),
        )

    def _result(
        self,
        lab: Actor,
        arrival: Arrival,
        sampled: datetime,
        tested: datetime,
        kind: str,
        assay: Assay,
        value: float | None,
        result: str | None,
    ) -> dict[str, Any]:
        lot = self.chain.lots[arrival.lot_code]
        msg: dict[str, Any] = {
            "schema": LAB_SCHEMA,
            "message_id": str(uuid.UUID(int=self.ids.getrandbits(128), version=4)),
            "lab_id": lab.actor_id,
            "sample_id": self._sample_id(lab),
            "lot_code": lot.code,
            "product_code": lot.product,
            "sampled_at": iso(sampled),
            "sampled_location_id": arrival.location_id,
            "tested_at": iso(tested),
            "test_kind": kind,
            "method": assay.method,
            "analyte": assay.analyte,
        }
        if value is not None:
            msg["value"] = value
            msg["unit"] = assay.unit
        if result is not None:
            msg["result"] = result
        msg["operator"] = self.rng.choice(_OPERATORS)
        msg["instrument"] = assay.instrument
        return msg

    def _value(self, assay: Assay) -> float | None:
        if assay.low is None or assay.high is None:
            return None
        digits = 1 if assay.unit in ("%", "ug/kg") else 4
        return round(self.rng.uniform(assay.low, assay.high), digits)

    def routine(self) -> None:
        """Rapid tests at the markets and confirmatory samples across the chain."""
        end = self.chain.end
        for arrival in self.chain.log:
            place = self.net.get(arrival.location_id)
            family = PRODUCTS[self.chain.lots[arrival.lot_code].product].family
            if place.role == "market" and family in RAPID and self.rng.random() < 0.5:
                station = self.net.station_of(place.actor_id)
                sampled = self._later(arrival.time, 10, 60)
                tested = self._later(sampled, 15, 40)
                if tested <= end:
                    assay = RAPID[family]
                    self.results.append(
                        self._result(
                            station,
                            arrival,
                            sampled,
                            tested,
                            "rapid",
                            assay,
                            self._value(assay),
                            "negative",
                        )
                    )
            if place.kind in ("farm", "lab") or family not in CONFIRMATORY:
                continue
            if self.rng.random() < 0.05:
                lab = self.nearest_lab(place)
                sampled = self._later(arrival.time, 15, 120)
                tested = self._later(sampled, 120, 360)
                if tested <= end:
                    assay = self.rng.choice(CONFIRMATORY[family])
                    self.results.append(
                        self._result(
                            lab,
                            arrival,
                            sampled,
                            tested,
                            "confirmatory",
                            assay,
                            self._value(assay),
                            None,
                        )
                    )

    def incident(self, kind: str, rng: random.Random) -> IncidentPick:
        """Contaminate one lot: a positive rapid test at a market, then a lab's
        confirmatory result above the limit. Routine results on that lot go."""
        spec = INCIDENT_SPECS[kind]
        latest = self.chain.end - timedelta(hours=7)  # room for both tests today
        candidates = [
            a
            for a in self.chain.log
            if a.how == "received"
            and a.time <= latest
            and self.net.get(a.location_id).role == "market"
            and self.chain.lots[a.lot_code].product in spec.products
            and (not spec.roots_only or not self.chain.lots[a.lot_code].parents)
        ]
        if not candidates:
            raise ValueError(
                f"no lot today fits a {kind} incident (none reached a wholesale market in "
                "time); use a larger scale or another seed"
            )
        # Prefer lots that went on into transformations: their trace is the interesting one.
        with_downstream = [a for a in candidates if self.chain.lots[a.lot_code].children]
        arrival = rng.choice(with_downstream or candidates)
        self.results = [r for r in self.results if r["lot_code"] != arrival.lot_code]

        market = self.net.get(arrival.location_id)
        station = self.net.station_of(market.actor_id)
        sampled = self._later(arrival.time, 10, 40, rng)
        tested = self._later(sampled, 20, 35, rng)
        value = round(rng.uniform(*spec.rapid_positive), 1) if spec.rapid_positive else None
        rapid = self._result(
            station, arrival, sampled, tested, "rapid", spec.rapid, value, "positive"
        )
        lab = self.nearest_lab(market)
        c_sampled = self._later(tested, 10, 30, rng)
        c_tested = self._later(c_sampled, 150, 300, rng)
        confirm = self._result(
            lab,
            arrival,
            c_sampled,
            c_tested,
            "confirmatory",
            spec.confirmatory,
            self._value(spec.confirmatory),
            None,
        )
        self.results += [rapid, confirm]
        return IncidentPick(kind, arrival.lot_code, market.actor_id, arrival.time, (rapid, confirm))

    def ordered(self) -> list[dict[str, Any]]:
        return sorted(self.results, key=lambda r: (r["tested_at"], r["lab_id"], r["sample_id"]))
