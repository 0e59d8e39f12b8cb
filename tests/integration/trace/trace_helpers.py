"""Build chain events straight into core.* (as promotion would) for trace tests.

Every lot and location name gets the builder's prefix, so tests sharing the
session database never see each other's graph.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg

# A lot on an event: (name, quantity, unit); unit defaults to kg.
LotSpec = tuple[str, float] | tuple[str, float, str]

_CREATES = {"harvesting", "first_receiving"}
_T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


class ChainBuilder:
    def __init__(self, conn: psycopg.Connection, prefix: str | None = None) -> None:
        self.conn = conn
        self.prefix = prefix or f"T{uuid.uuid4().hex[:8]}"
        self._tick = 0

    def lot(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def loc(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def location(
        self,
        name: str,
        city: str = "guangzhou",
        kind: str = "distributor",
        lat: float | None = 23.1,
        lon: float | None = 113.3,
    ) -> str:
        code = self.loc(name)
        self.conn.execute(
            "INSERT INTO core.locations (location_id, name, kind, city, lat, lon) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (code, f"{name} ({city})", kind, city, lat, lon),
        )
        return code

    def _next_time(self) -> datetime:
        self._tick += 1
        return _T0 + timedelta(minutes=self._tick)

    def _lots(self, specs: Sequence[LotSpec]) -> list[tuple[str, Decimal, str]]:
        out = []
        for spec in specs:
            name, qty, *rest = spec
            out.append((self.lot(name), Decimal(str(qty)), rest[0] if rest else "kg"))
        return out

    def event(
        self,
        event_type: str,
        at: str,
        lots: Sequence[LotSpec] = (),
        *,
        inputs: Sequence[LotSpec] = (),
        outputs: Sequence[LotSpec] = (),
        to: str | None = None,
        source: str | None = None,
        product: str = "spinach",
        commit: bool = True,
        message_id: uuid.UUID | None = None,
    ) -> uuid.UUID:
        """Insert one promoted chain event; `at`, `to`, `source` are location names."""
        message_id = message_id or uuid.uuid4()
        when = self._next_time()
        location = self.loc(at)
        created = (self._lots(lots) if event_type in _CREATES else []) + self._lots(outputs)
        self.conn.execute(
            "INSERT INTO core.events (message_id, event_time, actor_id, event_type, location_id, "
            " source_location_id, destination_location_id, tlc_source_location_id, "
            " reference_document_type, reference_document_number) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'BOL', %s)",
            (
                message_id,
                when,
                "actor",
                event_type,
                location,
                self.loc(source) if source else None,
                self.loc(to) if to else None,
                location if created else None,
                f"DOC-{self._tick}",
            ),
        )
        rows = [("lot", s) for s in self._lots(lots)]
        rows += [("input", s) for s in self._lots(inputs)]
        rows += [("output", s) for s in self._lots(outputs)]
        for position, (role, (code, qty, unit)) in enumerate(rows):
            self.conn.execute(
                "INSERT INTO core.event_lots (message_id, event_time, role, position, lot_code, "
                " product_code, quantity, unit) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (message_id, when, role, position, code, product, qty, unit),
            )
            self._ensure_lot(code, product, created, location, message_id, when)
        if commit:
            self.conn.commit()
        return message_id

    def _ensure_lot(self, code, product, created, location, message_id, when) -> None:
        made = next(((q, u) for c, q, u in created if c == code), None)
        if made:
            self.conn.execute(
                "INSERT INTO core.lots (lot_code, product_code, tlc_source_location_id, "
                " created_by_message_id, created_at, quantity, unit) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (lot_code) DO NOTHING",
                (code, product, location, message_id, when, made[0], made[1]),
            )
        else:
            self.conn.execute(
                "INSERT INTO core.lots (lot_code, product_code) VALUES (%s, %s) "
                "ON CONFLICT (lot_code) DO NOTHING",
                (code, product),
            )

    def harvest(self, name: str, qty: float, at: str) -> uuid.UUID:
        return self.event("harvesting", at, [(name, qty)])

    def transform(
        self, at: str, inputs: Sequence[LotSpec], outputs: Sequence[LotSpec]
    ) -> uuid.UUID:
        return self.event("transformation", at, inputs=inputs, outputs=outputs)

    def lab_result(self, lot: str, at: str, result: str = "positive") -> uuid.UUID:
        message_id = uuid.uuid4()
        when = self._next_time()
        self.conn.execute(
            "INSERT INTO core.lab_results (message_id, tested_at, lab_id, sample_id, lot_code, "
            " sampled_at, sampled_location_id, test_kind, method, analyte, result) "
            "VALUES (%s, %s, 'lab-gz-01', %s, %s, %s, %s, 'rapid', 'colloidal gold strip', "
            " 'clenbuterol', %s)",
            (
                message_id,
                when,
                f"S-{message_id.hex[:8]}",
                self.lot(lot),
                when - timedelta(hours=1),
                self.loc(at),
                result,
            ),
        )
        self.conn.commit()
        return message_id
