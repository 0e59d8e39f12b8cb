"""Promoted rows straight into core.* (as validation would) for the alerts tests,
and a small known supply chain:

    farm (zhaoqing) --harvest A 500 kg--> ships A 300 -> market (guangzhou)
                                          ships A 200 -> plant (foshan)
    farm2 (huizhou) --harvest B 400 kg--> ships B 100 -> plant (foshan)
    plant: transformation A 150 + B 100 -> X 220 (fresh-cut)
           ships X 100 -> shop (shenzhen), which sells 5
    other farm (jiangmen): harvest C 80 kg, ships C 80 -> market (guangzhou)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from foodtrace.db import connect
from foodtrace.trace.link import link

T0 = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)  # 06:00 on the 28th in Guangzhou


@dataclass
class Chain:
    conn: psycopg.Connection
    prefix: str = field(default_factory=lambda: f"A{uuid.uuid4().hex[:6]}")
    tick: int = 0

    def code(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def at(self, minutes: int) -> datetime:
        return T0 + timedelta(minutes=minutes)

    def location(self, name: str, city: str, kind: str, lat: float | None, lon: float | None):
        self.conn.execute(
            "INSERT INTO core.locations (location_id, name, kind, city, lat, lon) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (self.code(name), f"{name.title()} Co.", kind, city, lat, lon),
        )

    def product(self, name: str, category: str) -> str:
        code = self.code(name)
        self.conn.execute(
            "INSERT INTO core.products (product_code, name, category) VALUES (%s, %s, %s)",
            (code, name.replace("_", " "), category),
        )
        return code

    def event(
        self,
        event_type: str,
        at: str,
        when: datetime,
        lots: list[tuple[str, float, str]] = (),
        *,
        inputs: list[tuple[str, float, str]] = (),
        outputs: list[tuple[str, float, str]] = (),
        to: str | None = None,
        source: str | None = None,
        tlc_source: str | None = None,
        doc: tuple[str, str] = ("BOL", "0"),
        kdes: dict | None = None,
    ) -> uuid.UUID:
        """lots/inputs/outputs: (lot name, quantity kg, product code)."""
        mid = uuid.uuid4()
        creates = event_type in ("harvesting", "first_receiving")
        self.conn.execute(
            "INSERT INTO core.events (message_id, event_time, actor_id, event_type, location_id,"
            " source_location_id, destination_location_id, tlc_source_location_id,"
            " reference_document_type, reference_document_number, kdes)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                mid,
                when,
                self.code(at),
                event_type,
                self.code(at),
                self.code(source) if source else None,
                self.code(to) if to else None,
                self.code(tlc_source) if tlc_source else None,
                doc[0],
                doc[1],
                psycopg.types.json.Jsonb(kdes or {}),
            ),
        )
        rows = (
            [("lot", x) for x in lots]
            + [("input", x) for x in inputs]
            + [("output", x) for x in outputs]
        )
        for pos, (role, (name, qty, product)) in enumerate(rows):
            self.conn.execute(
                "INSERT INTO core.event_lots (message_id, event_time, role, position, lot_code,"
                " product_code, quantity, unit) VALUES (%s, %s, %s, %s, %s, %s, %s, 'kg')",
                (mid, when, role, pos, self.code(name), product, Decimal(str(qty))),
            )
            made = (creates and role == "lot") or role == "output"
            self.conn.execute(
                "INSERT INTO core.lots (lot_code, product_code, tlc_source_location_id,"
                " created_by_message_id, created_at, quantity, unit)"
                " VALUES (%s, %s, %s, %s, %s, %s, 'kg') ON CONFLICT (lot_code) DO NOTHING",
                (
                    self.code(name),
                    product,
                    self.code(at) if made else None,
                    mid if made else None,
                    when if made else None,
                    Decimal(str(qty)) if made else None,
                ),
            )
        return mid

    def lab_result(
        self,
        lot: str,
        *,
        kind: str,
        analyte: str,
        minutes: int,
        value: float | None = None,
        unit: str | None = None,
        result: str | None = None,
        method: str | None = None,
        at: str = "market",
        lab: str = "lab-gz-01",
    ) -> uuid.UUID:
        mid = uuid.uuid4()
        tested = self.at(minutes)
        mg = None
        if value is not None and unit in ("mg/kg", "ug/kg"):
            mg = Decimal(str(value)) / (1000 if unit == "ug/kg" else 1)
        self.conn.execute(
            "INSERT INTO core.lab_results (message_id, tested_at, lab_id, sample_id, lot_code,"
            " sampled_at, sampled_location_id, test_kind, method, analyte, value, unit,"
            " value_mg_per_kg, result)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                mid,
                tested,
                lab,
                f"S-{mid.hex[:8]}",
                self.code(lot),
                tested - timedelta(minutes=30),
                self.code(at),
                kind,
                method or ("GB/T 5009.199 enzyme inhibition" if kind == "rapid" else "LC-MS/MS"),
                analyte,
                None if value is None else Decimal(str(value)),
                unit,
                mg,
                result,
            ),
        )
        self.conn.commit()
        return mid


def build_chain(conn: psycopg.Connection) -> Chain:
    """The known supply chain of the module docstring, promoted and linked."""
    c = Chain(conn)
    c.location("farm", "zhaoqing", "farm", 23.05, 112.47)
    c.location("farm2", "huizhou", "farm", 23.11, 114.41)
    c.location("farm3", "jiangmen", "farm", 22.58, 113.08)
    c.location("market", "guangzhou", "wholesale_market", 23.13, 113.26)
    c.location("plant", "foshan", "processor", 23.02, 113.12)
    c.location("shop", "shenzhen", "retailer", 22.54, 114.06)
    veg = c.product("choy_sum", "brassica_vegetables")
    cut = c.product("fresh_cut", "vegetable_products")
    c.event(
        "harvesting",
        "farm",
        c.at(0),
        [("A", 500, veg)],
        tlc_source="farm",
        doc=("PO", "PO-1"),
        kdes={"immediate_subsequent_recipient_location_id": c.code("market")},
    )
    c.event(
        "harvesting", "farm2", c.at(1), [("B", 400, veg)], tlc_source="farm2", doc=("PO", "PO-2")
    )
    c.event(
        "harvesting", "farm3", c.at(2), [("C", 80, veg)], tlc_source="farm3", doc=("PO", "PO-3")
    )
    c.event(
        "shipping",
        "farm",
        c.at(10),
        [("A", 300, veg)],
        to="market",
        tlc_source="farm",
        doc=("BOL", "BOL-1"),
    )
    c.event(
        "receiving",
        "market",
        c.at(70),
        [("A", 300, veg)],
        source="farm",
        tlc_source="farm",
        doc=("BOL", "BOL-1"),
    )
    c.event(
        "shipping",
        "farm",
        c.at(11),
        [("A", 200, veg)],
        to="plant",
        tlc_source="farm",
        doc=("BOL", "BOL-2"),
    )
    c.event(
        "receiving",
        "plant",
        c.at(80),
        [("A", 200, veg)],
        source="farm",
        tlc_source="farm",
        doc=("BOL", "BOL-2"),
    )
    c.event(
        "shipping",
        "farm2",
        c.at(12),
        [("B", 100, veg)],
        to="plant",
        tlc_source="farm2",
        doc=("BOL", "BOL-3"),
    )
    c.event(
        "receiving",
        "plant",
        c.at(81),
        [("B", 100, veg)],
        source="farm2",
        tlc_source="farm2",
        doc=("BOL", "BOL-3"),
    )
    c.event(
        "transformation",
        "plant",
        c.at(120),
        inputs=[("A", 150, veg), ("B", 100, veg)],
        outputs=[("X", 220, cut)],
        tlc_source="plant",
        doc=("WO", "WO-1"),
    )
    c.event(
        "shipping",
        "plant",
        c.at(180),
        [("X", 100, cut)],
        to="shop",
        tlc_source="plant",
        doc=("BOL", "BOL-4"),
    )
    c.event(
        "receiving",
        "shop",
        c.at(240),
        [("X", 100, cut)],
        source="plant",
        tlc_source="plant",
        doc=("BOL", "BOL-4"),
    )
    c.event("sale", "shop", c.at(300), [("X", 5, cut)], doc=("RCPT", "R-1"))
    c.event(
        "shipping",
        "farm3",
        c.at(13),
        [("C", 80, veg)],
        to="market",
        tlc_source="farm3",
        doc=("BOL", "BOL-5"),
    )
    c.event(
        "receiving",
        "market",
        c.at(75),
        [("C", 80, veg)],
        source="farm3",
        tlc_source="farm3",
        doc=("BOL", "BOL-5"),
    )
    conn.commit()
    link(conn)
    conn.commit()
    return c


def run_pipeline(conn: psycopg.Connection) -> list:
    """Steps 2 and 3 as the pipeline runs them: link, then evaluate."""
    from foodtrace.alerts.engine import evaluate

    link(conn)
    conn.commit()
    return evaluate(conn)


def snapshot(conn: psycopg.Connection) -> tuple:
    """Everything evaluate() writes, to compare before and after a re-run."""
    conn.commit()
    out = tuple(
        conn.execute(sql).fetchall()
        for sql in (
            "SELECT alert_id, status, severity, version, payload FROM core.alerts ORDER BY 1",
            "SELECT alert_id, version, action, to_status FROM core.alert_history ORDER BY 1, 2, 3",
            "SELECT message_id, verdict, action FROM core.alert_evaluations ORDER BY 1",
            "SELECT alert_id, version, city, msg_type FROM core.alert_outbox ORDER BY 1, 2, 3",
        )
    )
    conn.commit()
    return out


# Fixtures for every test folder that builds on this chain (alerts, withdrawals,
# report): a conftest imports them by name.
@pytest.fixture
def aconn(fresh_db_url: str) -> Iterator[psycopg.Connection]:
    with connect(fresh_db_url) as c:
        yield c


@pytest.fixture
def chain(aconn: psycopg.Connection) -> Chain:
    return build_chain(aconn)
