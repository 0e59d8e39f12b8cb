"""When each message of a messy day is published (see `messy.py`): senders' sync
intervals, late uploads, lots held back until after their lab result, the incident
location held to wave 1, and master data registered after the events naming it."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from foodtrace.simulate.day import SimulatedDay

# Why a message is published when it is (Publication.reason).
ON_TIME, LATE, HELD_FOR_LAB, LATE_SCOPE, LATE_MASTER_DATA = (
    "on_time",
    "late_upload",
    "held_for_lab",
    "late_scope",
    "late_master",
)
# A late upload comes 2 to 20 hours after the event: the end of the shift, or the next
# morning; the same delay holds a tested lot's events behind its lab result.
LATE_HOURS = (2.0, 20.0)
# When on time, each sender syncs every N minutes (connected ERPs at once, handhelds
# every 5-15 min, small businesses hourly): so shipments and receipts of different
# senders interleave and a receiving often arrives before its shipping.
SYNC_MINUTES = (1, 5, 15, 30, 60)
SYNC_WEIGHTS = (3, 3, 2, 1, 1)
LAB_DELAY_MINUTES = (1.0, 10.0)  # a result is pushed minutes after approval
MASTER_LEAD = timedelta(hours=1)  # on-time master data: loaded before the day starts


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def random_minutes(rng: random.Random, span: tuple[float, float]) -> timedelta:
    return timedelta(seconds=round(rng.uniform(*span) * 60))


def random_hours(rng: random.Random, span: tuple[float, float]) -> timedelta:
    return random_minutes(rng, (span[0] * 60, span[1] * 60))


def event_times(
    sim: SimulatedDay,
    late_upload: float,
    start: datetime,
    sync_rng: random.Random,
    late_rng: random.Random,
) -> tuple[list[datetime], list[str]]:
    """Each event at its sender's next sync, or (a share) hours late."""
    sync: dict[str, tuple[float, float]] = {}
    for loc in sorted(loc["location_id"] for loc in sim.locations):
        every: float = sync_rng.choices(SYNC_MINUTES, SYNC_WEIGHTS)[0]
        sync[loc] = (every, sync_rng.uniform(0, every))
    at: list[datetime] = []
    why: list[str] = []
    for ev in sim.chain_events:
        t = ts(ev["event_time"])
        if late_rng.random() < late_upload:
            at.append(t + random_hours(late_rng, LATE_HOURS))
            why.append(LATE)
            continue
        every, phase = sync.get(ev["actor_id"], (1.0, 0.0))
        elapsed = (t - start).total_seconds() / 60
        at.append(t + timedelta(minutes=(phase - elapsed) % every))
        why.append(ON_TIME)
    return at, why


def lot_lines(ev: dict[str, Any]) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = ev.get("lots", []) + ev.get("inputs", []) + ev.get("outputs", [])
    return lines


def lot_codes(ev: dict[str, Any]) -> set[str]:
    return {line["lot_code"] for line in lot_lines(ev)}


def events_by_lot(events: list[dict[str, Any]]) -> dict[str, list[int]]:
    by_lot: dict[str, list[int]] = defaultdict(list)
    for i, ev in enumerate(events):
        for code in lot_codes(ev):
            by_lot[code].append(i)
    return by_lot


def incident_events(sim: SimulatedDay, by_lot: dict[str, list[int]]) -> set[int]:
    truth = sim.truth
    if truth is None:
        return set()
    lots = {truth.lot_code, *truth.affected_lots, *truth.upstream_lots}
    return {i for code in lots for i in by_lot.get(code, ())}


def hold_for_labs(
    sim: SimulatedDay,
    lab_first: float,
    by_lot: dict[str, list[int]],
    lab_at: list[datetime],
    ev_at: list[datetime],
    ev_why: list[str],
    rng: random.Random,
) -> None:
    """Hold back every event of a few tested lots until after their lab result. Lots
    sharing an event with the incident's trace are left alone, so that what wave 1
    changes in its alert is the held location (and random late uploads), not a side
    effect of another lot's test."""
    incident = incident_events(sim, by_lot)
    candidates = [
        j
        for j, r in enumerate(sim.lab_results)
        if by_lot.get(r["lot_code"]) and not incident & set(by_lot[r["lot_code"]])
    ]
    k = max(1, round(lab_first * len(candidates))) if lab_first > 0 else 0
    for j in sorted(rng.sample(candidates, min(k, len(candidates)))):
        for i in by_lot[sim.lab_results[j]["lot_code"]]:
            if ev_at[i] <= lab_at[j]:
                ev_at[i] = lab_at[j] + random_hours(rng, LATE_HOURS)
                ev_why[i] = HELD_FOR_LAB


