"""The FDA electronic sortable spreadsheet of a lot's trace (21 CFR 1.1455(c)(3)(ii)).

    export(conn, lot_code, out_dir, csv_dir=None) -> ExportResult

Covers the lot, every lot upstream and downstream of it (foodtrace.trace.api) and
every Critical Tracking Event that names them (retracted EPCIS events excluded).
One workbook of 13 tabs (layout.py: an explanation sheet, one tab per CTE and the
retail sale, location and product descriptions, findings, source documents) and,
one CSV per tab with the same headings and cells (into csv_dir, default out_dir).

    layout.py   tabs and headings (one table; derived from the CFR, see its doc)
    times.py    date and time as recorded at the place, beside UTC
    rows.py     rows of every tab (pure)
    collect.py  what is read from the database
    write.py    workbook and CSVs, within Excel's cell limit
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from foodtrace.fsma.collect import collect
from foodtrace.fsma.layout import CTE_TABS, TABS
from foodtrace.fsma.rows import (
    EventLotRecord,
    Row,
    cte_rows,
    document_rows,
    finding_rows,
    location_rows,
    product_rows,
    readme_rows,
)
from foodtrace.fsma.write import write_csv, write_xlsx

# How a reader gets an EPCIS event that did not fit a cell (the EPCIS REST interface
# of `foodtrace serve`, or the stored document).
WHERE_EPCIS = ("GET /events/{event_id} (foodtrace serve); "
               "landing.epcis_documents document_id {document_id}")


@dataclass(frozen=True)
class ExportResult:
    lot_code: str
    directory: Path
    lots: list[str]
    files: list[dict[str, Any]]  # {tab, title, event_type, rows, path}
    xlsx: Path | None

    def to_json(self) -> dict[str, Any]:
        return {"lot_code": self.lot_code, "directory": str(self.directory), "lots": self.lots,
                "files": self.files, "xlsx": str(self.xlsx) if self.xlsx else None}


def build_tabs(
    records: Sequence[EventLotRecord],
    places: Mapping[str, Mapping[str, Any]],
    products: Mapping[str, Mapping[str, Any]],
) -> dict[str, list[Row]]:
    """Every tab's rows (pure)."""
    tabs = cte_rows(records, places, products)
    return {
        "readme": readme_rows(),
        **tabs,
        "locations": location_rows(tabs, places),
        "products": product_rows(records, products),
        "findings": finding_rows(records),
        "documents": document_rows(records, WHERE_EPCIS),
    }


def export(conn: psycopg.Connection, lot_code: str, out_dir: Path | str, *,
           xlsx: bool = True, csv_dir: Path | str | None = None) -> ExportResult:
    """Write the workbook into out_dir and a CSV per tab into csv_dir (default
    out_dir); raises LotNotFound for an unknown lot."""
    lots, records, places, products = collect(conn, lot_code)
    rows = build_tabs(records, places, products)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    book = write_xlsx(TABS, rows, out / f"fsma204_{safe_name(lot_code)}.xlsx") if xlsx else None
    files = []
    csv_out = Path(csv_dir) if csv_dir is not None else out
    csv_out.mkdir(parents=True, exist_ok=True)
    cte = {t.key for t in CTE_TABS}
    for tab in TABS:
        path = write_csv(tab, rows[tab.key], csv_out / f"{tab.key}.csv")
        files.append({"tab": tab.key, "title": tab.title,
                      "event_type": tab.event_type if tab.key in cte else None,
                      "rows": len(rows[tab.key]), "path": str(path)})
    return ExportResult(lot_code, out, lots, files, book)


def safe_name(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)
