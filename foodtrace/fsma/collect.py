"""What the export reads: the trace's lots, their events, the master data (I/O)."""

from __future__ import annotations

from typing import Any

import psycopg

from foodtrace.fsma.rows import EventLotRecord
from foodtrace.trace.api import trace

_RECORDS_SQL = """
WITH touched AS (
    SELECT DISTINCT el.message_id, el.event_time FROM core.event_lots el
    WHERE el.lot_code = ANY(%(lots)s)
      -- an event its sender declared wrong (EPCIS errorDeclaration) is no record
      AND NOT EXISTS (SELECT 1 FROM core.retractions r WHERE r.message_id = el.message_id)
)
SELECT e.message_id, e.event_time, e.event_time_offset, e.event_type, e.actor_id,
       e.location_id, e.source_location_id, e.destination_location_id,
       e.tlc_source_location_id, e.reference_document_type, e.reference_document_number,
       e.kdes, e.source_document_id,
       el.role, el.position, el.lot_code, el.product_code, el.quantity, el.unit,
       l.tlc_source_location_id,
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'rule', f.rule, 'severity', f.severity, 'resolution', f.resolution,
                   'value', f.resolved_value, 'cfr', f.cfr_section, 'message', f.message)
                ORDER BY f.rule), '[]'::jsonb)
        FROM core.findings f WHERE f.message_id = e.message_id) AS findings
FROM touched t
JOIN core.events e ON e.message_id = t.message_id AND e.event_time = t.event_time
JOIN core.event_lots el ON el.message_id = e.message_id AND el.event_time = e.event_time
LEFT JOIN core.lots l ON l.lot_code = el.lot_code
WHERE el.lot_code = ANY(%(lots)s) OR e.event_type = 'transformation'
"""

_PLACES_SQL = """
SELECT location_id, name, kind, city, lat, lon, business_name, address, postal_code, phone,
       country
FROM core.locations WHERE location_id = ANY(%s)
"""
_PLACE_KEYS = ("name", "kind", "city", "lat", "lon", "business_name", "address", "postal_code",
               "phone", "country")

_PRODUCTS_SQL = """
SELECT product_code, name, category, brand, commodity, variety, pack_size, pack_style
FROM core.products WHERE product_code = ANY(%s)
"""
_PRODUCT_KEYS = ("name", "category", "brand", "commodity", "variety", "pack_size", "pack_style")


def fetch_places(conn: psycopg.Connection, ids: list[str]) -> dict[str, dict[str, Any]]:
    rows = conn.execute(_PLACES_SQL, (ids,)).fetchall()
    return {r[0]: dict(zip(_PLACE_KEYS, r[1:], strict=True)) for r in rows}


def fetch_products(conn: psycopg.Connection, codes: list[str]) -> dict[str, dict[str, Any]]:
    rows = conn.execute(_PRODUCTS_SQL, (codes,)).fetchall()
    return {r[0]: dict(zip(_PRODUCT_KEYS, r[1:], strict=True)) for r in rows}


def named_locations(records: list[EventLotRecord]) -> set[str]:
    ids: set[str] = set()
    for rec in records:
        ids |= {x for x in (rec.location_id, rec.source_location_id, rec.destination_location_id,
                            rec.event_tlc_source, rec.lot_tlc_source) if x}
        recipient = rec.kdes.get("immediate_subsequent_recipient_location_id")
        if recipient:
            ids.add(str(recipient))
        ids |= {str(f["value"]) for f in rec.findings if f.get("value")}
    return ids


def collect(conn: psycopg.Connection, lot_code: str) -> tuple[
    list[str], list[EventLotRecord], dict[str, dict[str, Any]], dict[str, dict[str, Any]]
]:
    """The trace's lots, their event records, and the master data of every place and
    product named (raises LotNotFound)."""
    t = trace(conn, lot_code, "both")
    lots = sorted({t.lot.lot_code} | {x.lot_code for x in [*t.upstream, *t.downstream]})
    records = [EventLotRecord(*r) for r in conn.execute(_RECORDS_SQL, {"lots": lots}).fetchall()]
    places = fetch_places(conn, sorted(named_locations(records)))
    products = fetch_products(conn, sorted({r.product_code for r in records}))
    return lots, records, places, products
