"""GET /events: the EPCIS 2.0 query parameters as one parameterised statement.

Supported parameters (anything else is refused with a QueryParameterException
rather than ignored, which would widen the answer silently). Lists are separated
by `|`, as in the EPCIS 2.0 REST binding:

- GE_eventTime / LT_eventTime: RFC 3339 with an offset;
- eventType: ObjectEvent, TransformationEvent (other EPCIS types: none stored);
- EQ_bizStep: CBV words or URIs (`shipping`, `https://ref.gs1.org/cbv/BizStep-shipping`,
  `urn:epcglobal:cbv:bizstep:shipping`), matched against the bizStep the event is
  rendered with (render.py), so the filter and the answer always agree;
- EQ_bizLocation: location URIs as rendered (`urn:foodtrace:loc:...`, SGLNs as sent);
- MATCH_anyEPC: serial EPCs of events captured as EPCIS (epcList, inputEPCList,
  outputEPCList), exact;
- MATCH_anyEPCClass: lot classes (GS1 Digital Link, LGTIN URN, `urn:foodtrace:lot:`)
  exact, or every lot of a product with a trailing `*`
  (`urn:epc:idpat:lgtin:CP.IR.*`, `https://id.gs1.org/01/{GTIN}/10/*`,
  `urn:foodtrace:lot:{product}:*`);
- EXISTS_errorDeclaration (no value): only events their sender declared wrong;
- perPage (default 30, at most 1000: more is served as 1000) and nextPageToken.

An event its sender declared wrong (an `errorDeclaration` captured for it, kept in
core.retractions) is returned as EPCIS 2.0 has it after the declaration: the event
with its `errorDeclaration` (the latest, when there are several), so that a peer
tool sees the correction and no longer counts the event (EPCIS 2.0 7.4.1.4).

User input only ever reaches the statement as bound parameters; the statement's
text is assembled from the fixed fragments below, chosen by which filters are set.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote
from uuid import UUID

import psycopg

from foodtrace.epcis_api import paging
from foodtrace.epcis_api.auth import Principal
from foodtrace.epcis_api.problems import bad_query
from foodtrace.epcis_api.render import OBJECT_EVENTS, EventRow, LotLine
from foodtrace.epcis_api.settings import DEFAULT_PER_PAGE, MAX_PER_PAGE
from foodtrace.ingest import cbv, gs1_ids

SUPPORTED = ("GE_eventTime", "LT_eventTime", "eventType", "EQ_bizStep", "EQ_bizLocation",
             "MATCH_anyEPC", "MATCH_anyEPCClass", "EXISTS_errorDeclaration", "perPage",
             "nextPageToken")
ALL_TYPES: frozenset[str] = frozenset([*OBJECT_EVENTS, "transformation"])
_EPCIS_TYPES = {
    "ObjectEvent": frozenset(OBJECT_EVENTS),
    "TransformationEvent": frozenset({"transformation"}),
    # stored by no foodtrace path: a valid name, an empty answer
    "AggregationEvent": frozenset(),
    "AssociationEvent": frozenset(),
    "TransactionEvent": frozenset(),
}
_STEP_TYPES: dict[str, frozenset[str]] = {}
for _type, (_step, _) in OBJECT_EVENTS.items():
    _STEP_TYPES[_step] = _STEP_TYPES.get(_step, frozenset()) | {_type}


@dataclass(frozen=True)
class EventQuery:
    """The normalised filters of one GET /events (None: not filtered)."""

    ge_time: datetime | None = None
    lt_time: datetime | None = None
    types: frozenset[str] | None = None
    locations: tuple[str, ...] | None = None
    epcs: tuple[str, ...] | None = None
    lots: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    classes_given: bool = False
    declared_wrong: bool = False  # EXISTS_errorDeclaration
    per_page: int = DEFAULT_PER_PAGE
    page_token: str | None = None
    normalised: list[str] = field(default_factory=list)  # what a page token binds to


def _values(raw: str) -> list[str]:
    return [v for v in (s.strip() for s in raw.split("|")) if v]


def _time(name: str, raw: str) -> datetime:
    try:
        moment = datetime.fromisoformat(raw.strip().replace(" ", "+"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise bad_query(f"{name} must be an RFC 3339 time with an offset, e.g. "
                        f"2026-11-28T00:00:00+08:00; got {raw[:60]!r}")
    return moment


def _class_filter(value: str) -> tuple[str | None, str | None]:
    """(lot_code, product_code) a MATCH_anyEPCClass value selects; (None, None) for
    a class that names no lot foodtrace stores."""
    if value.endswith("*"):
        base = value[:-1]
        if base.startswith(gs1_ids.FOODTRACE_LOT) and base.endswith(":"):
            product = unquote(base[len(gs1_ids.FOODTRACE_LOT):-1])
            return (None, product) if product else (None, None)
        if base.endswith("/10/"):
            base = base[:-4]
        elif value.startswith("urn:epc:idpat:"):
            base = value
        else:
            raise bad_query(f"MATCH_anyEPCClass pattern {value[:80]!r}: a trailing * is "
                            "read after a GTIN (…/10/*, urn:epc:idpat:lgtin:CP.IR.*) or a "
                            "foodtrace product (urn:foodtrace:lot:{product}:*)")
        ident = gs1_ids.parse(base)
        if isinstance(ident, gs1_ids.Identifier) and ident.product_code:
            return None, ident.product_code
        return None, None
    ident = gs1_ids.parse(value)
    if isinstance(ident, gs1_ids.Identifier) and ident.kind == "lot" and ident.lot_code:
        return ident.lot_code, None
    return None, None


def parse_query(params: list[tuple[str, str]]) -> EventQuery:
    """EventQuery of the request's query string; Problem 400 for a bad parameter."""
    seen: dict[str, str] = {}
    for name, value in params:
        if name not in SUPPORTED:
            raise bad_query(f"query parameter {name[:60]!r} is not supported; supported: "
                            + ", ".join(SUPPORTED))
        if name in seen:
            raise bad_query(f"{name} is given twice: give several values as one, "
                            "separated by |")
        seen[name] = value
    args: dict[str, Any] = {}
    if "GE_eventTime" in seen:
        args["ge_time"] = _time("GE_eventTime", seen["GE_eventTime"])
    if "LT_eventTime" in seen:
        args["lt_time"] = _time("LT_eventTime", seen["LT_eventTime"])
    types: frozenset[str] | None = None
    if "eventType" in seen:
        types = frozenset()
        for name in _values(seen["eventType"]):
            types |= _EPCIS_TYPES.get(name, frozenset())
    if "EQ_bizStep" in seen:
        stepped: frozenset[str] = frozenset()
        for value in _values(seen["EQ_bizStep"]):
            stepped |= _STEP_TYPES.get(cbv.term(value, "bizstep") or "", frozenset())
        types = stepped if types is None else types & stepped
    args["types"] = types
    if "EQ_bizLocation" in seen:
        args["locations"] = tuple(
            loc for v in _values(seen["EQ_bizLocation"])
            if (loc := gs1_ids.location_id(v)) is not None
        )
    if "MATCH_anyEPC" in seen:
        args["epcs"] = tuple(dict.fromkeys(_values(seen["MATCH_anyEPC"])))
    if "MATCH_anyEPCClass" in seen:
        lots, products = [], []
        for value in _values(seen["MATCH_anyEPCClass"]):
            lot, product = _class_filter(value)
            if lot:
                lots.append(lot)
            if product:
                products.append(product)
        args.update(lots=tuple(lots), products=tuple(products), classes_given=True)
    if "EXISTS_errorDeclaration" in seen:
        if seen["EXISTS_errorDeclaration"].strip():
            raise bad_query("EXISTS_errorDeclaration takes no value")
        args["declared_wrong"] = True
    if "perPage" in seen:
        try:
            per_page = int(seen["perPage"])
        except ValueError:
            raise bad_query(f"perPage must be a whole number, got {seen['perPage'][:30]!r}") \
                from None
        if per_page < 1:
            raise bad_query("perPage must be at least 1")
        args["per_page"] = min(per_page, MAX_PER_PAGE)
    args["page_token"] = seen.get("nextPageToken")
    normalised = [f"{k}={seen[k]}" for k in SUPPORTED if k in seen and k != "nextPageToken"]
    return EventQuery(normalised=normalised, **args)


