"""The rows of every tab, from the trace's event records and the master data (pure).

A transformation gives one row per input and per output, joined by event ID (never
a Cartesian product of inputs and outputs). Each row carries its own location, the
counterparty and the TLC source location, each with its full location description,
so neither the counterparty nor the TLC source is lost. KDEs the lot graph answered
are filled and marked as derived: a row's `_derived` holds the keys of the cells
that were (the workbook shades them), `derived_kdes` says from what.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from foodtrace.fsma.layout import (
    CODES,
    CTE_TABS,
    LOCATION_FIELDS,
    PRODUCT_FIELDS,
    TAB_BY_EVENT_TYPE,
    TABS,
)
from foodtrace.fsma.times import recorded_time
from foodtrace.jsonvalues import json_number
from foodtrace.reference import CITIES, CITY_FACTS

EXCEL_CELL_LIMIT = 32_767
Row = dict[str, Any]

# event type -> (column prefix of the counterparty, where the event names it)
COUNTERPARTY: dict[str, tuple[str, str]] = {
    "harvesting": ("next_recipient", "kdes:immediate_subsequent_recipient_location_id"),
    "cooling": ("next_recipient", "kdes:immediate_subsequent_recipient_location_id"),
    "first_receiving": ("previous_source", "source_location_id"),
    "shipping": ("ship_to", "destination_location_id"),
    "receiving": ("ship_from", "source_location_id"),
}
# KDEs with a column of their own on a tab (kde_<key>); the rest go to other_kdes.
_KDE_COLUMNS: dict[str, frozenset[str]] = {
    t.key: frozenset(c.key.removeprefix("kde_") for c in t.columns if c.key.startswith("kde_"))
    for t in CTE_TABS}
_NOT_OTHER = {"immediate_subsequent_recipient_location_id", "tlc_source_reference",
              # provenance, not KDEs: the EPCIS event (Source documents tab) and its
              # mapping's gaps (those are findings, reported as such)
              "epcis_event", "epcis_findings"}


@dataclass(frozen=True)
class EventLotRecord:
    """One (event, lot line) as read from core.events + core.event_lots."""

    message_id: Any
    event_time: datetime
    event_time_offset: str | None  # the suffix it was sent with: '+08:00', 'Z', ...
    event_type: str
    actor_id: str
    location_id: str
    source_location_id: str | None
    destination_location_id: str | None
    event_tlc_source: str | None
    reference_document_type: str | None
    reference_document_number: str | None
    kdes: dict[str, Any]
    source_document_id: Any
    role: str
    position: int
    lot_code: str
    product_code: str
    quantity: Decimal
    unit: str
    lot_tlc_source: str | None
    # core.findings of the event: {rule, severity, resolution, value, cfr, message}
    findings: Sequence[Mapping[str, Any]] = ()

    def derived_value(self, rule: str) -> str | None:
        for f in self.findings:
            if f.get("rule") == rule and f.get("resolution") == "derived":
                return f.get("value")
        return None


def location_cells(prefix: str, location_id: str | None,
                   places: Mapping[str, Mapping[str, Any]]) -> Row:
    """A location description; region and country follow from the city when the
    master data gave no country (the nine cities are in Guangdong, CN)."""
    p = places.get(location_id or "", {})
    city = p.get("city")
    facts = CITY_FACTS.get(city or "")
    values = {
        "location_id": location_id or "",
        "business_name": p.get("business_name") or p.get("name") or "",
        "phone": p.get("phone") or "",
        "address": p.get("address") or "",
        "city": f"{facts.name_zh} {facts.name_en}" if facts else (city or ""),
        "region": "广东省 Guangdong" if city in CITIES else "",
        "postal_code": p.get("postal_code") or "",
        "country": p.get("country") or ("CN" if city in CITIES else ""),
        "latitude": "" if p.get("lat") is None else p["lat"],
        "longitude": "" if p.get("lon") is None else p["lon"],
    }
    return {f"{prefix}_{k}": values[k] for k, _, _ in LOCATION_FIELDS}


def product_cells(code: str, products: Mapping[str, Mapping[str, Any]]) -> Row:
    p = products.get(code, {})
    values = {"product_code": code, "product_name": p.get("name") or "",
              "food_category": p.get("category") or ""}
    for key in ("brand", "commodity", "variety", "pack_size", "pack_style"):
        values[key] = p.get(key) or ""
    return {k: values[k] for k, _, _ in PRODUCT_FIELDS}


def first_shipments(records: Sequence[EventLotRecord]) -> dict[tuple[str, str], EventLotRecord]:
    """(lot, ship-from location) -> the lot's first shipping from there."""
    first: dict[tuple[str, str], EventLotRecord] = {}
    for r in sorted(records, key=lambda r: (r.event_time, str(r.message_id))):
        if r.event_type == "shipping" and r.role == "lot" and r.destination_location_id:
            first.setdefault((r.lot_code, r.location_id), r)
    return first


