"""The FDA-style electronic sortable spreadsheet of a lot's trace (21 CFR 1.1455).

    export(conn, lot_code, out_dir, xlsx=False) -> ExportResult

Covers the lot, every lot upstream and downstream of it (foodtrace.trace.api) and
every Critical Tracking Event that names them: one CSV per event type
(harvesting.csv ... sale.csv, always all eight, header-only when empty) and,
optionally, one .xlsx with a sheet per event type (filters on, header frozen).

Each row carries the lot (TLC), quantity, unit, product; the event's own location,
the counterparty (ship-to for shipping, ship-from for receiving, the previous source
for first receiving, the next recipient for harvesting and cooling) and the TLC
source location, each with business name, kind, coordinates, city, region and
country, so neither the counterparty nor the TLC source is lost; the TLC source
reference, the reference document, and the event time normalised to UTC, then split
into date and time. A transformation gives one row per input and per output, joined
by event_id (never a Cartesian product of inputs and outputs).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

from foodtrace.alerts.impact import fetch_places
from foodtrace.jsonvalues import json_number
from foodtrace.reference import CITIES, EVENT_TYPES
from foodtrace.trace.api import trace

PLACE_FIELDS = (
    "location_id",
    "business_name",
    "kind",
    "latitude",
    "longitude",
    "city",
    "region",
    "country",
)
# event type -> (column prefix of the counterparty, where the event names it)
COUNTERPARTY: dict[str, tuple[str, str]] = {
    "harvesting": ("next_recipient", "kdes:immediate_subsequent_recipient_location_id"),
    "cooling": ("next_recipient", "kdes:immediate_subsequent_recipient_location_id"),
    "first_receiving": ("previous_source", "source_location_id"),
    "shipping": ("ship_to", "destination_location_id"),
    "receiving": ("ship_from", "source_location_id"),
}
_USED_KDES = {"immediate_subsequent_recipient_location_id", "tlc_source_reference",
              # provenance, not KDEs: the EPCIS event as captured and its mapping's gaps
              # (those are findings, reported as such)
              "epcis_event", "epcis_findings"}


def place_columns(prefix: str) -> list[str]:
    return [f"{prefix}_{f}" for f in PLACE_FIELDS]


def columns(event_type: str) -> list[str]:
    cols = ["event_id", "event_type"]
    if event_type == "transformation":
        cols += ["transformation_role", "line"]
    cols += [
        "traceability_lot_code",
        "quantity",
        "unit_of_measure",
        "product_code",
        "product_description",
        "food_category",
    ]
    cols += place_columns("location")
    if event_type in COUNTERPARTY:
        cols += place_columns(COUNTERPARTY[event_type][0])
    cols += place_columns("tlc_source")
    cols += [
        "tlc_source_reference",
        "reference_document_type",
        "reference_document_number",
        "event_date_utc",
        "event_time_utc",
        "actor_id",
        "other_kdes",
        # spec 2.2: KDEs the lot graph answered (the sender did not send them)
        "derived_kdes",
        # spec 2.4: what validation found on the event (it is in the trace all the same)
        "findings",
    ]
    return cols


@dataclass(frozen=True)
class EventLotRecord:
    """One (event, lot line) as read from core.events + core.event_lots."""

    message_id: Any
    event_time: datetime
    event_type: str
    actor_id: str
    location_id: str
    source_location_id: str | None
    destination_location_id: str | None
    event_tlc_source: str | None
    reference_document_type: str | None
    reference_document_number: str | None
    kdes: dict[str, Any]
    role: str
    position: int
    lot_code: str
    product_code: str
    quantity: Decimal
    unit: str
    product_name: str | None
    category: str | None
    lot_tlc_source: str | None
    # core.findings of the event: {rule, severity, resolution, value}
    findings: Sequence[Mapping[str, Any]] = ()

    def derived_value(self, rule: str) -> str | None:
        for f in self.findings:
            if f.get("rule") == rule and f.get("resolution") == "derived":
                return f.get("value")
        return None


def utc_date_time(moment: datetime) -> tuple[str, str]:
    """('YYYY-MM-DD', 'HH:MM:SS') in UTC: normalise first, then split."""
    if moment.tzinfo is None:
        raise ValueError("event times must carry a timezone")
    u = moment.astimezone(UTC)
    return u.strftime("%Y-%m-%d"), u.strftime("%H:%M:%S")


def _place(prefix: str, location_id: str | None, places: Mapping[str, Mapping[str, Any]]):
    p = places.get(location_id or "", {})
    city = p.get("city")
    return {
        f"{prefix}_location_id": location_id or "",
        f"{prefix}_business_name": p.get("name") or "",
        f"{prefix}_kind": p.get("kind") or "",
        f"{prefix}_latitude": "" if p.get("lat") is None else p["lat"],
        f"{prefix}_longitude": "" if p.get("lon") is None else p["lon"],
        f"{prefix}_city": city or "",
        f"{prefix}_region": "Guangdong" if city in CITIES else "",
        f"{prefix}_country": "CN" if city in CITIES else "",
    }


def _counterparty_id(rec: EventLotRecord) -> str | None:
    where = COUNTERPARTY[rec.event_type][1]
    if where.startswith("kdes:"):
        value = rec.kdes.get(where.removeprefix("kdes:"))
        return str(value) if value else None
    return getattr(rec, where)


def build_rows(
    records: Sequence[EventLotRecord], places: Mapping[str, Mapping[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """Spreadsheet rows per event type, in event-time order (pure)."""
    sheets: dict[str, list[dict[str, Any]]] = {t: [] for t in EVENT_TYPES}
    ordered = sorted(
        records, key=lambda r: (r.event_time, str(r.message_id), r.role != "input", r.position)
    )
    for rec in ordered:
        day, clock = utc_date_time(rec.event_time)
        row: dict[str, Any] = {
            "event_id": str(rec.message_id),
            "event_type": rec.event_type,
            "traceability_lot_code": rec.lot_code,
            "quantity": json_number(rec.quantity),
            "unit_of_measure": rec.unit,
            "product_code": rec.product_code,
            "product_description": rec.product_name or "",
            "food_category": rec.category or "",
            **_place("location", rec.location_id, places),
            "tlc_source_reference": str(rec.kdes.get("tlc_source_reference") or ""),
            "reference_document_type": rec.reference_document_type,
            "reference_document_number": rec.reference_document_number,
            "event_date_utc": day,
            "event_time_utc": clock,
            "actor_id": rec.actor_id,
            "other_kdes": json.dumps(
                {k: v for k, v in sorted(rec.kdes.items()) if k not in _USED_KDES},
                ensure_ascii=False,
                default=str,
            ),
        }
        if rec.event_type == "transformation":
            row["transformation_role"] = rec.role
            row["line"] = rec.position
        derived: list[str] = []
        if rec.event_type in COUNTERPARTY:
            prefix = COUNTERPARTY[rec.event_type][0]
            party = _counterparty_id(rec)
            if party is None and prefix == "next_recipient":
                party = rec.derived_value(f"kde.{rec.event_type}.next_recipient")
                if party:
                    derived.append("next_recipient (the lot's first shipping)")
            row.update(_place(prefix, party, places))
        # The event's TLC source (where the code was assigned) when it names one,
        # else the lot's own: a transformation input keeps its original source.
        tlc_source = rec.event_tlc_source if rec.role != "input" else None
        if tlc_source is None and rec.role != "input" and rec.lot_tlc_source:
            derived.append("tlc_source (the event that assigned the lot code)")
        row.update(_place("tlc_source", tlc_source or rec.lot_tlc_source, places))
        row["derived_kdes"] = "; ".join(derived)
        row["findings"] = "; ".join(
            f"{f['rule']} [{f['severity']}, {f.get('resolution') or 'open'}]" for f in rec.findings
        )
        sheets[rec.event_type].append(row)
    return sheets


_RECORDS_SQL = """
WITH touched AS (
    SELECT DISTINCT el.message_id, el.event_time FROM core.event_lots el
    WHERE el.lot_code = ANY(%(lots)s)
      -- an event its sender declared wrong (EPCIS errorDeclaration) is no record
      AND NOT EXISTS (SELECT 1 FROM core.retractions r WHERE r.message_id = el.message_id)
)
SELECT e.message_id, e.event_time, e.event_type, e.actor_id, e.location_id,
       e.source_location_id, e.destination_location_id, e.tlc_source_location_id,
       e.reference_document_type, e.reference_document_number, e.kdes,
       el.role, el.position, el.lot_code, el.product_code, el.quantity, el.unit,
       p.name, p.category, l.tlc_source_location_id,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('rule', f.rule, 'severity', f.severity,
                                                     'resolution', f.resolution,
                                                     'value', f.resolved_value)
                                  ORDER BY f.rule), '[]'::jsonb)
        FROM core.findings f WHERE f.message_id = e.message_id) AS findings
