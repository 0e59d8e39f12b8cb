"""Valid contract messages to start edge tests from (each test breaks one thing),
and small helpers to read an EdgeResult."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from foodtrace.ingest.edge import check_message
from foodtrace.ingest.messages import EdgeResult

REPO_ROOT = Path(__file__).resolve().parents[3]
# CI and the dev machines keep the shared reference material next to the repository.
GS1_VECTORS = (REPO_ROOT / ".." / "shared" / "vectors" / "epcis-gs1").resolve()

NOW = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)  # 12:00 in Guangzhou
LAB = "lab-gz-01"
ACTOR = "farm-zq-01"
LAB_TOPIC = f"foodtrace/v1/labs/{LAB}/results"
CHAIN_TOPIC = f"foodtrace/v1/chain/{ACTOR}/events"
EPCIS_TOPIC = f"foodtrace/v1/epcis/{ACTOR}"
LOCATIONS_TOPIC = "foodtrace/v1/registry/locations"
PRODUCTS_TOPIC = "foodtrace/v1/registry/products"


def new_id() -> str:
    return str(uuid.uuid4())


def lab_result(**fields: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "schema": "foodtrace/lab-result/v1",
        "message_id": new_id(),
        "lab_id": LAB,
        "sample_id": "S-20261128-0001",
        "lot_code": "FARM-ZQ-01-261128-A1-00001",
        "sampled_at": "2026-11-28T09:30:00+08:00",
        "sampled_location_id": "MKT-GZ-JIANGNAN",
        "tested_at": "2026-11-28T10:15:00+08:00",
        "test_kind": "rapid",
        "method": "GB/T 5009.199 enzyme inhibition",
        "analyte": "organophosphates_carbamates",
        "value": 31.5,
        "unit": "%",
        "result": "negative",
    }
    msg.update(fields)
    return msg


def confirmatory(**fields: Any) -> dict[str, Any]:
    msg = lab_result(test_kind="confirmatory", method="LC-MS/MS", analyte="chlorpyrifos",
                     value=0.12, unit="mg/kg")
    del msg["result"]
    msg.update(fields)
    return msg


def _line(lot: str, quantity: float = 120.0) -> dict[str, Any]:
    return {"lot_code": lot, "product_code": "CHOY-SUM", "quantity": quantity, "unit": "kg"}


def chain_event(event_type: str = "harvesting", **fields: Any) -> dict[str, Any]:
    """A valid chain event of any type (with the fields that type requires)."""
    msg: dict[str, Any] = {
        "schema": "foodtrace/chain-event/v1",
        "message_id": new_id(),
        "actor_id": ACTOR,
        "event_type": event_type,
        "event_time": "2026-11-28T06:10:00+08:00",
        "location_id": "FARM-ZQ-01",
        "reference_document": {"type": "BOL", "number": "B-261128-0007"},
    }
    if event_type == "transformation":
        msg["inputs"] = [_line("LOT-IN-1"), _line("LOT-IN-2", 30)]
        msg["outputs"] = [_line("LOT-OUT-1", 140)]
    else:
        msg["lots"] = [_line("LOT-1")]
    if event_type in ("harvesting", "initial_packing", "first_receiving", "transformation"):
        msg["tlc_source_location_id"] = "FARM-ZQ-01"
    if event_type == "shipping":
        msg["destination_location_id"] = "DIST-FS-01"
    if event_type == "receiving":
        msg["source_location_id"] = "PACK-GZ-01"
    msg.update(fields)
    return msg


def location(**fields: Any) -> dict[str, Any]:
    msg = {
        "message_id": new_id(),
        "location_id": "FARM-ZQ-01",
        "name": "Zhaoqing choy sum farm 肇庆菜心基地",
        "kind": "farm",
        "city": "zhaoqing",
        "lat": 23.05,
        "lon": 112.47,
    }
    msg.update(fields)
    return msg


def product(**fields: Any) -> dict[str, Any]:
    msg = {
        "message_id": new_id(),
        "product_code": "CHOY-SUM",
        "name": "Choy sum 菜心",
        "category": "leafy_vegetables",
    }
    msg.update(fields)
    return msg


def encode(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def check(topic: str, payload: Any, **kwargs: Any) -> EdgeResult:
    """check_message at the tests' fixed clock; dicts and lists are encoded first."""
    raw = payload if isinstance(payload, bytes) else encode(payload)
    kwargs.setdefault("now", NOW)
    return check_message(topic, raw, **kwargs)


def codes(result: EdgeResult) -> list[set[str]]:
    """The reason codes of each rejection, in order."""
    return [{r.code for r in rej.reasons} for rej in result.rejected]


def only_rejection(result: EdgeResult):
    assert not result.accepted, result.accepted
    assert len(result.rejected) == 1, result.rejected
    return result.rejected[0]