# --- the statement -----------------------------------------------------------------

SELECT_EVENTS = """
SELECT e.message_id, e.event_time, e.event_type, e.location_id, e.source_location_id,
       e.destination_location_id, e.reference_document_type, e.reference_document_number,
       e.promoted_at,
       e.kdes->'epcis_event'->>'eventID',
       e.kdes->'epcis_event'->>'eventTimeZoneOffset',
       CASE WHEN e.kdes ? 'epcis_event' THEN jsonb_build_object(
           'epcList', e.kdes->'epcis_event'->'epcList',
           'inputEPCList', e.kdes->'epcis_event'->'inputEPCList',
           'outputEPCList', e.kdes->'epcis_event'->'outputEPCList') END,
       (SELECT jsonb_agg(jsonb_build_array(l.role, l.lot_code, l.product_code, l.quantity, l.unit)
                         ORDER BY l.position)
        FROM core.event_lots l
        WHERE l.message_id = e.message_id AND l.event_time = e.event_time),
       (SELECT jsonb_build_object('declarationTime', r.declaration_time, 'reason', r.reason,
                                  'correctiveEventIDs', to_jsonb(r.corrective_event_ids))
        FROM core.retractions r
        WHERE r.message_id = e.message_id
        ORDER BY r.declaration_time DESC NULLS LAST, r.retracted_by_message_id
        LIMIT 1)
FROM core.events e
WHERE true"""
_GE = " AND e.event_time >= %(ge_time)s"
_LT = " AND e.event_time < %(lt_time)s"
_TYPES = " AND e.event_type = ANY(%(types)s)"
_LOCATIONS = " AND e.location_id = ANY(%(locations)s)"
_EPCS = """ AND e.kdes ? 'epcis_event' AND (
    coalesce(e.kdes->'epcis_event'->'epcList' ?| %(epcs)s, false)
    OR coalesce(e.kdes->'epcis_event'->'inputEPCList' ?| %(epcs)s, false)
    OR coalesce(e.kdes->'epcis_event'->'outputEPCList' ?| %(epcs)s, false))"""
