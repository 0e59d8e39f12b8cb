"""Withdrawal progress per alert and per city (pure figures over notice rows).

Per notice (live ones: superseded notices are history): the quantity held (its
lots), the quantity withdrawn (withdrawn reports, per lot at most what was held)
and accounted for (an inspector verified the notice: all of it). The share is
(withdrawn + accounted) / held, per unit; `share` is given when every lot is in
one unit, else null with the per-unit figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from foodtrace.withdrawals import states


@dataclass(frozen=True)
class NoticeRow:
    notice_id: str
    alert_id: str
    city: str | None
    actor_id: str
    location_id: str
    action: str
    state: str
    deadline: str | None
    lots: list[Mapping[str, Any]]
    withdrawn: Mapping[tuple[str, str], Decimal]  # (lot, unit) -> reported withdrawn


def covered(n: NoticeRow) -> dict[str, tuple[Decimal, Decimal]]:
    """unit -> (held, withdrawn or accounted for) of one notice."""
    out: dict[str, tuple[Decimal, Decimal]] = {}
    for lot in n.lots:
        q = lot.get("quantity_held")
        if q is None:
            continue
        held = Decimal(str(q))
        unit = lot.get("unit") or ""
        if n.state == states.VERIFIED:
            done = held
        else:
            done = min(held, n.withdrawn.get((lot["lot_code"], lot.get("unit")), Decimal(0)))
        h, d = out.get(unit, (Decimal(0), Decimal(0)))
        out[unit] = (h + held, d + done)
    return out


def _num(d: Decimal) -> float | int:
    return int(d) if d == d.to_integral_value() else float(d)


def summarise(rows: Iterable[NoticeRow]) -> dict[str, Any]:
    rows = [r for r in rows if r.state != states.SUPERSEDED and r.action != "released"]
    units: dict[str, tuple[Decimal, Decimal]] = {}
    for r in rows:
        for unit, (h, d) in covered(r).items():
            uh, ud = units.get(unit, (Decimal(0), Decimal(0)))
            units[unit] = (uh + h, ud + d)
    per_unit = {u: {"held": _num(h), "withdrawn_or_accounted": _num(d),
                    "share": round(float(d / h), 4) if h else None}
                for u, (h, d) in sorted(units.items())}
    share = None
    if len(units) == 1:
        share = next(iter(per_unit.values()))["share"]
    elif not units:
        share = 1.0 if rows else None
    return {
        "notices": len(rows),
        "answered": sum(1 for r in rows if r.state in states.ANSWERED),
        "overdue": sum(1 for r in rows if r.state == states.OVERDUE),
        "open": sum(1 for r in rows if r.state in states.OPEN),
        "verified": sum(1 for r in rows if r.state == states.VERIFIED),
        "share": share,
        "units": per_unit,
    }


def by_city(rows: Iterable[NoticeRow]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[NoticeRow]] = {}
    for r in rows:
        groups.setdefault(r.city or "other", []).append(r)
    return {c: summarise(g) for c, g in sorted(groups.items())}
