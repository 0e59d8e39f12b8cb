"""The KDE completeness scorecard (0009) on TimescaleDB: the same figures from
hypertable chunks, Asia/Shanghai days included (PGlite, see test_timescale_schema)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

# The PGlite server fixture, and the scorecard's seed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration" / "scorecard"))
from scorecard_seed import TLC, B, Seeded, seed
from test_timescale_schema import timescale_url  # noqa: F401

from foodtrace.db import migrate
from foodtrace.validate.scorecard import Window, fetch


@pytest.fixture(scope="module")
def seeded(timescale_url: str) -> Iterator[tuple[psycopg.Connection, Seeded]]:  # noqa: F811
    with psycopg.connect(timescale_url, connect_timeout=30) as conn:
        migrate(conn)
        yield conn, seed(conn, date(2025, 6, 1))


def test_scorecard_figures_on_hypertables(seeded) -> None:
    conn, s = seeded
    chunks = conn.execute(
        "SELECT count(*) FROM timescaledb_information.chunks"
        " WHERE hypertable_schema = 'core' AND hypertable_name = 'events'"
    ).fetchone()[0]
    conn.rollback()
    assert chunks >= 2  # the old harvest is 40 days earlier: another 30-day chunk
    # 0009's event_time index is TimescaleDB's own, not a second copy of it
    on_time = conn.execute(
        "SELECT count(*) FROM pg_indexes WHERE schemaname = 'core' AND tablename = 'events'"
        " AND indexdef LIKE '%%(event_time DESC)'"
    ).fetchone()[0]
    conn.rollback()
    assert on_time == 1
    card = fetch(conn, Window(s.start, s.end, 2))
    assert card.total is not None
    assert (card.total.events, card.total.complete_events, card.total.completeness) == (8, 5, 0.625)
    assert [(c.key, c.completeness) for c in card.by_day] == [
        ("2025-06-01", 0.5),
        ("2025-06-02", 0.75),
    ]
    assert card.by_sender[0].key == B and card.top_gaps[B][0].rule == TLC[0]
    assert card.top_gaps[B][0].cfr_section == TLC[1]
    share = conn.execute(
        "SELECT completeness FROM reporting.kde_completeness(%s, %s)"
        " WHERE dimension = 'category' AND key = 'unknown'",
        (s.start, s.end),
    ).fetchone()[0]
    conn.rollback()
    assert share == Decimal("1")