def hold_scope(
    sim: SimulatedDay,
    cutoff: datetime,
    ev_at: list[datetime],
    ev_why: list[str],
    rng: random.Random,
) -> str | None:
    """With an incident: hold to wave 1 every event placing affected lots at one
    location (shipped there, received or sold there, shipped on from there), so the
    alert raised in wave 0 grows by it. Prefer a shop (no transformation, nothing
    shipped on) in a city the alert does not name otherwise, then the latest one."""
    truth = sim.truth
    if truth is None:
        return None
    affected = set(truth.affected_lots)
    city = {loc["location_id"]: loc["city"] for loc in sim.locations}
    touching: dict[str, list[int]] = defaultdict(list)
    for i, ev in enumerate(sim.chain_events):
        if lot_codes(ev) & affected:
            places = {ev["location_id"], ev.get("destination_location_id")}
            if ev["event_type"] == "receiving":
                places.add(ev["source_location_id"])
            for place in places - {None}:
                touching[place].append(i)
    shipped_to = {
        ev["destination_location_id"]
        for ev in sim.chain_events
        if ev["event_type"] == "shipping" and lot_codes(ev) & affected
    }

    def key(loc: str) -> tuple[bool, bool, float, str]:
        evs = [sim.chain_events[i] for i in touching[loc]]
        leaf = all(
            ev["event_type"] in ("receiving", "sale") or ev["location_id"] != loc for ev in evs
        )
        others = {city[x] for x in truth.affected_locations if x != loc}
        latest = max(ev["event_time"] for ev in evs)
        return (not leaf, city[loc] in others, -ts(latest).timestamp(), loc)

    candidates = sorted(shipped_to - {truth.sampled_location_id, *truth.source_locations}, key=key)
    if not candidates:
        return None
    chosen: str = candidates[0]
    for i in touching[chosen]:
        ev_at[i] = max(ev_at[i], cutoff + random_minutes(rng, (10.0, 180.0)))
        ev_why[i] = LATE_SCOPE
    return chosen


def names_in(ev: dict[str, Any]) -> tuple[set[str], set[str]]:
    """(location ids, product codes) a chain event names."""
    locations = {ev["location_id"]} | {
        v
        for k, v in (*ev.items(), *ev.get("kdes", {}).items())
        if k.endswith("location_id") and isinstance(v, str)
    }
    return locations, {line["product_code"] for line in lot_lines(ev)}


def master_times(
    sim: SimulatedDay,
    late_master: float,
    start: datetime,
    ev_at: list[datetime],
    rng: random.Random,
) -> dict[str, list[tuple[datetime, str]]]:
    """Master data before the day, except a share registered after the last event naming it."""
    last: dict[str, dict[str, datetime]] = {"location": {}, "product": {}}
    for ev, at in zip(sim.chain_events, ev_at, strict=True):
        for kind, names in zip(("location", "product"), names_in(ev), strict=True):
            for name in names:
                last[kind][name] = max(at, last[kind].get(name, at))
    times: dict[str, list[tuple[datetime, str]]] = {}
    for kind, items, key in (
        ("location", sim.locations, "location_id"),
        ("product", sim.products, "product_code"),
    ):
        times[kind] = [(start - MASTER_LEAD, ON_TIME)] * len(items)
        named = [i for i, p in enumerate(items) if p[key] in last[kind]]
        k = max(1, round(late_master * len(named))) if late_master > 0 else 0
        for i in sorted(rng.sample(named, min(k, len(named)))):
            at = last[kind][items[i][key]] + random_minutes(rng, (10.0, 120.0))
            times[kind][i] = (at, LATE_MASTER_DATA)
    return times
