"""`make_messy`: the simulated day as the world sends it (pure and seeded).

`simulate_day` is tidy: every optional Key Data Element present, master data first,
events in time order, all on time. Real senders are not, and the pipeline must still
give the same traces and alerts once everything has arrived (interfaces.md 2.2-2.4
and 3). This reshapes a `SimulatedDay` without changing what happened: the same
messages (same message_ids, none removed or added), some optional fields left out,
and an order of publishing in two waves:

- wave 0: what the world has sent by the time the day's last lab result arrives
  (so every alert can be raised on it);
- wave 1: the rest: late uploads, late registrations, the day's last syncs and,
  with an incident, every event placing affected lots at one location, held back so
  that they arrive after the alert and widen its scope.

What changes: `tlc_source_location_id` of shipping and receiving, entries of `kdes`
and `product_code` of lab results may be left out; one sender never sends
`reference_document` (the edge takes it as a validation finding); chain events are
published at their sender's next sync, some hours late; some master data comes after
the events naming it; some lab results come before every event of their lot. The
ground truth is the clean day's.
"""

from __future__ import annotations

import copy
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

from foodtrace.simulate.chain import DAY_END, TZ
from foodtrace.simulate.day import SimulatedDay
from foodtrace.simulate.messy_times import (
    LAB_DELAY_MINUTES,
    LATE_MASTER_DATA,
    ON_TIME,
    event_times,
    events_by_lot,
    hold_for_labs,
    hold_scope,
    lot_codes,
    master_times,
    random_minutes,
    ts,
)
from foodtrace.simulate.truth import GroundTruth

# ---- rates (assumptions about senders, not measurements; each can be overridden) --
# Shipping/receiving records without the TLC source (21 CFR 1.1340(a)(6), 1.1345(a)(7)):
# the shipper did not assign the lot code and carries its source only if its supplier
# passed it on, so this is the KDE most often missing from these records.
DROP_TLC_SOURCE = 0.30
# Any other entry of `kdes` (field id, harvest date, cooling location, ...), each
# independently: minimal exports and paper logs miss fields here and there.
DROP_KDE = 0.12
# The next recipient of a harvest or cooling is often unknown when it is recorded
# (the packing shed decides the buyer), so it is left out more often.
DROP_NEXT_RECIPIENT = 0.30
# Lab result `product_code`: a lab records the sample's description, not the
# supplier's product code (the contract defaults it to the lot's product).
DROP_LAB_PRODUCT_CODE = 0.25
# Chain events uploaded hours after they happened: handhelds offline until back at
# the depot, paper logs keyed in at the end of the shift or the next morning.
# (how late: messy_times.LATE_HOURS)
LATE_UPLOAD = 0.08
# Locations and products registered only after the events naming them (a new customer
# or product line is entered in the registry after its first deliveries): one in ten,
# at least one of each.
LATE_MASTER = 0.10
# Routine lab results published before any event of their lot: a LIMS pushes a result
# on approval, while the chain's records of that lot are still unsent. At least one.
LAB_FIRST = 0.05
NEXT_RECIPIENT = "immediate_subsequent_recipient_location_id"
# Kinds of the one sender that never sends `reference_document`, in order of
# preference: they are on many events (receiving and shipping, or sales), so the
# finding is visible, and their delivery notes are the ones least often keyed in.
NO_REFERENCE_KINDS = ("distributor", "retailer")


@dataclass(frozen=True)
class MessRates:
    """Probabilities (0 turns an aspect off); lab_first and late_master are shares,
    at least one when above 0."""

    tlc_source: float = DROP_TLC_SOURCE
    kde: float = DROP_KDE
    next_recipient: float = DROP_NEXT_RECIPIENT
    lab_product_code: float = DROP_LAB_PRODUCT_CODE
    late_upload: float = LATE_UPLOAD
    late_master: float = LATE_MASTER
    lab_first: float = LAB_FIRST
    no_reference_document_sender: bool = True


