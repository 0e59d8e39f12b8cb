"""Chain events and their KDE findings with known scorecard figures, written the way
validation leaves them (core.events, core.event_lots, core.products, core.findings).

Two Asia/Shanghai days, day1 and day2 = day1 + 1:
  farm-a    4 events, 3 complete (0.75): a harvest lacks two KDEs (field, next
            recipient); a transformation whose first input is spinach
  packer-b  2 receivings of tilapia, 0 complete (0.0): both lack the TLC source (one
            later derived by the lot graph), one also the reference document
  retail-c  2 sales of a product with no master data (category unknown), both
            complete (1.0) though one has a mass-balance finding (not a KDE)
  + a farm-a harvest 40 days before day1 with a gap, outside every window used.
packer-b's second receiving is at 00:30 on day2 in Shanghai, 16:30 UTC on day1: a
UTC day would put it on day1. farm-a's gappy harvest is at 23:30 on day1.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg

SHANGHAI = ZoneInfo("Asia/Shanghai")
A, B, C = "farm-a", "packer-b", "retail-c"
PRODUCTS = [
    ("sc-spinach", "Spinach", "leafy_vegetables"),
    ("sc-tilapia", "Tilapia", "aquatic_products"),
    ("sc-pickled", "Pickled greens", "vegetable_products"),
]
UNKNOWN_PRODUCT = "sc-mystery"  # no core.products row

# Gap rules: (rule, CFR section, message)
FIELD = (
    "kde.harvesting.field_kde",
    "21 CFR 1.1325(a)(1)(v)",
    "harvesting event lacks the field or growing area (produce) (21 CFR 1.1325(a)(1)(v))",
)
NEXT = (
    "kde.harvesting.next_recipient",
    "21 CFR 1.1325(a)(1)(i)",
    "harvesting event lacks the immediate subsequent recipient (21 CFR 1.1325(a)(1)(i))",
)
TLC = (
    "kde.receiving.tlc_source",
    "21 CFR 1.1345(a)(7)",
    "receiving event lacks TLC source (21 CFR 1.1345(a)(7))",
)
REFDOC = (
    "kde.receiving.reference_document",
    "21 CFR 1.1345(a)(8)",
    "receiving event lacks a reference document type and number (21 CFR 1.1345(a)(8))",
)


@dataclass(frozen=True)
class Seeded:
    day1: date
    day2: date

    @property
    def start(self) -> datetime:
        """day1's midnight in Shanghai."""
        return datetime.combine(self.day1, time(), SHANGHAI)

    @property
    def end(self) -> datetime:
        """The midnight after day2 in Shanghai."""
        return datetime.combine(self.day2 + timedelta(days=1), time(), SHANGHAI)


def seed(conn: psycopg.Connection, day1: date) -> Seeded:
    day2 = day1 + timedelta(days=1)

    def at(day: date, hh: int, mm: int = 0) -> datetime:
        return datetime.combine(day, time(hh, mm), SHANGHAI)

    for code, name, category in PRODUCTS:
        conn.execute(
            "INSERT INTO core.products (product_code, name, category) VALUES (%s, %s, %s)",
            (code, name, category),
        )
    spinach, tilapia, pickled = (p[0] for p in PRODUCTS)
    _event(conn, A, "harvesting", at(day1, 8), [("lot", spinach)])
    gappy = _event(conn, A, "harvesting", at(day1, 23, 30), [("lot", spinach)])
    _gap(conn, gappy, FIELD)
    _gap(conn, gappy, NEXT)
    _event(conn, A, "shipping", at(day1, 10), [("lot", spinach)])
    # Lines inserted output first: the first line is still the lowest role (input).
    _event(conn, A, "transformation", at(day2, 9), [("output", pickled), ("input", spinach)])

    first = _event(conn, B, "receiving", at(day1, 12), [("lot", tilapia)])
    _gap(conn, first, TLC, derived="loc-farm-b")
    second = _event(conn, B, "receiving", at(day2, 0, 30), [("lot", tilapia)])
    _gap(conn, second, TLC)
    _gap(conn, second, REFDOC)

    sale = _event(conn, C, "sale", at(day2, 10), [("lot", UNKNOWN_PRODUCT)])
    _finding(
        conn,
        sale,
        "mass_balance.shipped_not_more_than_held",
        "mass_balance",
        None,
        "lot ships more than it had",
    )
    _event(conn, C, "sale", at(day2, 11), [("lot", UNKNOWN_PRODUCT)])

    old = _event(conn, A, "harvesting", at(day1 - timedelta(days=40), 9), [("lot", spinach)])
    _gap(conn, old, FIELD)
    conn.commit()
    return Seeded(day1, day2)


Event = tuple[uuid.UUID, datetime, str, str]


def _event(
    conn: psycopg.Connection, sender: str, kind: str, when: datetime, lines: list[tuple[str, str]]
) -> Event:
    mid = uuid.uuid4()
    conn.execute(
        "INSERT INTO core.events (message_id, event_time, actor_id, event_type, location_id,"
        " reference_document_type, reference_document_number) VALUES (%s, %s, %s, %s, %s,"
        " 'BOL', %s)",
        (mid, when, sender, kind, f"loc-{sender}", f"DOC-{mid.hex[:6]}"),
    )
    positions: dict[str, int] = {}
    for role, product in lines:
        position = positions.setdefault(role, 0)
        positions[role] += 1
        conn.execute(
            "INSERT INTO core.event_lots (message_id, event_time, role, position, lot_code,"
            " product_code, quantity, unit) VALUES (%s, %s, %s, %s, %s, %s, %s, 'kg')",
            (mid, when, role, position, f"LOT-{mid.hex[:8]}-{role}", product, Decimal(10)),
        )
    return mid, when, sender, kind


def _gap(
    conn: psycopg.Connection, event: Event, rule: tuple[str, str, str], derived: str | None = None
) -> None:
    name, cfr, message = rule
    _finding(conn, event, name, "kde_missing", cfr, message, derived)


def _finding(
    conn: psycopg.Connection,
    event: Event,
    rule: str,
    code: str,
    cfr: str | None,
    message: str,
    derived: str | None = None,
) -> None:
    mid, when, sender, kind = event
    conn.execute(
        "INSERT INTO core.findings (kind, message_id, sender_id, event_type, event_time, rule,"
        " code, severity, cfr_section, message, path, resolved_at, resolution, resolved_value)"
        " VALUES ('chain_event', %s, %s, %s, %s, %s, %s, 'warning', %s, %s, %s, %s, %s, %s)",
        (
            mid,
            sender,
            kind,
            when,
            rule,
            code,
            cfr,
            message,
            rule.rsplit(".", 1)[-1],
            datetime.now(SHANGHAI) if derived else None,
            "derived" if derived else None,
            derived,
        ),
    )
