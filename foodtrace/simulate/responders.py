"""How the simulated businesses answer withdrawal notices (pure, seeded: no I/O).

Each business gets a `Behaviour` from the seed and its own id alone (the same
business behaves the same whatever else is in the network): a seeded few never
answer; the others acknowledge after a delay, then report what they withdrew
with a disposition. A business the notice says holds nothing answers `not_held`.
Delays are in simulated seconds after the notice's `issued_at` and follow what
recall exercises report: most acknowledge within an hour or two, withdrawals
take hours and a few miss a 24 h deadline. `answers(behaviour, notice)` turns a
notice into the reports to send and when (`reported_at` is simulated time).

The MQTT edge that subscribes and publishes these is
foodtrace.simulate.responders_mqtt.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

REPORT_SCHEMA = "foodtrace/withdrawal-report/v1"
_NAMESPACE = uuid.UUID("6f1c2a52-4a57-4d0b-9a43-3d1f0c1e8b11")  # report message ids

Kind = Literal["answers", "silent"]

# Median and spread (log-normal sigma) of the delays, simulated seconds.
ACK_MEDIAN_S = 45 * 60.0
ACK_SIGMA = 1.0
WITHDRAW_MEDIAN_S = 8 * 3600.0  # after the acknowledgement
WITHDRAW_SIGMA = 0.8
MAX_DELAY_S = 48 * 3600.0  # nobody takes longer than 2 days in the simulation


@dataclass(frozen=True)
class Behaviour:
    actor_id: str
    kind: Kind
    ack_after_s: float = 0.0  # after the notice's issued_at
    withdraw_after_s: float = 0.0  # after the notice's issued_at (>= ack_after_s)
    share_withdrawn: float = 1.0  # a few find less on the shelf than the books say
    disposition: str = "destroyed"


@dataclass(frozen=True)
class Answer:
    """One report to send: `after_s` simulated seconds after the notice's issued_at."""
    actor_id: str
    notice_id: str
    after_s: float
    payload: dict[str, Any]


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return min(MAX_DELAY_S, median * math.exp(rng.gauss(0.0, sigma)))


def behaviour(seed: int, actor_id: str, *, silent_share: float = 0.08) -> Behaviour:
    """One business's behaviour, from the seed and its id only."""
    rng = random.Random(f"responders:{seed}:{actor_id}")
    if rng.random() < silent_share:
        return Behaviour(actor_id, "silent")
    ack = max(60.0, _lognormal(rng, ACK_MEDIAN_S, ACK_SIGMA))
    withdraw = min(MAX_DELAY_S, ack + _lognormal(rng, WITHDRAW_MEDIAN_S, WITHDRAW_SIGMA))
    share = 1.0 if rng.random() < 0.85 else round(rng.uniform(0.6, 0.95), 2)
    disposition = rng.choices(("destroyed", "returned", "held_for_testing", "other"),
                              weights=(5, 3, 1, 1))[0]
    return Behaviour(actor_id, "answers", round(ack, 1), round(withdraw, 1), share, disposition)


def plan_behaviours(seed: int, actor_ids: Iterable[str], *, silent_share: float = 0.08,
                    min_silent: int = 1) -> dict[str, Behaviour]:
    """Behaviours of every business; at least `min_silent` never answer (when there
    are more than twice as many businesses), so every drill exercises overdue."""
    ids = sorted(set(actor_ids))
    plan = {a: behaviour(seed, a, silent_share=silent_share) for a in ids}
    silent = [a for a in ids if plan[a].kind == "silent"]
    if len(silent) < min_silent and len(ids) > 2 * min_silent:
        rng = random.Random(f"responders:{seed}:silent")
        for a in rng.sample([a for a in ids if a not in silent], min_silent - len(silent)):
            plan[a] = Behaviour(a, "silent")
    return plan


def _held_lines(notice: Mapping[str, Any]) -> list[tuple[str, float, str]]:
    """(lot, quantity held, unit) of the lots whose quantity is known."""
    return [(lot["lot_code"], float(lot["quantity_held"]), lot.get("unit") or "kg")
            for lot in notice.get("lots") or [] if lot.get("quantity_held") is not None]


def answers(b: Behaviour, notice: Mapping[str, Any]) -> list[Answer]:
    """The reports business `b` sends for `notice` (a notice JSON, spec 6).

    Released notices need no answer; a business whose quantities are all unknown
    only acknowledges (it cannot say what it withdrew)."""
    if b.kind == "silent" or notice.get("released") or notice.get("action") == "released":
        return []
    notice_id = str(notice["notice_id"])
    issued = datetime.fromisoformat(notice["issued_at"])
    lines = _held_lines(notice)
    out = [_answer(b, notice_id, issued, b.ack_after_s, "acknowledged", [], None)]
    if not notice.get("lots"):
        return out
    if lines and all(q <= 0 for _, q, _ in lines):
        out.append(_answer(b, notice_id, issued, b.withdraw_after_s, "not_held", [], None))
    elif lines:
        taken = [(lot, round(q * b.share_withdrawn, 1), unit) for lot, q, unit in lines if q > 0]
        disposition = ("held_for_testing" if notice.get("action") == "hold_for_testing"
                       else b.disposition)
        out.append(_answer(b, notice_id, issued, b.withdraw_after_s, "withdrawn", taken,
                           disposition))
    return out


def _answer(b: Behaviour, notice_id: str, issued: datetime, after_s: float, status: str,
            lots: list[tuple[str, float, str]], disposition: str | None) -> Answer:
    payload: dict[str, Any] = {
        "schema": REPORT_SCHEMA,
        "message_id": str(uuid.uuid5(_NAMESPACE, f"{notice_id}:{status}")),
        "actor_id": b.actor_id,
        "notice_id": notice_id,
        "status": status,
        "reported_at": (issued + timedelta(seconds=after_s)).isoformat(),
        "note": _NOTES[status],
    }
    if lots:
        payload["lots"] = [{"lot_code": lot, "quantity": q, "unit": u} for lot, q, u in lots]
    if disposition:
        payload["disposition"] = disposition
    return Answer(b.actor_id, notice_id, after_s, payload)


_NOTES = {
    "acknowledged": "已收到通知，正在下架 / notice received, taking it off sale",
    "withdrawn": "已下架并处置 / withdrawn and disposed of",
    "not_held": "本店已无该批次 / we no longer hold this lot",
}