@dataclass(frozen=True)
class Publication:
    kind: str  # location | product | chain_event | lab_result (as SimulatedDay.messages)
    payload: dict[str, Any]
    publish_at: datetime
    wave: int  # 0: by the last lab result, 1: after it
    reason: str  # on_time | late_upload | held_for_lab | late_scope | late_master


@dataclass(frozen=True)
class MessyDay:
    seed: int
    rates: MessRates
    plan: tuple[Publication, ...]  # in publishing order
    dropped: dict[str, int]  # field ("kdes.field_id", "product_code", ...) -> messages without it
    no_reference_document_sender: str | None
    late_scope_location_id: str | None  # incident: the location held back to wave 1
    cutoff: datetime  # the last lab result's publish_at: wave 0 ends there
    sim: SimulatedDay = field(repr=False, compare=False)

    @property
    def truth(self) -> GroundTruth | None:
        return self.sim.truth  # the mess changes no lot, event or link

    def messages(self, wave: int | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        """(kind, payload) in publishing order, of one wave or of all."""
        for p in self.plan:
            if wave is None or p.wave == wave:
                yield p.kind, p.payload

    def waves(self) -> list[list[tuple[str, dict[str, Any]]]]:
        return [
            list(self.messages(w)) for w in range(1 + max((p.wave for p in self.plan), default=0))
        ]

    def summary(self) -> dict[str, Any]:
        """What was left out and delayed (counts), for `foodtrace simulate --messy`."""
        chain = [p for p in self.plan if p.kind == "chain_event"]
        d = self.dropped
        return {
            "seed": self.seed,
            "dropped_kdes": sum(
                n for k, n in d.items() if k == "tlc_source_location_id" or k.startswith("kdes.")
            ),
            "dropped_product_codes": d.get("product_code", 0),
            "dropped_reference_documents": d.get("reference_document", 0),
            "dropped": dict(sorted(d.items())),
            "late": sum(p.reason != ON_TIME for p in chain),
            "late_master": sum(p.reason == LATE_MASTER_DATA for p in self.plan),
            "receivings_before_shipping": len(receivings_before_shipping(self)),
            "lab_results_before_their_lot": len(lab_results_before_their_lot(self)),
            "waves": [len(w) for w in self.waves()],
            "no_reference_document_sender": self.no_reference_document_sender,
            "late_scope_location_id": self.late_scope_location_id,
        }


def make_messy(sim: SimulatedDay, seed: int, *, rates: MessRates | None = None) -> MessyDay:
    """The day's messages as the world sends them; `sim` is not modified."""
    rates = rates or MessRates()

    def rng(aspect: str) -> random.Random:
        # One stream per aspect: changing one rate does not reshuffle the others; the
        # incident is left out so that chain events are reshaped alike with or without.
        return random.Random(f"foodtrace-messy:{aspect}:{seed}:{sim.seed}:{sim.day}:{sim.sizes}")

    sender = no_reference_sender(sim) if rates.no_reference_document_sender else None
    dropped: Counter[str] = Counter()
    chain_rng, lab_rng = rng("chain-fields"), rng("lab-fields")
    events = [_reshape_event(ev, rates, sender, chain_rng, dropped) for ev in sim.chain_events]
    labs = [_reshape_lab(r, rates, lab_rng, dropped) for r in sim.lab_results]

    start = datetime.combine(sim.day, time(0), TZ)
    ev_at, ev_why = event_times(sim, rates.late_upload, start, rng("sync"), rng("late"))
    push = rng("lab-times")
    lab_at = [ts(r["tested_at"]) + random_minutes(push, LAB_DELAY_MINUTES) for r in sim.lab_results]
    cutoff = max(lab_at, default=datetime.combine(sim.day, DAY_END, TZ))
    by_lot = events_by_lot(sim.chain_events)
    hold_for_labs(sim, rates.lab_first, by_lot, lab_at, ev_at, ev_why, rng("lab-first"))
    scope = hold_scope(sim, cutoff, ev_at, ev_why, rng("scope"))
    master = master_times(sim, rates.late_master, start, ev_at, rng("master"))

    entries: list[tuple[datetime, int, int, str, dict[str, Any], str]] = []
    for rank, (kind, payloads, times) in enumerate(
        (
            ("location", [dict(p) for p in sim.locations], master["location"]),
            ("product", [dict(p) for p in sim.products], master["product"]),
            ("chain_event", events, list(zip(ev_at, ev_why, strict=True))),
            ("lab_result", labs, [(t, ON_TIME) for t in lab_at]),
        )
    ):
        for i, (payload, (at, why)) in enumerate(zip(payloads, times, strict=True)):
            entries.append((at, rank, i, kind, payload, why))
    entries.sort(key=lambda e: e[:3])
    plan = tuple(
        Publication(kind, payload, at, int(at > cutoff), why)
        for at, _, _, kind, payload, why in entries
    )
    return MessyDay(seed, rates, plan, dict(dropped), sender, scope, cutoff, sim)


# ---- fields -------------------------------------------------------------------


def no_reference_sender(sim: SimulatedDay) -> str | None:
    """The distributor (else retailer, else anyone) on the most chain events."""
    kind = {loc["location_id"]: loc["kind"] for loc in sim.locations}
    counts: Counter[str] = Counter(ev["actor_id"] for ev in sim.chain_events)
    for wanted in (*NO_REFERENCE_KINDS, None):
        ranked = sorted(
            (-n, actor)
            for actor, n in counts.items()
            if wanted is None or kind.get(actor) == wanted
        )
        if ranked:
            return ranked[0][1]
    return None


def _reshape_event(
    ev: dict[str, Any], rates: MessRates, sender: str | None, rng: random.Random, dropped: Counter[str]
) -> dict[str, Any]:
    out = copy.deepcopy(ev)
    # Draw for every event, dropped or not, so one rate does not shift the others' draws.
    if rng.random() < rates.tlc_source and ev["event_type"] in ("shipping", "receiving"):
        _drop(out, "tlc_source_location_id", dropped)
    kdes = out.get("kdes", {})
    for key in list(kdes):
        if rng.random() < (rates.next_recipient if key == NEXT_RECIPIENT else rates.kde):
            del kdes[key]
            dropped[f"kdes.{key}"] += 1
    if "kdes" in out and not kdes:
        del out["kdes"]  # a sender with nothing more to say sends no `kdes` at all
    if ev["actor_id"] == sender:
        _drop(out, "reference_document", dropped)
    return out


def _reshape_lab(
    result: dict[str, Any], rates: MessRates, rng: random.Random, dropped: Counter[str]
) -> dict[str, Any]:
    out = dict(result)  # flat: a shallow copy is a copy
    if rng.random() < rates.lab_product_code:
        _drop(out, "product_code", dropped)
    return out


def _drop(payload: dict[str, Any], key: str, dropped: Counter[str]) -> None:
    if payload.pop(key, None) is not None:
        dropped[key] += 1


# ---- what the order did (for the summary and the tests) -------------------------


def receivings_before_shipping(messy: MessyDay) -> list[str]:
    """message_ids of receivings published before their shipping (same BOL, clean day)."""
    pos = {p.payload["message_id"]: n for n, p in enumerate(messy.plan)}
    shipped: dict[str, str] = {}
    received: list[tuple[str, str]] = []
    for ev in messy.sim.chain_events:
        doc = ev["reference_document"]["number"]
        if ev["event_type"] == "shipping":
            shipped[doc] = ev["message_id"]
        elif ev["event_type"] == "receiving":
            received.append((doc, ev["message_id"]))
    return [m for doc, m in received if doc in shipped and pos[m] < pos[shipped[doc]]]


def lab_results_before_their_lot(messy: MessyDay) -> list[str]:
    """message_ids of lab results published before every chain event naming their lot."""
    first: dict[str, int] = {}
    out: list[str] = []
    for n, p in enumerate(messy.plan):
        if p.kind == "chain_event":
            for code in lot_codes(p.payload):
                first.setdefault(code, n)
    for n, p in enumerate(messy.plan):
        lab_lot = p.payload.get("lot_code") if p.kind == "lab_result" else None
        if lab_lot is not None and lab_lot in first and n < first[lab_lot]:
            out.append(p.payload["message_id"])
    return out
