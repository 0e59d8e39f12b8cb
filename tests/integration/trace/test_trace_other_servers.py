"""The lot graph and trace functions on the other servers foodtrace runs on:
the embedded PostgreSQL 18 (`foodtrace demo`) and, when FOODTRACE_TEST_TIMESCALE_URL
points at one, a TimescaleDB server (e.g. PGlite 0.3.14 + timescaledb over
pglite-socket; hypertables get row-level link triggers there)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from trace_helpers import ChainBuilder

from foodtrace.db import connect, migrate
from foodtrace.trace.api import affected_and_sources, trace
from foodtrace.trace.link import link


def run_scenario(url: str) -> str:
    """Migrate, link a small graph with a merge, a split and a cycle, check the
    answers; return the version string of the server."""
    with connect(url) as conn:
        migrate(conn)
        c = ChainBuilder(conn)
        L, P = c.lot, c.loc
        c.harvest("a", 10, "farm")
        c.harvest("b", 5, "farm")
        c.event("shipping", "farm", [("a", 10)], to="plant")
        c.transform("plant", inputs=[("a", 10), ("b", 5)], outputs=[("m", 14)])
        c.transform("plant", inputs=[("m", 14)], outputs=[("n", 13)])
        c.transform("plant", inputs=[("n", 1)], outputs=[("a", 1)])  # bad data: a cycle
        c.lab_result("n", "shop")
        first = link(conn)
        assert (first.events, first.lab_results, first.edges) == (6, 1, 4)
        assert link(conn).events == 0

        down = conn.execute(
            "SELECT lot_code, depth, parent_lot, quantity, depth_capped "
            "FROM core.trace_downstream(%s)",
            (L("b"),),
        ).fetchall()
        assert down == [
            (L("b"), 0, None, Decimal(5), False),
            (L("m"), 1, L("b"), Decimal(14), False),
            (L("n"), 2, L("m"), Decimal(13), False),
            (L("a"), 3, L("n"), Decimal(1), False),
        ]
        capped = conn.execute(
            "SELECT lot_code, depth_capped FROM core.trace_downstream(%s, 1)", (L("b"),)
        ).fetchall()
        assert capped == [(L("b"), True), (L("m"), True)]

        t = trace(conn, L("n"), "up")
        assert {(u.lot_code, u.depth) for u in t.upstream} == {
            (L("m"), 1),
            (L("a"), 2),
            (L("b"), 2),
        }
        assert [r.lot_code for r in t.roots] == [L("b")]  # a is in the cycle: it has a parent
        impact = affected_and_sources(conn, L("n"))
        assert impact.affected_lots == sorted([L("n"), L("a"), L("m")])
        assert P("shop") in impact.affected_locations
        assert impact.source_locations == [P("farm")]
        return conn.execute("SELECT version()").fetchone()[0]


@pytest.fixture(scope="module")
def embedded_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from foodtrace.embedded import embedded_postgres

    with embedded_postgres(Path(tmp_path_factory.mktemp("pg18")) / "data") as url:
        yield url


def test_on_embedded_postgres_18(embedded_url: str) -> None:
    assert run_scenario(embedded_url).startswith("PostgreSQL 18")


@pytest.mark.skipif(
    not os.environ.get("FOODTRACE_TEST_TIMESCALE_URL"),
    reason="set FOODTRACE_TEST_TIMESCALE_URL to a TimescaleDB server (an empty database)",
)
def test_on_timescaledb() -> None:
    url = os.environ["FOODTRACE_TEST_TIMESCALE_URL"]
    run_scenario(url)
    with connect(url) as conn:
        hypertables = {
            r[0]
            for r in conn.execute(
                "SELECT hypertable_name FROM timescaledb_information.hypertables "
                "WHERE hypertable_schema = 'core'"
            )
        }
        assert {"events", "lab_results"} <= hypertables
        row_triggers = conn.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgname LIKE '%%_link_queue' "
            "AND tgtype & 1 = 1 AND tgrelid IN ('core.events'::regclass, 'core.lab_results'::regclass)"
        ).fetchone()[0]
        assert row_triggers == 2  # chunks carry copies of their hypertable's trigger
