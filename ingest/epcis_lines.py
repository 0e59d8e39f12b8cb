"""The lot lines of one EPCIS event (pure): quantity elements, EPCs and pallets.

Each line is read on its own: a line that names a lot becomes a contract lot line
`{lot_code, product_code, quantity, unit}`; any other line is a finding (a
sentence) and the rest of the event still links. An SSCC is the lots that the
AggregationEvents of the same document put into it, as of the event's time
(`Containment`). An SSCC this document does not fill is a line of its own (the
pallet, product `CONTAINER_PRODUCT`): linking adds its lots once an AggregationEvent
of any document says what it held (schemas/sql/0016, foodtrace/trace/link.py);
`containment_rows` is what an AggregationEvent declares, for that. Units are UN/ECE
Rec 20 codes; no uom means a count (`each`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from foodtrace.ingest import gs1_ids
from foodtrace.ingest.gs1_ids import Identifier
from foodtrace.ingest.schema_check import instant as parse_time
from foodtrace.ingest.schema_check import shown as _shown

# UN/ECE Recommendation 20 unit codes -> (contract unit, factor)
UOM: dict[str, tuple[str, float]] = {
    "KGM": ("kg", 1.0),
    "GRM": ("kg", 0.001),
    "LBR": ("kg", 0.45359237),
    "ONZ": ("kg", 0.028349523125),
    "TNE": ("t", 1.0),
    "EA": ("each", 1.0),
    "H87": ("each", 1.0),
    "C62": ("each", 1.0),
    "CS": ("case", 1.0),
    "BX": ("box", 1.0),
    "CR": ("crate", 1.0),
}
MAX_NESTING = 8  # pallets in pallets: deeper containment is reported, not followed
# the product of a pallet line: a pallet whose contents the document does not give
CONTAINER_PRODUCT = "urn:foodtrace:container"


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []



@dataclass(frozen=True)
class _Aggregation:
    at: datetime
    index: int
    action: str
    children: tuple[str, ...]
    child_quantities: tuple[Any, ...]


class Containment:
    """What each parent (SSCC, ...) holds, from the AggregationEvents of one
    document, as of a moment."""

    def __init__(self, events: Iterable[Any]) -> None:
        self._by_parent: dict[str, list[_Aggregation]] = {}
        for index, event in enumerate(events):
            if not isinstance(event, dict) or event.get("type") != "AggregationEvent":
                continue
            parent, at = event.get("parentID"), parse_time(event.get("eventTime"))
            if not isinstance(parent, str) or at is None:
                continue
            children = tuple(c for c in as_list(event.get("childEPCs")) if isinstance(c, str))
            entry = _Aggregation(at, index, str(event.get("action")), children,
                                 tuple(as_list(event.get("childQuantityList"))))
            self._by_parent.setdefault(parent, []).append(entry)
        for entries in self._by_parent.values():
            entries.sort(key=lambda a: (a.at, a.index))

    def contents(self, parent: str, at: datetime | None) -> tuple[list[str], list[Any]] | None:
        """(child EPCs, child quantity elements) of `parent` at `at`; None when no
        AggregationEvent of the document names it."""
        entries = self._by_parent.get(parent)
        if not entries:
            return None
        epcs: dict[str, None] = {}
        quantities: dict[str | None, Any] = {}  # by epcClass (None when a row names none)
        for agg in entries:
            if at is not None and agg.at > at:
                break
            classes = {q.get("epcClass"): q for q in agg.child_quantities if isinstance(q, dict)}
            if agg.action == "DELETE":
                if not agg.children and not classes:
                    epcs.clear()
                    quantities.clear()
                for child in agg.children:
                    epcs.pop(child, None)
                for epc_class in classes:
                    quantities.pop(epc_class, None)
            else:
                epcs.update(dict.fromkeys(agg.children))
                quantities.update(classes)
        return list(epcs), list(quantities.values())


def lot_lines(event: dict[str, Any], quantity_key: str, epc_key: str, ilmd_lot: str | None,
              at: datetime | None, containment: Containment,
              findings: list[str]) -> list[dict[str, Any]]:
    """The lot lines of `quantity_key` and `epc_key`, one per (lot, unit); what is no
    lot goes to `findings`. `ilmd_lot` is the batch that makes a product class a lot;
    `at` is the event's time, for what a pallet held then."""
    lines: list[dict[str, Any]] = []
    for i, entry in enumerate(as_list(event.get(quantity_key))):
        line = _quantity_line(entry, f"{quantity_key}[{i}]", ilmd_lot, findings)
        if line is not None:
            lines.append(line)
    for i, epc in enumerate(as_list(event.get(epc_key))):
        lines.extend(_epc_lines(epc, f"{epc_key}[{i}]", ilmd_lot, at, containment, findings, 0))
    return _merge(lines)


