"""The schema, the trace functions and every dashboard query on TimescaleDB.

No TimescaleDB server exists for this machine, so this runs against PGlite (PostgreSQL
compiled to WASM) built with the timescaledb extension, served over the PostgreSQL
wire protocol by server.mjs (see package.json). It is a test target only: it proves
the migrations create hypertables and that the SQL (time_bucket included) runs on
TimescaleDB. One connection at a time, no COPY: that is all the socket serves.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from foodtrace.db import migrate
from foodtrace.db.migrate import available_migrations
from foodtrace.grafana.check import run_dashboard
from foodtrace.grafana.model import load_dashboards
from foodtrace.grafana.queries import TimeRange

HERE = Path(__file__).resolve().parent
# The dashboards' seed (a small incident through link() and the alerts engine).
sys.path.insert(0, str(HERE.parent / "integration" / "dashboards"))
from dash_seed import Seeded, answer_notices, seed  # noqa: E402

HYPERTABLES = {
    ("core", "events"),
    ("core", "event_lots"),
    ("core", "lab_results"),
    ("ops", "ingest_stats"),
}


def _ensure_node_modules() -> None:
    if (HERE / "node_modules" / "@unni-craftsman" / "pglite").is_dir():
        return
    result = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"npm ci failed in {HERE}:\n{result.stderr[-2000:]}"


@pytest.fixture(scope="module")
def timescale_url() -> Iterator[str]:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed: the PGlite TimescaleDB needs Node")
    _ensure_node_modules()
    server = subprocess.Popen(
        ["node", "server.mjs", "--port", "0"],
        cwd=HERE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        address = _wait_ready(server, timeout=120)
        host, port = address.rsplit(":", 1)
        yield f"postgresql://postgres:postgres@{host}:{port}/postgres?sslmode=disable"
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)


def _wait_ready(server: subprocess.Popen, timeout: float) -> str:
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(server.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not lines or not lines[0].startswith("READY "):
        server.kill()
        err = server.stderr.read() if server.poll() is not None else ""
        raise AssertionError(f"PGlite server did not start: {lines!r} {err[-2000:]}")
    return lines[0].split()[1]


@pytest.fixture(scope="module")
def migrated(timescale_url: str) -> Iterator[tuple[psycopg.Connection, list[str], Seeded]]:
    """ONE connection for the whole module: the PGlite socket serves one at a time."""
    with psycopg.connect(timescale_url, connect_timeout=30) as conn:
        applied = [f"{m.version:04d}_{m.name}" for m in migrate(conn)]
        seeded = seed(conn)
        conn.commit()
        answer_notices(conn)  # a withdrawal report and overdue notices (0018's views)
        _record_a_link_run(conn)  # the pipeline panel (ops.pipeline_runs)
        yield conn, applied, seeded


def _record_a_link_run(conn: psycopg.Connection) -> None:
    """What the link step records, on this one connection (the step opens its own)."""
    from foodtrace.pipeline.runs import insert_run, run_row
    from foodtrace.trace.link import link

    started = time.time()
    stats = link(conn)
    insert_run(conn, run_row("link", started, time.time(), error=None,
                             summary={"events": stats.events}, environ={}))
    conn.commit()


def test_every_migration_applies_on_timescaledb(migrated) -> None:
    conn, applied, _ = migrated
    assert applied == [f"{m.version:04d}_{m.name}" for m in available_migrations()]
    version = conn.execute(
        "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
    ).fetchone()
    conn.rollback()
    assert version is not None and version[0].startswith("2.")


def test_time_series_tables_are_hypertables(migrated) -> None:
    conn, _, _ = migrated
    found = set(
        conn.execute(
            "SELECT hypertable_schema, hypertable_name FROM timescaledb_information.hypertables"
        ).fetchall()
    )
    conn.rollback()
    assert found >= HYPERTABLES
    # rows went into chunks, not the parent table
    chunks = conn.execute(
        "SELECT count(*) FROM timescaledb_information.chunks "
        "WHERE hypertable_schema = 'core' AND hypertable_name = 'events'"
    ).fetchone()[0]
    conn.rollback()
    assert chunks >= 1


def test_trace_functions_run_on_timescaledb(migrated) -> None:
    conn, _, seeded = migrated
    down = conn.execute(
        "SELECT lot_code FROM core.trace_downstream(%s)", (seeded.farm_lot,)
    ).fetchall()
    up = conn.execute(
        "SELECT lot_code FROM core.trace_upstream(%s)", (seeded.packed_lot,)
    ).fetchall()
    cities = conn.execute(
        "SELECT DISTINCT city FROM core.trace_locations(%s)",
        ([seeded.farm_lot, seeded.packed_lot],),
    ).fetchall()
    conn.rollback()
    assert {r[0] for r in down} == {seeded.farm_lot, seeded.packed_lot}
    assert {r[0] for r in up} == {seeded.farm_lot, seeded.packed_lot}
    assert {r[0] for r in cities} >= set(seeded.cities)
    assert seeded.alerts == 2


def test_every_dashboard_query_runs_on_timescaledb_as_reader(migrated) -> None:
    conn, _, seeded = migrated
    conn.execute("SET ROLE foodtrace_reader")
    conn.commit()
    try:
        time_range = TimeRange.last(timedelta(days=7), timedelta(minutes=10))
        results = []
        for dashboard in load_dashboards().values():
            results += run_dashboard(conn, dashboard, time_range, {"lot": seeded.farm_lot})
    finally:
        conn.execute("RESET ROLE")
        conn.commit()
    assert [(r.query.panel_title, r.error) for r in results if not r.ok] == []
    bucketed = [r for r in results if "time_bucket(" in r.sql]
    assert bucketed, "the TimescaleDB expansion was not used"
    assert [r.query.panel_title for r in results if r.rows == 0] == []