_CLASSES = """ AND EXISTS (
    SELECT 1 FROM core.event_lots l
    WHERE l.message_id = e.message_id AND l.event_time = e.event_time
      AND (l.lot_code = ANY(%(lots)s) OR l.product_code = ANY(%(products)s)))"""
_DECLARED_WRONG = " AND EXISTS (SELECT 1 FROM core.retractions r WHERE r.message_id = e.message_id)"
_VISIBLE = """ AND (e.actor_id = %(viewer)s
    OR e.location_id = ANY(%(viewer_locations)s)
    OR e.source_location_id = ANY(%(viewer_locations)s)
    OR e.destination_location_id = ANY(%(viewer_locations)s))"""
_AFTER = " AND (e.event_time, e.message_id) > (%(after_time)s, %(after_id)s)"
_ORDER = " ORDER BY e.event_time, e.message_id LIMIT %(limit)s"
_BY_MESSAGE_ID = " AND e.message_id = %(message_id)s"
_BY_EPCIS_ID = " AND e.kdes ? 'epcis_event' AND e.kdes->'epcis_event'->>'eventID' = %(event_id)s"


def _visibility(principal: Principal, params: dict[str, Any]) -> str:
    if principal.regulator:
        return ""
    params["viewer"] = principal.actor_id
    params["viewer_locations"] = list(principal.locations)
    return _VISIBLE