def _quantity_line(entry: Any, where: str, ilmd_lot: str | None,
                   findings: list[str]) -> dict[str, Any] | None:
    if not isinstance(entry, dict):
        findings.append(f"{where} is no quantity element (an object with epcClass)")
        return None
    epc_class = entry.get("epcClass")
    ident = lot_identifier(epc_class, ilmd_lot)
    if isinstance(ident, str):
        findings.append(f"{where}: {ident}: not traced")
        return None
    quantity, uom = entry.get("quantity"), entry.get("uom")
    if not isinstance(quantity, int | float) or isinstance(quantity, bool) or quantity <= 0:
        findings.append(f"{where}: lot {ident.lot_code} has no quantity greater than 0 "
                        f"(quantity {_shown(quantity)}): not traced from this event")
        return None
    unit = ("each", 1.0) if uom is None else UOM.get(uom) if isinstance(uom, str) else None
    if unit is None:
        findings.append(f"{where}: lot {ident.lot_code}: uom {_shown(uom)} has no foodtrace "
                        f"unit (mapped: {', '.join(UOM)}): not traced from this event")
        return None
    return _line(ident, quantity if unit[1] == 1.0 else round(quantity * unit[1], 9), unit[0])


def lot_identifier(value: Any, ilmd_lot: str | None) -> Identifier | str:
    """The lot an epcClass or EPC names (with the ILMD batch for a product class),
    or why it names none."""
    ident = gs1_ids.parse(value)
    if isinstance(ident, str):
        return ident
    if ident.kind in ("product", "item") and ilmd_lot and ident.product_code:
        ident = gs1_ids.with_lot(
            Identifier("product", ident.value, product_code=ident.product_code), ilmd_lot)
    if ident.kind == "lot":
        return ident
    if ident.kind == "product":
        return f"{ident.value} names a product class without a lot (batch)"
    if ident.kind == "item":
        return f"{ident.value} is a serialised item without a lot (batch)"
    return f"{ident.value} names a {ident.kind}, not a lot"


def _epc_lines(epc: Any, where: str, ilmd_lot: str | None, at: datetime | None,
               containment: Containment, findings: list[str], depth: int) -> list[dict[str, Any]]:
    ident = gs1_ids.parse(epc)
    if isinstance(ident, Identifier) and ident.kind == "container":
        return _container_lines(ident, at, containment, findings, depth, where)
    lot = lot_identifier(epc, ilmd_lot)
    if isinstance(lot, str):
        findings.append(f"{where}: {lot}: not traced")
        return []
    return [_line(lot, 1, "each")]


def _container_lines(ident: Identifier, at: datetime | None, containment: Containment,
                     findings: list[str], depth: int, where: str | None = None) -> list[dict[str, Any]]:
    label = f"{where}: " if where else ""
    parent = ident.value
    contents = containment.contents(parent, at)
    if contents is None:
        if where is None:
            return []
        findings.append(f"{label}container {parent}: no AggregationEvent in this document says "
                        "what it holds; the pallet is traced as itself and linked to its lots "
                        "once an AggregationEvent (of any document) says what it held then")
        return [{"lot_code": gs1_ids.container_id(ident), "product_code": CONTAINER_PRODUCT, "quantity": 1,
                 "unit": "each"}]
    if depth >= MAX_NESTING:
        findings.append(f"{label}container {parent} is nested more than {MAX_NESTING} deep")
        return []
    epcs, quantities = contents
    lines: list[dict[str, Any]] = []
    for i, entry in enumerate(quantities):
        line = _quantity_line(entry, f"{parent} childQuantityList[{i}]", None, findings)
        if line is not None:
            lines.append(line)
    for i, child in enumerate(epcs):
        lines.extend(_epc_lines(child, f"{parent} childEPCs[{i}]", None, at, containment,
                                findings, depth + 1))
    if not lines and where is not None:
        findings.append(f"{label}container {parent} holds no lot at this event's time")
    return lines


def containers(lines: list[dict[str, Any]]) -> list[str]:
    """The pallets among an event's lot lines (those linking expands)."""
    return [x["lot_code"] for x in lines if x["product_code"] == CONTAINER_PRODUCT]


def containment_rows(event: dict[str, Any], ilmd_lot: str | None, containment: Containment,
                     findings: list[str]) -> list[dict[str, Any]]:
    """What an AggregationEvent declares about its parent, one row per child lot
    (a DELETE without children: one row with lot_code None, "everything"), for
    landing.epcis_containment. Children that are pallets this document fills are
    their lots; the rest of the children are read as `lot_lines` reads them."""
    parent, at = event.get("parentID"), parse_time(event.get("eventTime"))
    action = event.get("action")
    if not isinstance(parent, str) or at is None or action not in ("ADD", "OBSERVE", "DELETE"):
        return []
    ident = gs1_ids.parse(parent)
    parent_id = gs1_ids.container_id(ident) if isinstance(ident, Identifier) else parent
    base = {"parent_id": parent_id, "action": action, "event_time": at.isoformat()}
    children = lot_lines(event, "childQuantityList", "childEPCs", ilmd_lot, at, containment,
                         findings)
    if not children and action == "DELETE" and not as_list(event.get("childEPCs")) \
            and not as_list(event.get("childQuantityList")):
        return [{**base, "lot_code": None, "product_code": None, "quantity": None, "unit": None}]
    return [{**base, **line} for line in children]


def _line(ident: Identifier, quantity: float, unit: str) -> dict[str, Any]:
    return {"lot_code": ident.lot_code, "product_code": ident.product_code,
            "quantity": quantity, "unit": unit}


def _merge(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per (lot, unit): items counted one by one add up."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for line in lines:
        key = (line["lot_code"], line["unit"])
        if key in merged:
            merged[key]["quantity"] = round(merged[key]["quantity"] + line["quantity"], 9)
        else:
            merged[key] = dict(line)
    return list(merged.values())