FROM touched t
JOIN core.events e ON e.message_id = t.message_id AND e.event_time = t.event_time
JOIN core.event_lots el ON el.message_id = e.message_id AND el.event_time = e.event_time
LEFT JOIN core.products p ON p.product_code = el.product_code
LEFT JOIN core.lots l ON l.lot_code = el.lot_code
WHERE el.lot_code = ANY(%(lots)s) OR e.event_type = 'transformation'
"""


def collect(
    conn: psycopg.Connection, lot_code: str
) -> tuple[list[str], list[EventLotRecord], dict[str, dict[str, Any]]]:
    """The trace's lots, their event records and the master data of every place named."""
    t = trace(conn, lot_code, "both")
    lots = sorted({t.lot.lot_code} | {x.lot_code for x in [*t.upstream, *t.downstream]})
    records = [EventLotRecord(*r) for r in conn.execute(_RECORDS_SQL, {"lots": lots}).fetchall()]
    ids: set[str] = set()
    for rec in records:
        ids |= {
            x
            for x in (
                rec.location_id,
                rec.source_location_id,
                rec.destination_location_id,
                rec.event_tlc_source,
                rec.lot_tlc_source,
            )
            if x
        }
        recipient = rec.kdes.get("immediate_subsequent_recipient_location_id")
        if recipient:
            ids.add(str(recipient))
        ids |= {str(f["value"]) for f in rec.findings if f.get("value")}
    return lots, records, fetch_places(conn, sorted(ids))


