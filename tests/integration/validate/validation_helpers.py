"""Land messages as the ingest edge would (rows in landing.*), and build valid
payloads of every kind, for validation tests. Codes carry a per-builder prefix."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg

from foodtrace.validate.promote import PromoteStats, validate_and_promote

CST = timezone(timedelta(hours=8))


def land(
    conn: psycopg.Connection, kind: str, payload: dict[str, Any], *, commit: bool = True
) -> str:
    """Insert one landing row (the ingest edge's job); return its message_id."""
    mid = payload.get("message_id") or str(uuid.uuid4())
    body = json.dumps(payload)
    if kind in ("location", "product"):
        key = payload.get("location_id" if kind == "location" else "product_code") or "?"
        conn.execute(
            "INSERT INTO landing.master_data (message_id, kind, natural_key, topic, payload) "
            "VALUES (%s, %s, %s, %s, %s)",
            (mid, kind, key, f"foodtrace/v1/registry/{kind}s", body),
        )
    elif kind == "chain_event":
        actor = payload.get("actor_id") or "actor"
        conn.execute(
            "INSERT INTO landing.chain_events (message_id, actor_id, topic, payload) "
            "VALUES (%s, %s, %s, %s)",
            (mid, actor, f"foodtrace/v1/chain/{actor}/events", body),
        )
    elif kind == "lab_result":
        lab = payload.get("lab_id") or "lab"
        conn.execute(
            "INSERT INTO landing.lab_results (message_id, lab_id, topic, payload) "
            "VALUES (%s, %s, %s, %s)",
            (mid, lab, f"foodtrace/v1/labs/{lab}/results", body),
        )
    else:
        raise ValueError(kind)
    if commit:
        conn.commit()
    return mid


def run(conn: psycopg.Connection, tmp_path: Path | None = None, **kwargs: Any) -> PromoteStats:
    kwargs.setdefault("write_reports", tmp_path is not None)
    return validate_and_promote(conn, report_dir=tmp_path, **kwargs)


def outcome(conn: psycopg.Connection, message_id: str) -> tuple[str | None, list[dict]]:
    row = conn.execute(
        "SELECT outcome, reasons FROM core.processed_messages WHERE message_id = %s",
        (message_id,),
    ).fetchone()
    return (row[0], row[1]) if row else (None, [])


class Builder:
    """Valid payloads around one small network: farm, pond, packer, market, plant, shop."""

    def __init__(self, prefix: str | None = None, t0: datetime | None = None) -> None:
        self.p = prefix or f"V{uuid.uuid4().hex[:6]}"
        self.t0 = t0 or (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0)
        self._n = 0
        p = self.p
        self.farm, self.pond, self.packer = f"{p}-farm", f"{p}-pond", f"{p}-packer"
        self.market, self.plant, self.shop = f"{p}-market", f"{p}-plant", f"{p}-shop"
        self.veg, self.fish, self.mix = f"{p}-VEG", f"{p}-FISH", f"{p}-MIX"

    def lot(self, name: str) -> str:
        return f"{self.p}-{name}"

    def at(self, hours: float) -> str:
        """A time `hours` after t0, written in China Standard Time (+08:00)."""
        return (self.t0 + timedelta(hours=hours)).astimezone(CST).isoformat()

    def _doc(self, kind: str = "BOL") -> dict[str, str]:
        self._n += 1
        return {"type": kind, "number": f"{self.p}-{kind}-{self._n}"}

    # ---- master data -----------------------------------------------------------
    def locations(self) -> list[dict[str, Any]]:
        kinds = {
            self.farm: "farm",
            self.pond: "farm",
            self.packer: "packer",
            self.market: "wholesale_market",
            self.plant: "processor",
            self.shop: "retailer",
        }
        return [self.location(loc, kind) for loc, kind in kinds.items()]

    def location(self, location_id: str, kind: str = "farm", **over: Any) -> dict[str, Any]:
        return {
            "schema": "foodtrace/location/v1",
            "message_id": str(uuid.uuid4()),
            "location_id": location_id,
            "name": f"{location_id} name",
            "kind": kind,
            "city": "guangzhou",
            "lat": 23.1,
            "lon": 113.3,
            **over,
        }

    def products(self) -> list[dict[str, Any]]:
        return [
            self.product(self.veg, "leafy_vegetables"),
            self.product(self.fish, "fish"),
            self.product(self.mix, "vegetable_products"),
        ]

    def product(self, code: str, category: str, **over: Any) -> dict[str, Any]:
        return {
            "schema": "foodtrace/product/v1",
            "message_id": str(uuid.uuid4()),
            "product_code": code,
            "name": f"{code} name",
            "category": category,
            **over,
        }

    # ---- chain events ------------------------------------------------------------
    def line(self, lot: str, qty: float, product: str | None = None, unit: str = "kg"):
        return {"lot_code": lot, "product_code": product or self.veg, "quantity": qty, "unit": unit}

    def event(self, event_type: str, at: str, hours: float, **fields: Any) -> dict[str, Any]:
        return {
            "schema": "foodtrace/chain-event/v1",
            "message_id": str(uuid.uuid4()),
            "actor_id": at,
            "event_type": event_type,
            "event_time": self.at(hours),
            "location_id": at,
            "reference_document": self._doc(),
            **fields,
        }

    def harvesting(self, lot: str, qty: float = 1000, hours: float = 0) -> dict[str, Any]:
        return self.event(
            "harvesting",
            self.farm,
            hours,
            lots=[self.line(lot, qty)],
            tlc_source_location_id=self.farm,
            kdes={
                "harvest_date": self.at(hours)[:10],
                "immediate_subsequent_recipient_location_id": self.packer,
                "field_id": f"{self.farm}-field-1",
            },
        )

    def harvesting_fish(self, lot: str, qty: float = 500, hours: float = 0) -> dict[str, Any]:
        return self.event(
            "harvesting",
            self.pond,
            hours,
            lots=[self.line(lot, qty, self.fish)],
            tlc_source_location_id=self.pond,
            kdes={
                "harvest_date": self.at(hours)[:10],
                "immediate_subsequent_recipient_location_id": self.market,
                "container_id": f"{self.pond}-pond-1",
            },
        )

    def cooling(self, lot: str, qty: float = 1000, hours: float = 0.5) -> dict[str, Any]:
        return self.event(
            "cooling",
            self.farm,
            hours,
            lots=[self.line(lot, qty)],
            kdes={
                "cooling_date": self.at(hours)[:10],
                "harvest_location_id": self.farm,
                "immediate_subsequent_recipient_location_id": self.packer,
            },
        )

    def shipping(
        self, lot: str, src: str, dst: str, qty: float, hours: float, product: str | None = None
    ) -> dict[str, Any]:
        return self.event(
            "shipping",
            src,
            hours,
            lots=[self.line(lot, qty, product)],
            destination_location_id=dst,
            tlc_source_location_id=self.farm,
            kdes={"ship_date": self.at(hours)[:10]},
        )

    def receiving(
        self, lot: str, src: str, dst: str, qty: float, hours: float, product: str | None = None
    ) -> dict[str, Any]:
        return self.event(
            "receiving",
            dst,
            hours,
            lots=[self.line(lot, qty, product)],
            source_location_id=src,
            tlc_source_location_id=self.farm,
            kdes={"receive_date": self.at(hours)[:10]},
        )

    def initial_packing(self, lot: str, qty: float = 950, hours: float = 3) -> dict[str, Any]:
        return self.event(
            "initial_packing",
            self.packer,
            hours,
            lots=[self.line(lot, qty)],
            tlc_source_location_id=self.farm,
            kdes={
                "harvest_location_id": self.farm,
                "harvest_date": self.at(0)[:10],
                "pack_date": self.at(hours)[:10],
            },
        )

    def first_receiving(self, lot: str, qty: float = 300, hours: float = 1) -> dict[str, Any]:
        return self.event(
            "first_receiving",
            self.market,
            hours,
            lots=[self.line(lot, qty, self.fish)],
            tlc_source_location_id=self.market,
            kdes={
                "landing_date": self.at(hours)[:10],
                "harvest_date_range": [self.at(-24)[:10], self.at(0)[:10]],
                "harvest_area": "Pearl River Estuary",
            },
        )

    def transformation(
        self, inputs: list[tuple[str, float]], outputs: list[tuple[str, float]], hours: float = 6
    ) -> dict[str, Any]:
        return self.event(
            "transformation",
            self.plant,
            hours,
            inputs=[self.line(lot, q) for lot, q in inputs],
            outputs=[self.line(lot, q, self.mix) for lot, q in outputs],
            tlc_source_location_id=self.plant,
            kdes={"completion_date": self.at(hours)[:10]},
        )

    def sale(self, lot: str, qty: float, hours: float, product: str | None = None):
        return self.event(
            "sale",
            self.shop,
            hours,
            lots=[self.line(lot, qty, product)],
            kdes={"sale_date": self.at(hours)[:10]},
        )

    # ---- lab results ---------------------------------------------------------------
    def lab_result(self, lot: str, hours: float = 10, **over: Any) -> dict[str, Any]:
        payload = {
            "schema": "foodtrace/lab-result/v1",
            "message_id": str(uuid.uuid4()),
            "lab_id": f"{self.p}-lab",
            "sample_id": f"{self.p}-S-{uuid.uuid4().hex[:6]}",
            "lot_code": lot,
            "sampled_at": self.at(hours),
            "sampled_location_id": self.market,
            "tested_at": self.at(hours + 0.5),
            "test_kind": "rapid",
            "method": "GB/T 5009.199 enzyme inhibition",
            "analyte": "organophosphates_carbamates",
            "value": 20.5,
            "unit": "%",
            "result": "negative",
        }
        payload.update(over)
        return {k: v for k, v in payload.items() if v is not _DROP}

    def good_chain(self) -> list[dict[str, Any]]:
        """One valid event of every type, in a consistent lot model."""
        l1, l2, l3, l4 = self.lot("L1"), self.lot("L2"), self.lot("L3"), self.lot("L4")
        return [
            self.harvesting(l1, 1000, 0),
            self.cooling(l1, 1000, 0.5),
            self.shipping(l1, self.farm, self.packer, 1000, 1),
            self.receiving(l1, self.farm, self.packer, 1000, 2),
            self.initial_packing(l1, 950, 3),
            self.shipping(l1, self.packer, self.plant, 900, 4),
            self.receiving(l1, self.packer, self.plant, 900, 5),
            self.transformation([(l1, 900)], [(l2, 800)], 6),
            self.shipping(l2, self.plant, self.shop, 700, 7, self.mix),
            self.receiving(l2, self.plant, self.shop, 700, 8, self.mix),
            self.sale(l2, 100, 9, self.mix),
            self.harvesting_fish(l3, 500, 0),
            self.first_receiving(l4, 300, 1),
        ]


_DROP = object()  # lab_result(..., field=_DROP) leaves the field out
DROP = _DROP


def without(payload: dict[str, Any], *paths: str) -> dict[str, Any]:
    """A copy with the dotted paths removed (e.g. 'kdes.field_id', 'lots.0.lot_code')."""
    out = copy.deepcopy(payload)
    out["message_id"] = str(uuid.uuid4())
    for path in paths:
        node: Any = out
        *parents, last = path.split(".")
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.get(part)
            if node is None:
                break
        else:
            if isinstance(node, list):
                node.pop(int(last))
            else:
                node.pop(last, None)
    return out


def with_(payload: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy with new top-level values (and a new message_id)."""
    out = copy.deepcopy(payload)
    out.update(changes)
    out["message_id"] = str(uuid.uuid4())
    return out
