"""Reading the input files of `foodtrace publish`: JSON (one object or an array), JSON
lines, or CSV, into contract messages (dicts). No broker, no topics.

CSV columns are message fields; nested fields are either a JSON cell (`lots`,
`inputs`, `outputs`, `reference_document`, `kdes`) or dotted columns
(`reference_document.type`, `lots.0.lot_code`); `quantity`, `value`, `lat`, `lon`
are parsed as numbers; empty cells are left out. A CSV row without `schema` or
`message_id` gets them: the contract's schema name and a UUID derived from the row's
content (so publishing the same file twice is still stored once).
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
import uuid
from pathlib import Path
from typing import Any

# CLI names of the kinds -> internal kind
KIND_NAMES: dict[str, str] = {
    "lab-result": "lab_result",
    "chain-event": "chain_event",
    "epcis": "epcis",
    "locations": "location",
    "products": "product",
}
SCHEMA_NAMES = {
    "lab_result": "foodtrace/lab-result/v1",
    "chain_event": "foodtrace/chain-event/v1",
    "location": "foodtrace/location/v1",
    "product": "foodtrace/product/v1",
}
JSON_CELL_FIELDS = frozenset({"lots", "inputs", "outputs", "reference_document", "kdes"})
NUMERIC_FIELDS = frozenset({"quantity", "value", "lat", "lon"})
# Namespace of message ids derived from CSV rows (uuid5 of the row's canonical JSON).
CSV_ROW_NAMESPACE = uuid.UUID("6f1c1d2e-5b0a-4c36-9d0e-2a4f7b8c9d10")


class PublishError(Exception):
    """Something the user must fix; the message says what."""


class InputError(PublishError):
    """The input file cannot be read as messages."""



# ---- reading files -------------------------------------------------------------


def read_records(path: str | Path, kind: str) -> list[dict[str, Any]]:
    """The messages in a JSON, JSON-lines or CSV file (`-` reads stdin)."""
    name = str(path)
    if name == "-":
        text = sys.stdin.read()
        suffix = ""
    else:
        p = Path(path)
        if not p.exists():
            raise InputError(f"{name}: no such file")
        if p.is_dir():
            raise InputError(f"{name}: is a directory, expected a JSON, JSON-lines or CSV file")
        try:
            text = p.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
        suffix = p.suffix.lower()
    if suffix == ".csv":
        if kind == "epcis":
            raise InputError(f"{name}: EPCIS documents are JSON, not CSV")
        return parse_csv(text, kind, name)
    if suffix in (".jsonl", ".ndjson"):
        return parse_json_lines(text, name)
    return parse_json(text, name)


def parse_json(text: str, name: str = "<input>") -> list[dict[str, Any]]:
    """One object, an array of objects, or (detected) JSON lines."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # several documents: JSON lines
            return parse_json_lines(text, name)
        raise InputError(
            f"{name}: bad JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
    return _objects(doc, name)


def parse_json_lines(text: str, name: str = "<input>") -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{name}: bad JSON at line {lineno}, column {exc.colno}: {exc.msg}"
            ) from exc
        records.extend(_objects(doc, f"{name}: line {lineno}"))
    if not records:
        raise InputError(f"{name}: no messages in the file")
    return records


def _objects(doc: Any, where: str) -> list[dict[str, Any]]:
    items = doc if isinstance(doc, list) else [doc]
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise InputError(
                f"{where}: element {i} is a {type(item).__name__}, expected a JSON object"
            )
    return items


_INT = re.compile(r"[+-]?\d+")


def parse_csv(text: str, kind: str, name: str = "<input>") -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise InputError(f"{name}: empty CSV (no header row)")
    records = []
    for row in reader:
        line = reader.line_num
        if None in row:
            raise InputError(f"{name}: line {line} has more cells than the header has columns")
        record: dict[str, Any] = {}
        for column, cell in row.items():
            if cell is None or not cell.strip():
                continue
            keys = column.strip().split(".")
            _set_path(
                record,
                keys,
                _cell_value(keys, cell.strip(), name, line, column),
                name,
                line,
                column,
            )
        if not record:
            continue
        if kind in SCHEMA_NAMES:
            record.setdefault("schema", SCHEMA_NAMES[kind])
        if "message_id" not in record:
            canonical = json.dumps(record, sort_keys=True, ensure_ascii=False)
            record = {"message_id": str(uuid.uuid5(CSV_ROW_NAMESPACE, canonical)), **record}
        records.append(record)
    if not records:
        raise InputError(f"{name}: no rows after the header")
    return records


def _cell_value(keys: list[str], cell: str, name: str, line: int, column: str) -> Any:
    if len(keys) == 1 and keys[0] in JSON_CELL_FIELDS:
        try:
            return json.loads(cell)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{name}: line {line}, column {column!r}: not valid JSON ({exc.msg}); "
                "nested fields go in as JSON, e.g. "
                '[{"lot_code": "...", "product_code": "...", "quantity": 10, "unit": "kg"}]'
            ) from exc
    if keys[-1] in NUMERIC_FIELDS:
        try:
            return int(cell) if _INT.fullmatch(cell) else float(cell)
        except ValueError:
            raise InputError(
                f"{name}: line {line}, column {column!r}: {cell!r} is not a number"
            ) from None
    return cell


def _set_path(
    record: dict[str, Any], keys: list[str], value: Any, name: str, line: int, column: str
) -> None:
    """record[a][b]... = value; numeric keys index lists (lots.0.lot_code)."""
    node: Any = record
    for key, nxt in zip(keys, [*keys[1:], None], strict=True):
        slot: Any = int(key) if key.isdigit() else key
        if isinstance(node, list):
            if not isinstance(slot, int):
                raise InputError(f"{name}: line {line}, column {column!r}: expected an index")
            while len(node) <= slot:
                node.append(None)
        elif isinstance(slot, int):
            raise InputError(f"{name}: line {line}, column {column!r}: unexpected index {key}")
        if nxt is None:
            node[slot] = value
            return
        child = node[slot] if (isinstance(node, list) or slot in node) else None
        if child is None:
            child = [] if nxt.isdigit() else {}
            node[slot] = child
        node = child