@dataclass(frozen=True)
class ExportResult:
    lot_code: str
    directory: Path
    lots: list[str]
    files: list[dict[str, Any]]  # {event_type, path, rows}
    xlsx: Path | None

    def to_json(self) -> dict[str, Any]:
        return {
            "lot_code": self.lot_code,
            "directory": str(self.directory),
            "lots": self.lots,
            "files": self.files,
            "xlsx": str(self.xlsx) if self.xlsx else None,
        }


def export(
    conn: psycopg.Connection, lot_code: str, out_dir: Path | str, *, xlsx: bool = False
) -> ExportResult:
    """Write the spreadsheet files for `lot_code` into `out_dir` (raises LotNotFound)."""
    lots, records, places = collect(conn, lot_code)
    sheets = build_rows(records, places)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for event_type in EVENT_TYPES:
        path = out / f"{event_type}.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns(event_type))
            writer.writeheader()
            writer.writerows(sheets[event_type])
        files.append({"event_type": event_type, "path": str(path), "rows": len(sheets[event_type])})
    book = write_xlsx(sheets, out / f"fsma204_{_safe(lot_code)}.xlsx") if xlsx else None
    return ExportResult(lot_code, out, lots, files, book)


def write_xlsx(sheets: Mapping[str, list[dict[str, Any]]], path: Path) -> Path:
    from openpyxl import Workbook  # only when asked for: keeps the CSV path light
    from openpyxl.styles import Font

    book = Workbook()
    book.remove(book.active)
    for event_type in EVENT_TYPES:
        ws = book.create_sheet(event_type)
        cols = columns(event_type)
        ws.append(cols)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in sheets[event_type]:
            ws.append([row.get(c, "") for c in cols])
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = ws.dimensions  # sortable and filterable
    book.save(path)
    return path


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)
