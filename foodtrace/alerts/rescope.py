"""Living alerts (spec 4): late and out-of-order data re-scope the alerts it touches.

    rescope(conn) -> list[UUID]   alerts that got a new version

The lot graph's triggers (0008) queue an open alert in core.alert_rescope_queue
when a linked event or lab result names one of its scope lots, or master data
arrives for one of its locations, in the same transaction. This step takes each
queued alert, traces its lot again and, when the alert JSON's sets or holdings
differ, writes a new version through `transition.apply`: newly affected cities
get the Alert, cities told before an Update naming what was added and removed,
and the history records the events behind it. Only queued alerts are traced, so
the cost follows the data that touches alerts, not the number of open alerts.

Idempotent: an alert's queue rows are deleted in the transaction that decides
it, so a crash re-scopes it again (a second trace finds the same scope and
writes nothing). Serialised with evaluate() on the same advisory lock. The run
is one transaction block: its own transaction when the caller has none open (the
pipeline step), else part of the caller's, who commits.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg

from foodtrace.alerts import engine, store, transition
from foodtrace.alerts import impact as impact_mod
from foodtrace.alerts import limits as limits_mod
from foodtrace.alerts.cap_settings import CapSettings
from foodtrace.alerts.transition import AlertState

log = logging.getLogger(__name__)

# The alert JSON's scope: set-valued fields, each keyed by what identifies an entry.
_SET_FIELDS: dict[str, str | None] = {
    "affected_lots": "lot_code",
    "affected_locations": "location_id",
    "affected_cities": None,
    "source_lots": "lot_code",
    "source_locations": "location_id",
}
MAX_CAUSES_IN_HISTORY = 200  # a history row names at most this many events


# Trigger fields that follow master data (the product and its category, and the
# limit looked up for that category): re-read when the product arrives or changes.
_PRODUCT_FIELDS = (
    "product_code",
    "product_name",
    "category",
    "limit",
    "limit_unit",
    "limit_verified",
    "limit_source",
    "limit_category_assumed",
    "rule",
    "reason",
)


def rescope(conn: psycopg.Connection, *, now: datetime | None = None,
            cap_settings: CapSettings | None = None) -> list[UUID]:
    """Re-scope every queued alert; return those that got a new version.
    `cap_settings`: the entry point's CAP settings (None: the environment's)."""
    with conn.transaction():
        table = limits_mod.load(conn)
        queued: list[UUID] = [
            r[0]
            for r in conn.execute(
                "SELECT alert_id FROM core.alert_rescope_queue GROUP BY alert_id "
                "ORDER BY min(queue_no)"
            ).fetchall()
        ]
    changed = []
    # One commit for the whole run (each alert in a savepoint of its own, so one that
    # fails is rolled back alone): a commit per alert cost more than its trace.
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (engine.LOCK_KEY,))
        for alert_id in queued:
            try:
                with conn.transaction():
                    if _rescope_one(conn, alert_id, now or datetime.now(UTC), table, cap_settings):
                        changed.append(alert_id)
            except Exception:  # it stays queued for the next run; the others go on
                log.exception("re-scoping alert %s failed", alert_id)
    return changed


def _rescope_one(
    conn: psycopg.Connection, alert_id: UUID, now: datetime, table: limits_mod.LimitsTable,
    cap_settings: CapSettings | None = None,
) -> bool:
    causes = conn.execute(
        "DELETE FROM core.alert_rescope_queue WHERE alert_id = %s RETURNING cause_kind, cause_id",
        (alert_id,),
    ).fetchall()
    if not causes:
        return False  # another run took it
    before = AlertState.load(conn, alert_id, lock=True)
    if before.closed:
        return False
    p = before.payload
    imp = impact_mod.compute(conn, p["lot_code"], p.get("sampled_location_id"))
    fields, j = engine.judged_again(conn, p, table)
    product = {k: fields[k] for k in _PRODUCT_FIELDS}
    new_scope = {**imp.to_json(), **product}
    diff = scope_diff(p, new_scope)
    # (a field an older version of the alert JSON did not carry is no change)
    completed = sorted(k for k in _PRODUCT_FIELDS if k in p and product[k] != p[k])
    if completed:  # the product's master data arrived (or changed)
        diff["product_completed"] = completed
        if p["severity"] == "critical" and j.severity != "critical":
            # judged against the strictest limit while the category was unknown; the
            # category's own limit is not exceeded: an operator decides, not the engine
            diff["within_category_limit"] = j.reason
    scope = engine.scope_of(imp, product["product_code"])
    if not diff:  # e.g. a new upstream lot behind the same roots: keys grow, JSON stays
        store.replace_scope(conn, alert_id, scope.lots, scope.locations, scope.products)
        return False
    retracted = _retracted(conn, causes)
    if retracted:  # the sender declared an event wrong: a narrower scope is right here
        diff["retracted_events"] = retracted
    caused_by = _causes(causes)
    payload = {
        **p,
        **new_scope,
        "version": before.version + 1,
        "updated_at": now.isoformat(),
        "changes": {**diff, "caused_by": caused_by[:MAX_CAUSES_IN_HISTORY]},
    }
    transition.apply(
        conn,
        before,
        transition.Change(
            "rescoped",
            engine.ENGINE_ACTOR,
            payload,
            now,
            publish="version",
            scope=scope,
            note=describe(diff),
            detail={"changes": diff, "caused_by": caused_by[:MAX_CAUSES_IN_HISTORY]},
        ),
        cap_settings=cap_settings,
    )
    return True


def _retracted(conn: psycopg.Connection, causes: Sequence[tuple[str, str]]) -> list[str]:
    """The EPCIS eventIDs (with the declared reason) of the retractions among the causes."""
    ids = sorted({c for kind, c in causes if kind == "retraction"})
    if not ids:
        return []
    rows = conn.execute(
        "SELECT DISTINCT declared_event_id, reason FROM core.retractions "
        "WHERE message_id = ANY(%s::uuid[]) ORDER BY 1, 2",
        (ids,),
    ).fetchall()
    return [f"{event_id} ({reason})" if reason else event_id for event_id, reason in rows] or ids


def _causes(rows: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    seen: dict[tuple[str, str], None] = {}
    for kind, cause in rows:
        seen.setdefault((kind, cause), None)
    return [{"kind": k, "id": c} for k, c in sorted(seen)]


def _keys(entries: Sequence[Any], key: str | None) -> set[str]:
    return {str(e if key is None else e[key]) for e in entries or ()}


def scope_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """What changed between two versions' scopes (pure); {} when nothing did.

    `added` / `removed` per set field (`_rescope_one` adds `retracted_events` when
    the sender declared an event behind the change wrong); `holdings_changed`: locations whose held
    lots or quantities changed while they stayed affected; `lot_traced` when the
    lot reached the graph.
    """
    added: dict[str, list[str]] = {}
    removed: dict[str, list[str]] = {}
    for name, key in _SET_FIELDS.items():
        before, after = _keys(old.get(name, []), key), _keys(new.get(name, []), key)
        if after - before:
            added[name] = sorted(after - before)
        if before - after:
            removed[name] = sorted(before - after)
    old_held = {e["location_id"]: e.get("holdings") for e in old.get("affected_locations", [])}
    new_held = {e["location_id"]: e.get("holdings") for e in new.get("affected_locations", [])}
    holdings = sorted(
        lid for lid in old_held.keys() & new_held.keys() if old_held[lid] != new_held[lid]
    )
    places = {"affected_locations", "source_locations"}
    details = [
        name
        for name in places
        if {e["location_id"]: e for e in old.get(name, [])}
        != {e["location_id"]: e for e in new.get(name, [])}
    ]
    out: dict[str, Any] = {}
    if added:
        out["added"] = added
    if removed:
        out["removed"] = removed
    if holdings:
        out["holdings_changed"] = holdings
    if bool(old.get("lot_traced")) != bool(new.get("lot_traced")):
        out["lot_traced"] = bool(new.get("lot_traced"))
    if not out and details:  # master data arrived: a name, kind or city filled in
        out["locations_completed"] = sorted(details)
    if old.get("depth_capped") != new.get("depth_capped"):
        out["depth_capped"] = bool(new.get("depth_capped"))
    return out


def describe(diff: Mapping[str, Any]) -> str:
    """One line for history and CAP: what the new version adds and removes."""
    parts = []
    for verb, what in (("added", diff.get("added", {})), ("removed", diff.get("removed", {}))):
        for name, items in what.items():
            shown = ", ".join(items[:8]) + (f" and {len(items) - 8} more" if len(items) > 8 else "")
            parts.append(f"{verb} {name.replace('_', ' ')}: {shown}")
    if diff.get("holdings_changed"):
        parts.append("quantities changed at " + ", ".join(diff["holdings_changed"][:8]))
    if diff.get("locations_completed"):
        parts.append("location details completed (master data arrived)")
    if diff.get("product_completed"):
        parts.append(
            "product details completed (master data arrived): "
            + ", ".join(diff["product_completed"])
        )
    if diff.get("within_category_limit"):
        parts.append(
            "within the limit of the product's category "
            f"({diff['within_category_limit']}): review the alert"
        )
    if diff.get("retracted_events"):
        events = diff["retracted_events"]
        parts.append(
            "the sender declared event(s) wrong (EPCIS errorDeclaration), taken out of the "
            "trace: " + ", ".join(events[:8]) + (f" and {len(events) - 8} more" if len(events) > 8 else "")
        )
    if "lot_traced" in diff:
        parts.append("the lot is now in the lot graph" if diff["lot_traced"] else "lot untraced")
    return "; ".join(parts) or "scope re-computed"
