"""The scorecard SQL (0009) on seeded events and findings, run as foodtrace_reader:
exact figures per sender, event type, category and Shanghai day, and the top gaps."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest
from psycopg.rows import dict_row
from scorecard_seed import FIELD, TLC, A, B, C, Seeded

from foodtrace.validate.scorecard import Window, fetch


def _rows(conn: psycopg.Connection, sql: str, params: tuple) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(sql, params).fetchall()
    conn.rollback()
    return rows


def _completeness(conn, seeded: Seeded, sender: str | None = None) -> dict[str, list[tuple]]:
    rows = _rows(
        conn,
        "SELECT * FROM reporting.kde_completeness(%s, %s, %s)",
        (seeded.start, seeded.end, sender),
    )
    out: dict[str, list[tuple]] = {}
    for r in rows:  # in the function's order: worst first within a dimension
        out.setdefault(r["dimension"], []).append(
            (r["key"], r["events"], r["complete_events"], r["completeness"], r["kde_gaps"])
        )
    return out


def test_completeness_per_sender_type_category_and_total(
    reader: psycopg.Connection, scorecard_db: tuple[str, Seeded]
) -> None:
    got = _completeness(reader, scorecard_db[1])
    assert got["sender"] == [
        (B, 2, 0, Decimal("0.0000"), 3),
        (A, 4, 3, Decimal("0.7500"), 2),
        (C, 2, 2, Decimal("1.0000"), 0),  # its mass-balance finding is not a KDE gap
    ]
    assert got["event_type"] == [
        ("receiving", 2, 0, Decimal("0"), 3),
        ("harvesting", 2, 1, Decimal("0.5"), 2),
        ("sale", 2, 2, Decimal("1"), 0),  # equal shares: more events first
        ("shipping", 1, 1, Decimal("1"), 0),
        ("transformation", 1, 1, Decimal("1"), 0),
    ]
    # The transformation counts as leafy_vegetables (its first input), not as its
    # output's vegetable_products; the sales' product has no master data.
    assert got["category"] == [
        ("aquatic_products", 2, 0, Decimal("0"), 3),
        ("leafy_vegetables", 4, 3, Decimal("0.75"), 2),
        ("unknown", 2, 2, Decimal("1"), 0),
    ]
    assert got["total"] == [("all", 8, 5, Decimal("0.625"), 5)]


def test_days_are_shanghai_days(
    reader: psycopg.Connection, scorecard_db: tuple[str, Seeded]
) -> None:
    seeded = scorecard_db[1]
    rows = _rows(
        reader,
        "SELECT * FROM reporting.kde_completeness_by_day(%s, %s)",
        (seeded.start, seeded.end),
    )
    # packer-b's 00:30 receiving on day2 is 16:30 UTC on day1: it belongs to day2.
    assert [
        (r["day"], r["events"], r["complete_events"], r["completeness"], r["kde_gaps"])
        for r in rows
    ] == [
        (seeded.day1, 4, 2, Decimal("0.5"), 3),
        (seeded.day2, 4, 3, Decimal("0.75"), 2),
    ]
    assert [r["day_start"] for r in rows] == [seeded.start, seeded.start + timedelta(days=1)]


def test_top_gaps_per_sender_with_cfr_sections(
    reader: psycopg.Connection, scorecard_db: tuple[str, Seeded]
) -> None:
    seeded = scorecard_db[1]
    rows = _rows(
        reader,
        "SELECT * FROM reporting.kde_top_gaps(%s, %s, NULL, 5)",
        (seeded.start, seeded.end),
    )
    got = [
        (
            r["sender_id"],
            r["rank"],
            r["rule"],
            r["event_type"],
            r["cfr_section"],
            r["gaps"],
            r["derived"],
        )
        for r in rows
    ]
    assert got == [
        (A, 1, FIELD[0], "harvesting", FIELD[1], 1, 0),  # a tie: by rule name
        (A, 2, "kde.harvesting.next_recipient", "harvesting", "21 CFR 1.1325(a)(1)(i)", 1, 0),
        # the derived gap still counts: the sender did not send it
        (B, 1, TLC[0], "receiving", TLC[1], 2, 1),
        (B, 2, "kde.receiving.reference_document", "receiving", "21 CFR 1.1345(a)(8)", 1, 0),
    ]
    assert rows[2]["message"] == TLC[2]
    one = _rows(
        reader,
        "SELECT sender_id, rule FROM reporting.kde_top_gaps(%s, %s, %s, 1)",
        (seeded.start, seeded.end, B),
    )
    assert one == [{"sender_id": B, "rule": TLC[0]}]


def test_sender_filter_and_window(
    reader: psycopg.Connection, scorecard_db: tuple[str, Seeded]
) -> None:
    seeded = scorecard_db[1]
    only_a = _completeness(reader, seeded, A)
    assert only_a["sender"] == [(A, 4, 3, Decimal("0.75"), 2)]
    assert only_a["total"] == [("all", 4, 3, Decimal("0.75"), 2)]
    assert {k for k, *_ in only_a["event_type"]} == {"harvesting", "shipping", "transformation"}
    # Forty days more: farm-a's old harvest, which lacks the field, comes in.
    longer = _rows(
        reader,
        "SELECT key, events, complete_events, completeness FROM"
        " reporting.kde_completeness(%s, %s, %s) WHERE dimension = 'sender'",
        (seeded.start - timedelta(days=40), seeded.end, A),
    )
    assert longer == [{"key": A, "events": 5, "complete_events": 3, "completeness": Decimal("0.6")}]
    # Half-open: a window ending at day2's midnight leaves day2 out.
    day1 = _completeness(reader, Seeded(seeded.day1, seeded.day1))
    assert day1["total"] == [("all", 4, 2, Decimal("0.5"), 3)]


def test_an_empty_window_has_no_rows(
    reader: psycopg.Connection, scorecard_db: tuple[str, Seeded]
) -> None:
    seeded = scorecard_db[1]
    later = (seeded.end + timedelta(days=5), seeded.end + timedelta(days=6))
    for fn in ("kde_completeness", "kde_completeness_by_day", "kde_top_gaps"):
        assert _rows(reader, f"SELECT * FROM reporting.{fn}(%s, %s)", later) == [], fn


@pytest.mark.parametrize(
    ("fn", "sender"), [("kde_completeness", None), ("kde_completeness", A), ("kde_top_gaps", None)]
)
def test_functions_are_inlined_and_use_an_index(
    scorecard_db: tuple[str, Seeded], fn: str, sender: str | None
) -> None:
    """Inlined: the bounds and sender reach core.events' indexes (and, on TimescaleDB,
    its chunk exclusion) instead of a function scan over every event."""
    seeded = scorecard_db[1]
    with psycopg.connect(scorecard_db[0]) as conn:
        conn.execute("SET enable_seqscan = off")  # a tiny table: ask whether an index can serve
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                f"EXPLAIN SELECT * FROM reporting.{fn}(%s::timestamptz, %s::timestamptz, %s::text)",
                (seeded.start, seeded.end, sender),
            )
        )
    assert "Function Scan" not in plan
    assert "Index Scan using events_" in plan or "Index Only Scan using events_" in plan, plan
    # `p_sender IS NULL OR actor_id = p_sender` folded at plan time, either way
    assert ("actor_id = 'farm-a'" in plan) == (sender == A), plan
    assert "IS NULL" not in plan, plan


def test_fetch_shapes_one_snapshot(
    reader: psycopg.Connection, scorecard_db: tuple[str, Seeded]
) -> None:
    seeded = scorecard_db[1]
    card = fetch(reader, Window(seeded.start, seeded.end, 2), top=1)
    assert [(c.key, c.completeness) for c in card.by_sender] == [(B, 0.0), (A, 0.75), (C, 1.0)]
    assert card.total is not None and (card.total.events, card.total.completeness) == (8, 0.625)
    assert {s: [g.rule for g in gaps] for s, gaps in card.top_gaps.items()} == {
        A: [FIELD[0]],
        B: [TLC[0]],
    }
    assert [d.key for d in card.by_day] == [seeded.day1.isoformat(), seeded.day2.isoformat()]
