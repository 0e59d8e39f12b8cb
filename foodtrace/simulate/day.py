"""`simulate_day`: the whole synthetic day, as the messages senders would publish."""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from foodtrace.simulate.catalog import PRODUCTS, product_message_payload
from foodtrace.simulate.chain import TZ
from foodtrace.simulate.flows import SupplyDay
from foodtrace.simulate.labs import INCIDENTS, LabDay
from foodtrace.simulate.network import Network, Sizes, build_network
from foodtrace.simulate.truth import GroundTruth, ground_truth

# Message kinds, in publishing order.
KINDS: tuple[str, ...] = ("location", "product", "chain_event", "lab_result")


@dataclass(frozen=True)
class SimulatedDay:
    seed: int
    day: date
    scale: float
    incident: str | None
    sizes: Sizes
    locations: list[dict[str, Any]]
    products: list[dict[str, Any]]
    chain_events: list[dict[str, Any]]  # in event_time order
    lab_results: list[dict[str, Any]]  # in tested_at order
    truth: GroundTruth | None
    network: Network = field(repr=False, compare=False, default=None)  # type: ignore[assignment]

    def messages(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(kind, payload) in publishing order: master data, chain events, lab results."""
        for kind, items in zip(
            KINDS,
            (self.locations, self.products, self.chain_events, self.lab_results),
            strict=True,
        ):
            for payload in items:
                yield kind, payload

    def counts(self) -> dict[str, int]:
        return {
            "locations": len(self.locations),
            "products": len(self.products),
            "chain_events": len(self.chain_events),
            "lab_results": len(self.lab_results),
        }


def default_day() -> date:
    """Yesterday in China Standard Time: a whole day, entirely in the past."""
    return (datetime.now(TZ) - timedelta(days=1)).date()


def _token(seed: int, sizes: Sizes) -> str:
    """Six hex digits that keep lot codes, sample ids and document numbers of
    different seeds apart (codes also carry the date)."""
    return hashlib.sha256(f"{seed}:{sizes}".encode()).hexdigest()[:6].upper()


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _with_id(payload: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """`schema` first, then `message_id`, then the fields (as the other messages)."""
    schema = payload.pop("schema")
    return {"schema": schema, "message_id": _uuid(rng), **payload}


def simulate_day(
    seed: int,
    day: date,
    *,
    scale: float = 1.0,
    incident: str | None = None,
    sizes: Sizes | None = None,
) -> SimulatedDay:
    """A deterministic synthetic day for (seed, day, sizes); `sizes` defaults to
    `Sizes.for_scale(scale)`. The incident only adds lab results (and drops routine
    ones on the incident lot): the chain events are the same with or without it."""
    if incident is not None and incident not in INCIDENTS:
        raise ValueError(f"unknown incident {incident!r}; choose one of {', '.join(INCIDENTS)}")
    sizes = sizes or Sizes.for_scale(scale)
    network = build_network(seed, sizes)
    token = _token(seed, sizes)
    base = f"{seed}:{day.isoformat()}:{sizes}"

    master_ids = random.Random(f"foodtrace-master:{seed}:{sizes}")
    locations = [_with_id(a.location_payload(), master_ids) for a in network.actors]
    products = [_with_id(product_message_payload(p), master_ids) for p in PRODUCTS.values()]

    chain = SupplyDay(
        network,
        day,
        random.Random(f"foodtrace-chain:{base}"),
        random.Random(f"foodtrace-chain-ids:{base}"),
        token,
    )
    chain.run()

    labs = LabDay(
        chain,
        day,
        random.Random(f"foodtrace-labs:{base}"),
        random.Random(f"foodtrace-lab-ids:{base}"),
        token,
    )
    labs.routine()
    truth = None
    if incident is not None:
        pick = labs.incident(incident, random.Random(f"foodtrace-incident:{base}:{incident}"))
        truth = ground_truth(chain, pick)

    return SimulatedDay(
        seed=seed,
        day=day,
        scale=scale,
        incident=incident,
        sizes=sizes,
        locations=locations,
        products=products,
        chain_events=chain.events(),
        lab_results=labs.ordered(),
        truth=truth,
        network=network,
    )