def _reported_counterparty(rec: EventLotRecord) -> str | None:
    where = COUNTERPARTY[rec.event_type][1]
    if where.startswith("kdes:"):
        value = rec.kdes.get(where.removeprefix("kdes:"))
        # a harvest or cooling sent with a destination (EPCIS destinationList) names it there
        return str(value) if value else rec.destination_location_id
    named: str | None = getattr(rec, where)
    return named


def _kde_cells(rec: EventLotRecord, own: frozenset[str]) -> Row:
    k = rec.kdes
    out = {f"kde_{key}": _text(k.get(key)) for key in own}
    if "field_or_growing_area" in own:
        out["kde_field_or_growing_area"] = _text(k.get("field_id") or k.get("growing_area"))
    return out


def _text(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


def cte_rows(records: Sequence[EventLotRecord], places: Mapping[str, Mapping[str, Any]],
             products: Mapping[str, Mapping[str, Any]]) -> dict[str, list[Row]]:
    """Rows per CTE tab, in event-time order."""
    tabs: dict[str, list[Row]] = {t.key: [] for t in CTE_TABS}
    shipments = first_shipments(records)
    ordered = sorted(
        records, key=lambda r: (r.event_time, str(r.message_id), r.role != "input", r.position)
    )
    for rec in ordered:
        own = _KDE_COLUMNS[TAB_BY_EVENT_TYPE[rec.event_type].key]
        row: Row = {
            "event_id": str(rec.message_id),
            "traceability_lot_code": rec.lot_code,
            "quantity": json_number(rec.quantity),
            "unit_of_measure": rec.unit,
            **product_cells(rec.product_code, products),
            **location_cells("location", rec.location_id, places),
            **recorded_time(rec.event_time, rec.event_time_offset).as_row(),
            **_kde_cells(rec, own),
            "tlc_source_reference": str(rec.kdes.get("tlc_source_reference") or ""),
            "reference_document_type": rec.reference_document_type or "",
            "reference_document_number": rec.reference_document_number or "",
            "actor_id": rec.actor_id,
            "source_document": str(rec.source_document_id or ""),
            "other_kdes": json.dumps(
                {k: v for k, v in sorted(rec.kdes.items())
                 if k not in _NOT_OTHER and k not in own
                 and not (k in ("field_id", "growing_area") and "field_or_growing_area" in own)},
                ensure_ascii=False, default=str),
        }
        if rec.event_type == "transformation":
            row["transformation_role"] = rec.role
            row["line"] = rec.position
        derived: list[str] = []
        derived_keys: set[str] = set()
        if rec.event_type in COUNTERPARTY:
            prefix = COUNTERPARTY[rec.event_type][0]
            party = _reported_counterparty(rec)
            if party is None and prefix == "next_recipient":
                shipped = shipments.get((rec.lot_code, rec.location_id))
                party = (shipped.destination_location_id if shipped else
                         rec.derived_value(f"kde.{rec.event_type}.next_recipient"))
                if party:
                    via = f"（事件 event {shipped.message_id}）" if shipped else ""
                    derived.append(f"下一接收方 next recipient ← 该批次的首次发运 "
                                   f"the lot's first shipping{via}")
                    derived_keys |= {f"{prefix}_{k}" for k, _, _ in LOCATION_FIELDS}
            row.update(location_cells(prefix, party, places))
        # The event's TLC source (where the code was assigned) when it names one,
        # else the lot's own: a transformation input keeps its original source.
        tlc_source = rec.event_tlc_source if rec.role != "input" else None
        if tlc_source is None and rec.role != "input" and rec.lot_tlc_source:
            derived.append("批次代码来源地 TLC source ← 分配该批次代码的事件 "
                           "the event that assigned the lot code")
            derived_keys |= {f"tlc_source_{k}" for k, _, _ in LOCATION_FIELDS}
        row.update(location_cells("tlc_source", tlc_source or rec.lot_tlc_source, places))
        row["derived_kdes"] = "; ".join(derived)
        row["findings"] = "; ".join(
            f"{f['rule']} [{f['severity']}, {f.get('resolution') or 'open'}]" for f in rec.findings
        )
        row["_derived"] = derived_keys
        tabs[TAB_BY_EVENT_TYPE[rec.event_type].key].append(row)
    return tabs


def location_rows(tabs: Mapping[str, list[Row]],
                  places: Mapping[str, Mapping[str, Any]]) -> list[Row]:
    """Every location the CTE tabs name, once, with what its master data lacks."""
    ids: set[str] = set()
    for rows in tabs.values():
        for row in rows:
            ids |= {v for k, v in row.items() if k.endswith("_location_id") and v}
    out = []
    for location_id in sorted(ids):
        cells = location_cells("location", location_id, places)
        p = places.get(location_id)
        missing = ["master data 主数据"] if p is None else [
            k for k in ("business_name", "phone", "address", "postal_code") if not p.get(k)]
        out.append({**cells, "location_kind": (p or {}).get("kind") or "",
                    "missing": ", ".join(missing)})
    return out


def product_rows(records: Sequence[EventLotRecord],
                 products: Mapping[str, Mapping[str, Any]]) -> list[Row]:
    return [product_cells(code, products) for code in sorted({r.product_code for r in records})]


def finding_rows(records: Sequence[EventLotRecord]) -> list[Row]:
    """One row per finding of every event in the trace (an event's lots joined)."""
    lots: dict[str, list[str]] = {}
    seen: dict[str, EventLotRecord] = {}
    for r in sorted(records, key=lambda r: (r.event_time, str(r.message_id), r.position)):
        lots.setdefault(str(r.message_id), []).append(r.lot_code)
        seen.setdefault(str(r.message_id), r)
    out = []
    for mid, rec in seen.items():
        for f in rec.findings:
            out.append({
                "event_id": mid, "event_type": rec.event_type,
                "traceability_lot_code": " ".join(dict.fromkeys(lots[mid])),
                "rule": f.get("rule") or "", "severity": f.get("severity") or "",
                "cfr": f.get("cfr") or "", "message": f.get("message") or "",
                "status": f.get("resolution") or "open",
                "resolved_value": f.get("value") or "",
            })
    return out


def document_rows(records: Sequence[EventLotRecord], where: str) -> list[Row]:
    """EPCIS-sourced events: the event pasted when it fits a cell, else referenced."""
    out = []
    done: set[str] = set()
    for r in sorted(records, key=lambda r: (r.event_time, str(r.message_id))):
        event = r.kdes.get("epcis_event")
        if str(r.message_id) in done or not isinstance(event, dict):
            continue
        done.add(str(r.message_id))
        text = json.dumps(event, ensure_ascii=False, sort_keys=True)
        event_id = str(event.get("eventID") or "")
        fits = len(text) <= EXCEL_CELL_LIMIT
        out.append({
            "event_id": str(r.message_id),
            "document_id": str(r.source_document_id or ""),
            "epcis_event_id": event_id,
            "characters": len(text),
            "where": where.format(event_id=event_id or str(r.message_id),
                                  document_id=r.source_document_id or ""),
            "epcis_event": text if fits else
            f"未粘贴：超过 Excel 单元格 {EXCEL_CELL_LIMIT} 字符上限 not pasted: over Excel's "
            f"{EXCEL_CELL_LIMIT}-character cell limit; see Where to get it",
        })
    return out


def readme_rows() -> list[Row]:
    """What every tab and column means, and the codes used (Chinese, then English)."""
    out: list[Row] = []
    for tab in TABS:
        out.append({"tab": tab.title, "column": "", "cfr": tab.cfr,
                    "meaning": _TAB_MEANING.get(tab.key, tab.title)})
        for col in tab.columns:
            out.append({"tab": tab.title, "column": col.heading, "cfr": col.cfr,
                        "meaning": col.note})
    for code, meaning in CODES:
        out.append({"tab": "代码 Codes", "column": code, "cfr": "", "meaning": meaning})
    return out


_TAB_MEANING = {
    "readme": "本表：各表、各列与代码的含义 this sheet: what each tab, column and code means",
    "locations": "追溯中出现的每个地点及其说明 every location the trace names, described",
    "products": "追溯中出现的每个产品及其说明 every product the trace names, described",
    "findings": "核查发现：缺失或可疑的关键数据元素等，事件仍计入追溯 findings: missing or doubtful"
                " KDEs and more; the event is in the trace all the same",
    "documents": "由 EPCIS 文件映射的事件及其原始事件 events mapped from EPCIS documents, with"
                 " the event as captured",
    "sale": "零售（非 FSMA 204 关键追踪事件，foodtrace 附加）retail sale (not an FSMA 204 CTE; "
            "added by foodtrace)",
}
for _t in CTE_TABS:
    _TAB_MEANING.setdefault(_t.key, f"关键追踪事件 Critical Tracking Event {_t.title} ({_t.cfr})")
