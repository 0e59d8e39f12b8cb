"""Every panel query of every dashboard, expanded as Grafana expands it, executed on
the real PostgreSQL as foodtrace_reader over a seeded incident."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from dash_seed import Seeded

from foodtrace.grafana.check import QueryResult, run_dashboard
from foodtrace.grafana.model import load_dashboards
from foodtrace.grafana.queries import TimeRange, panel_queries

DASHBOARDS = load_dashboards()


def _last_week() -> TimeRange:
    """Ends now: computed per call, since the seed raises its alerts after import."""
    return TimeRange.last(timedelta(days=7), timedelta(minutes=10))


# Panels that may legitimately be empty on the seeded incident: none today. A panel
# listed here must say why.
MAY_BE_EMPTY: set[tuple[str, str]] = set()


def _run(conn: psycopg.Connection, key: str, lot: str, tr: TimeRange | None = None, **kw):
    return run_dashboard(conn, DASHBOARDS[key], tr or _last_week(), {"lot": lot}, **kw)


def _by_panel(results: list[QueryResult]) -> dict[str, QueryResult]:
    return {r.query.panel_title: r for r in results}


@pytest.mark.parametrize("key", sorted(DASHBOARDS))
def test_every_query_runs_as_reader_and_returns_rows(
    reader_conn: psycopg.Connection, seeded_db: tuple[str, Seeded], key: str
) -> None:
    assert reader_conn.execute("SELECT current_user").fetchone()[0] == "foodtrace_reader"
    reader_conn.rollback()
    results = _run(reader_conn, key, seeded_db[1].farm_lot)
    assert len(results) == len(panel_queries(DASHBOARDS[key])) > 0
    errors = [(r.query.panel_title, r.error, r.sql) for r in results if not r.ok]
    assert errors == []
    empty = [
        r.query.panel_title
        for r in results
        if r.rows == 0 and (key, r.query.panel_title) not in MAY_BE_EMPTY
    ]
    assert empty == [], f"panels with no rows on the seeded incident: {empty}"


def test_queries_also_run_with_the_time_bucket_expansion(
    seeded_db: tuple[str, Seeded],
) -> None:
    """With the datasource's TimescaleDB option on, $__timeGroup becomes time_bucket();
    on plain PostgreSQL that function does not exist, so this must fail here and pass on
    TimescaleDB (tests/timescale). Proves the switch really changes the SQL."""
    with psycopg.connect(seeded_db[0]) as conn:
        has_timescale = conn.execute(
            "SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'"
        ).fetchone()
        conn.rollback()
        results = _run(conn, "ingest", "", timescaledb=True)
    grouped = [r for r in results if "time_bucket(" in r.sql]
    assert grouped, "no panel groups by time"
    if has_timescale:
        assert all(r.ok for r in grouped)
    else:
        assert all(r.error and "time_bucket" in r.error for r in grouped)


def test_emergency_panels_show_the_incident(
    reader_conn: psycopg.Connection, seeded_db: tuple[str, Seeded]
) -> None:
    seeded = seeded_db[1]
    assert seeded.alerts == 2  # the rapid-test warning and the confirmed lead violation
    panels = _by_panel(_run(reader_conn, "emergency", ""))
    cities = _rows(reader_conn, panels["Open alerts by severity and city"].sql)
    reached = {(r["city"], r["severity"]) for r in cities}
    # The packed lot went to the Shenzhen retailer: both alerts reach Shenzhen.
    assert {("shenzhen", "critical"), ("shenzhen", "warning")} <= reached
    stat = _rows(reader_conn, panels["Open alerts"].sql)[0]
    assert (stat["critical"], stat["warning"]) == (1, 1)
    places = _rows(reader_conn, panels["Affected locations (open alerts)"].sql)
    assert all(p["lat"] is not None and p["lon"] is not None for p in places)
    assert {p["city"] for p in places} >= {"shenzhen", "guangzhou"}
    caps = _rows(reader_conn, panels["Latest CAP message per alert and city"].sql)
    assert caps and all(c["cap_xml"].lstrip().startswith("<") for c in caps)


def test_city_variable_filters(reader_conn: psycopg.Connection) -> None:
    only = run_dashboard(reader_conn, DASHBOARDS["emergency"], _last_week(), {"city": ["zhuhai"]})
    table = _by_panel(only)["Open alerts by severity and city"]
    assert table.ok and table.rows == 0  # nothing reached Zhuhai


def test_trace_explorer_follows_the_lot(
    reader_conn: psycopg.Connection, seeded_db: tuple[str, Seeded]
) -> None:
    seeded = seeded_db[1]
    panels = _by_panel(_run(reader_conn, "trace", seeded.farm_lot))
    down = _rows(reader_conn, panels["Downstream: what was made from ${lot}"].sql)
    assert {r["lot_code"] for r in down} == {seeded.farm_lot, seeded.packed_lot}
    went = _rows(reader_conn, panels["Where ${lot} and its products went"].sql)
    assert {r["city"] for r in went} >= set(seeded.cities)
    up = _by_panel(_run(reader_conn, "trace", seeded.packed_lot))
    upstream = _rows(reader_conn, up["Upstream: what ${lot} was made from"].sql)
    assert {r["lot_code"] for r in upstream} == {seeded.packed_lot, seeded.farm_lot}
    found = _rows(reader_conn, panels["Findings on the trace of ${lot}"].sql)
    assert [(r["rule"], r["cfr_section"], r["status"]) for r in found] == [
        ("kde.receiving.tlc_source", "21 CFR 1.1345(a)(7)", "derived")
    ]


def test_lot_text_is_quoted_not_executed(reader_conn: psycopg.Connection) -> None:
    hostile = "x'); DROP TABLE core.alerts; --"
    results = _run(reader_conn, "trace", hostile)
    traced = [r for r in results if "trace_" in r.sql]
    assert traced, "no trace panel ran the hostile lot text"
    assert all(r.ok and r.rows == 0 for r in traced)
    assert reader_conn.execute("SELECT count(*) FROM core.alerts").fetchone()[0] > 0


def test_time_filter_excludes_data_outside_the_range(reader_conn: psycopg.Connection) -> None:
    long_ago = TimeRange(
        datetime(2001, 1, 1, tzinfo=UTC), datetime(2001, 1, 2, tzinfo=UTC), timedelta(hours=1)
    )
    for key in ("ingest", "lab_results"):
        results = run_dashboard(reader_conn, DASHBOARDS[key], long_ago, {})
        filtered = [r for r in results if "BETWEEN '2001-01-01T00:00:00Z'" in r.sql]
        assert filtered and all(r.ok and r.rows == 0 for r in filtered)


def test_ingest_rates_are_per_second(reader_conn: psycopg.Connection) -> None:
    tr = TimeRange.last(timedelta(hours=1), timedelta(minutes=10))
    panels = _by_panel(run_dashboard(reader_conn, DASHBOARDS["ingest"], tr, {}))
    rows = _rows(reader_conn, panels["Messages per second"].sql)
    # seeded: 2 workers x 120 received per minute = 4 per second in full buckets
    assert max(float(r["received"]) for r in rows) == pytest.approx(4.0)


def _rows(conn: psycopg.Connection, sql: str) -> list[dict]:
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        rows = cur.execute(sql).fetchall()
    conn.rollback()
    return rows
