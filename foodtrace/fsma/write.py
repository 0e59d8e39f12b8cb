"""The workbook and the CSVs (I/O at the edge): the same headings and cells in both.

Every cell is kept within Excel's 32,767-character limit: a longer text is cut
and says where the whole is (the Source documents tab references EPCIS events that
do not fit; nothing else is expected to come near).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from foodtrace.fsma.layout import Tab
from foodtrace.fsma.rows import EXCEL_CELL_LIMIT, Row

_CUT_NOTE = " …（已截断 cut: over Excel's cell limit; see the Source documents tab）"


def fit_cell(value: Any) -> Any:
    if isinstance(value, str) and len(value) > EXCEL_CELL_LIMIT:
        return value[: EXCEL_CELL_LIMIT - len(_CUT_NOTE)] + _CUT_NOTE
    return value


def cells(tab: Tab, row: Row) -> list[Any]:
    return [fit_cell(row.get(c.key, "")) for c in tab.columns]


def write_csv(tab: Tab, rows: Sequence[Row], path: Path) -> Path:
    # utf-8-sig: Excel opens a CSV with Chinese headings correctly only with the BOM
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        writer.writerow([c.heading for c in tab.columns])
        writer.writerows(cells(tab, row) for row in rows)
    return path


def write_xlsx(tabs: Sequence[Tab], rows: Mapping[str, Sequence[Row]], path: Path) -> Path:
    from openpyxl import Workbook  # only when writing: keeps imports light
    from openpyxl.styles import Alignment, Font, PatternFill

    derived_fill = PatternFill("solid", start_color="FFF2CC", end_color="FFF2CC")
    book = Workbook()
    book.remove(book.worksheets[0])  # the default sheet (what `book.active` is on a new book)
    for tab in tabs:
        ws = book.create_sheet(tab.title)
        ws.append([c.heading for c in tab.columns])
        for cell in ws[1]:
            cell.font = Font(bold=True)
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        index = {c.key: i for i, c in enumerate(tab.columns, start=1)}
        for n, row in enumerate(rows.get(tab.key, ()), start=2):
            ws.append(cells(tab, row))
            for key in row.get("_derived", ()):  # derived KDEs: shaded, as the readme says
                if key in index:
                    ws.cell(row=n, column=index[key]).fill = derived_fill
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = ws.dimensions  # sortable and filterable
        for i, col in enumerate(tab.columns, start=1):
            ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = min(
                40, max(12, len(col.heading) // 2 + 4))
    book.save(path)
    return path
