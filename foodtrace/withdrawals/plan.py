"""Which notices one alert version means (pure).

For every affected location with a business that holds affected lots there, a
notice: its lots with the quantities held, an action and a deadline. Compared
with the notices still live for the alert:

- a business told nothing yet gets a new notice;
- one whose lots, quantities or action changed gets a new notice that
  supersedes the earlier one (`supersedes` names it);
- one no longer affected (or every business when a confirmatory result cleared
  the alert) gets a superseding notice with action `released` and no lots;
- one whose notice says the same gets nothing new.

Actions (docs/withdrawals.md):
    critical (confirmed above the limit)        -> withdraw
    warning  (rapid positive, not confirmed)    -> stop_sale where food is sold to
                                                  the public (retailer, restaurant,
                                                  wholesale market), hold_for_testing
                                                  elsewhere (farm, packer, processor,
                                                  distributor)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from foodtrace.withdrawals.holdings import held_at
from foodtrace.withdrawals.settings import RecallSettings

STOP_SALE = "stop_sale"
WITHDRAW = "withdraw"
HOLD_FOR_TESTING = "hold_for_testing"
RELEASED = "released"
ACTIONS = (STOP_SALE, WITHDRAW, HOLD_FOR_TESTING, RELEASED)
SELLS_TO_PUBLIC = frozenset({"retailer", "restaurant", "wholesale_market"})

NOTICE_SCHEMA = "foodtrace/withdrawal-notice/v1"


def action_for(severity: str, location_kind: str | None) -> str:
    if severity == "critical":
        return WITHDRAW
    return STOP_SALE if location_kind in SELLS_TO_PUBLIC else HOLD_FOR_TESTING


@dataclass(frozen=True)
class Live:
    """A notice not superseded yet."""

    notice_id: UUID
    location_id: str
    actor_id: str
    action: str
    lots: Sequence[Mapping[str, Any]]

    @property
    def key(self) -> tuple[str, str]:
        return self.location_id, self.actor_id


@dataclass(frozen=True)
class Planned:
    notice_id: UUID
    location_id: str
    actor_id: str
    city: str | None
    action: str
    recall_class: int | None
    lots: list[dict[str, Any]]
    issued_at: datetime
    deadline: datetime | None
    supersedes: UUID | None
    payload: dict[str, Any]


def _lots_key(lots: Iterable[Mapping[str, Any]]) -> list[str]:
    return sorted(
        json.dumps([x["lot_code"], x.get("unit"), x.get("quantity_held"), x.get("product_code")])
        for x in lots
    )


def plan(
    alert: Mapping[str, Any],
    actors: Mapping[str, str],
    live: Iterable[Live],
    settings: RecallSettings,
    now: datetime,
    new_id: Callable[[], UUID] = uuid4,
) -> list[Planned]:
    """The notices to issue for this alert version (see the module doc).
    `actors`: location_id -> the business holding affected lots there."""
    products = {x["lot_code"]: x.get("product_code") for x in alert.get("affected_lots", [])}
    released = alert.get("status") == "closed"
    wanted: dict[tuple[str, str], dict[str, Any]] = {}
    if not released:
        for loc in alert.get("affected_locations", []):
            actor = actors.get(loc["location_id"])
            if actor is None:
                continue  # no business recorded holding anything here (docs)
            held = [h.to_json(products.get(h.lot_code)) for h in held_at(loc.get("holdings", []))]
            wanted[(loc["location_id"], actor)] = {
                "city": loc.get("city"),
                "action": action_for(str(alert["severity"]), loc.get("kind")),
                "lots": held,
            }
    cities = {loc["location_id"]: loc.get("city") for loc in alert.get("affected_locations", [])}
    live_by_key = {n.key: n for n in live}
    out: list[Planned] = []
    for key in sorted(set(wanted) | set(live_by_key)):
        before = live_by_key.get(key)
        want = wanted.get(key)
        if want is None:
            if before is None or before.action == RELEASED:
                continue
            want = {"city": cities.get(key[0]), "action": RELEASED, "lots": []}
        elif before is not None and before.action == want["action"] and _lots_key(
            before.lots
        ) == _lots_key(want["lots"]):
            continue
        out.append(
            _planned(alert, key, want, before.notice_id if before else None, settings, now, new_id)
        )
    return out


def _planned(
    alert: Mapping[str, Any],
    key: tuple[str, str],
    want: Mapping[str, Any],
    supersedes: UUID | None,
    settings: RecallSettings,
    now: datetime,
    new_id: Callable[[], UUID],
) -> Planned:
    location_id, actor_id = key
    action = want["action"]
    release = action == RELEASED
    rclass = None if release else settings.recall_class(str(alert["severity"]))
    deadline = None if release else settings.deadline(str(alert["severity"]), now)
    notice_id = new_id()
    payload = notice_json(
        notice_id=notice_id,
        alert=alert,
        location_id=location_id,
        actor_id=actor_id,
        city=want.get("city"),
        lots=list(want["lots"]),
        action=action,
        recall_class=rclass,
        deadline=deadline,
        issued_at=now,
        supersedes=supersedes,
    )
    return Planned(
        notice_id, location_id, actor_id, want.get("city"), action, rclass, list(want["lots"]),
        now, deadline, supersedes, payload,
    )


def notice_json(
    *,
    notice_id: UUID,
    alert: Mapping[str, Any],
    location_id: str,
    actor_id: str,
    city: str | None,
    lots: list[dict[str, Any]],
    action: str,
    recall_class: int | None,
    deadline: datetime | None,
    issued_at: datetime,
    supersedes: UUID | None,
) -> dict[str, Any]:
    """The notice JSON (spec 6 fields first, then what a business also needs)."""
    release = action == RELEASED
    reason = None
    if release:
        reason = "alert_cleared" if alert.get("status") == "closed" else "no_longer_affected"
    return {
        "schema": NOTICE_SCHEMA,
        "notice_id": str(notice_id),
        "alert_id": str(alert["alert_id"]),
        "alert_version": int(alert["version"]),
        "location_id": location_id,
        "lots": lots,
        "action": action,
        "deadline": deadline.isoformat() if deadline else None,
        "issued_at": issued_at.isoformat(),
        "actor_id": actor_id,
        "city": city,
        "supersedes": str(supersedes) if supersedes else None,
        "released": release,
        "release_reason": reason,
        "recall_class": recall_class,
        "severity": alert.get("severity"),
        "lot_code": alert.get("lot_code"),
        "product_code": alert.get("product_code"),
        "product_name": alert.get("product_name"),
        "analyte": alert.get("analyte"),
        "report_topic": f"foodtrace/v1/chain/{actor_id}/withdrawals",
        "message": message(action, lots, deadline),
    }


_ACTION_TEXT = {
    STOP_SALE: ("立即停止销售以下批次，保留库存待查", "stop selling these lots now; keep the stock"),
    WITHDRAW: ("立即下架并召回以下批次，报告撤回数量及处置方式",
               "withdraw these lots from sale and use; report the quantities and disposition"),
    HOLD_FOR_TESTING: ("封存以下批次待检验，不得销售或使用",
                       "hold these lots for testing; do not sell or use them"),
    RELEASED: ("贵单位不再受此预警影响，此前通知作废", "you are no longer affected; the earlier "
               "notice is void"),
}


def message(action: str, lots: Sequence[Mapping[str, Any]],
            deadline: datetime | None) -> dict[str, str]:
    zh, en = _ACTION_TEXT[action]
    codes = ", ".join(str(x["lot_code"]) for x in lots)
    when = f"，期限 {deadline.isoformat()}" if deadline else ""
    when_en = f" by {deadline.isoformat()}" if deadline else ""
    return {
        "zh": f"{zh}{('：' + codes) if codes else ''}{when}",
        "en": f"{en}{(': ' + codes) if codes else ''}{when_en}",
    }
