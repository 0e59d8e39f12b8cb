"""What a place holds of each affected lot, from the alert's trace (pure).

The alert JSON lists, per affected location, every role each affected lot had
there (spec 4 `affected_locations[].holdings`: received, shipped_from, sold, ...
with quantities). Held = in - out, per lot and unit:

    in  = received (or, when no receiving is recorded there, what was shipped to
          it: in transit counts as held, missing data widens) + produced there
          (created, packed or made by a transformation: the largest of these, as
          they describe the same lot coming into being)
    out = shipped from it + consumed by a transformation there + sold there

A negative balance (more out than in: data missing upstream) is held 0 and
flagged `inconsistent`; a row without a quantity makes the lot's quantity unknown
(None), never 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

IN_RECEIVED = "received"
IN_TRANSIT = "shipped_to"
PRODUCED = ("created", "packed", "transformed_from")
OUT = ("shipped_from", "transformed_into", "sold")


@dataclass(frozen=True)
class Held:
    lot_code: str
    unit: str | None
    quantity: Decimal | None  # None: some quantity there is unknown
    inconsistent: bool = False  # more left than came in (data missing)

    def to_json(self, product_code: str | None) -> dict[str, Any]:
        return {
            "lot_code": self.lot_code,
            "product_code": product_code,
            "quantity_held": _num(self.quantity),
            "unit": self.unit,
        }


def _num(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _dec(value: Any) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value))


def held_at(rows: Iterable[Mapping[str, Any]]) -> list[Held]:
    """The holdings rows of one location (role, lot_code, quantity, unit) -> what it
    holds of each lot and unit, sorted by lot code."""
    by_key: dict[tuple[str, str | None], dict[str, list[Decimal | None]]] = {}
    for r in rows:
        key = (str(r["lot_code"]), r.get("unit"))
        by_key.setdefault(key, {}).setdefault(str(r["role"]), []).append(_dec(r.get("quantity")))
    out: list[Held] = []
    for (lot, unit), roles in sorted(by_key.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        used = [q for role, qs in roles.items() if role in (IN_RECEIVED, IN_TRANSIT, *PRODUCED, *OUT)
                for q in qs]
        if not used:  # only sampled / cooled there: nothing known to have arrived
            out.append(Held(lot, unit, None))
            continue
        if any(q is None for q in used):
            out.append(Held(lot, unit, None))
            continue
        # every quantity of the roles summed below is known here (checked above)
        known = {role: [q for q in qs if q is not None] for role, qs in roles.items()}
        received = sum(known.get(IN_RECEIVED, []), Decimal(0))
        if not known.get(IN_RECEIVED):
            received = sum(known.get(IN_TRANSIT, []), Decimal(0))
        produced = max((sum(known.get(r, []), Decimal(0)) for r in PRODUCED), default=Decimal(0))
        gone = sum((q for r in OUT for q in known.get(r, [])), Decimal(0))
        balance = received + produced - gone
        out.append(Held(lot, unit, max(balance, Decimal(0)), inconsistent=balance < 0))
    return out


def total(held: Iterable[Held]) -> dict[str, Decimal]:
    """unit -> quantity held (unknown quantities left out)."""
    sums: dict[str, Decimal] = {}
    for h in held:
        if h.quantity is not None:
            sums[h.unit or ""] = sums.get(h.unit or "", Decimal(0)) + h.quantity
    return sums