def events_statement(q: EventQuery, principal: Principal,
                     after: paging.Position | None) -> tuple[str, dict[str, Any]]:
    """The SELECT of one page (perPage + 1 rows: the extra one says a next page exists)."""
    sql = SELECT_EVENTS
    params: dict[str, Any] = {"limit": q.per_page + 1}
    if q.ge_time is not None:
        sql += _GE
        params["ge_time"] = q.ge_time
    if q.lt_time is not None:
        sql += _LT
        params["lt_time"] = q.lt_time
    if q.types is not None and q.types != ALL_TYPES:
        sql += _TYPES
        params["types"] = sorted(q.types)
    if q.locations is not None:
        sql += _LOCATIONS
        params["locations"] = list(q.locations)
    if q.epcs is not None:
        sql += _EPCS
        params["epcs"] = list(q.epcs)
    if q.classes_given:
        sql += _CLASSES
        params["lots"] = list(q.lots)
        params["products"] = list(q.products)
    if q.declared_wrong:
        sql += _DECLARED_WRONG
    sql += _visibility(principal, params)
    if after is not None:
        sql += _AFTER
        params["after_time"] = after.event_time
        params["after_id"] = after.message_id
    return sql + _ORDER, params


def to_row(rec: tuple[Any, ...]) -> EventRow:
    (message_id, event_time, event_type, location_id, source, destination, ref_type,
     ref_number, promoted_at, epcis_id, epcis_offset, epcs, lots, declaration) = rec
    return EventRow(
        message_id=message_id,
        event_time=event_time,
        event_type=event_type,
        location_id=location_id,
        source_location_id=source,
        destination_location_id=destination,
        reference_document_type=ref_type,
        reference_document_number=ref_number,
        promoted_at=promoted_at,
        lots=tuple(LotLine(*line) for line in lots or ()),
        epcis_event_id=epcis_id,
        epcis_offset=epcis_offset,
        epcs=_epc_lists(epcs),
        error_declaration=declaration,
    )


def _epc_lists(value: Mapping[str, Any] | None) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for key, items in (value or {}).items():
        if isinstance(items, list):
            kept = tuple(dict.fromkeys(x for x in items if isinstance(x, str)))
            if kept:
                out[key] = kept
    return out


@dataclass(frozen=True)
class Page:
    rows: list[EventRow]
    next_position: paging.Position | None


def fetch_page(conn: psycopg.Connection, q: EventQuery, principal: Principal,
               after: paging.Position | None) -> Page:
    sql, params = events_statement(q, principal, after)
    if q.types is not None and not q.types:
        return Page([], None)  # e.g. eventType=AggregationEvent: nothing to ask for
    records = conn.execute(sql, params).fetchall()
    rows = [to_row(r) for r in records[: q.per_page]]
    more = len(records) > q.per_page
    last = rows[-1] if rows and more else None
    return Page(rows, paging.Position(last.event_time, last.message_id) if last else None)


def fetch_event(conn: psycopg.Connection, event_id: str, principal: Principal) -> EventRow | None:
    """The event GET /events/{eventID} names, if the caller may see it: by
    `urn:uuid:{message_id}`, or by the sender's own eventID (captured as EPCIS)."""
    candidates: list[tuple[str, dict[str, Any]]] = []
    if event_id.lower().startswith("urn:uuid:"):
        with contextlib.suppress(ValueError):
            candidates.append((_BY_MESSAGE_ID, {"message_id": UUID(event_id[9:])}))
    candidates.append((_BY_EPCIS_ID, {"event_id": event_id}))
    for fragment, params in candidates:
        sql = SELECT_EVENTS + fragment
        sql += _visibility(principal, params)
        rec = conn.execute(sql + " ORDER BY e.event_time, e.message_id LIMIT 1", params).fetchone()
        if rec is not None:
            return to_row(rec)
    return None
