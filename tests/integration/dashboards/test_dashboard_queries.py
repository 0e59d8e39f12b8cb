"""Every panel query of every dashboard, expanded as Grafana expands it, executed on
the real PostgreSQL as foodtrace_reader over a seeded incident. Both languages run
(their SQL is the same, dashboards/build.py); figures are looked up by the English
panel titles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from dash_seed import Seeded

from foodtrace.grafana.check import QueryResult, run_dashboard
from foodtrace.grafana.model import load_dashboards
from foodtrace.grafana.queries import TimeRange, panel_queries

DASHBOARDS = load_dashboards("en")
BY_LANGUAGE = {language: load_dashboards(language) for language in ("zh-CN", "en")}


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


@pytest.mark.parametrize("language", sorted(BY_LANGUAGE))
@pytest.mark.parametrize("key", sorted(DASHBOARDS))
def test_every_query_runs_as_reader_and_returns_rows(
    reader_conn: psycopg.Connection, seeded_db: tuple[str, Seeded], key: str, language: str
) -> None:
    assert reader_conn.execute("SELECT current_user").fetchone()[0] == "foodtrace_reader"
    reader_conn.rollback()
    dashboard = BY_LANGUAGE[language][key]
    results = run_dashboard(reader_conn, dashboard, _last_week(), {"lot": seeded_db[1].farm_lot})
    assert len(results) == len(panel_queries(dashboard)) > 0
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


def test_node_graph_frames_are_the_trace_of_the_lot(
    reader_conn: psycopg.Connection, seeded_db: tuple[str, Seeded]
) -> None:
    seeded = seeded_db[1]
    for lot in (seeded.farm_lot, seeded.packed_lot):
        results = [
            r for r in _run(reader_conn, "trace", lot) if r.query.panel_title == "Lot graph of ${lot}"
        ]
        frames = {r.query.ref_id: r for r in results}
        assert set(frames) == {"nodes", "edges"}
        nodes = _rows(reader_conn, frames["nodes"].sql)
        edges = _rows(reader_conn, frames["edges"].sql)
        assert frames["nodes"].columns[:6] == [
            "id", "title", "subtitle", "mainstat", "secondarystat", "color"
        ]
        assert all(c.startswith("detail__") for c in frames["nodes"].columns[6:])
        assert frames["edges"].columns[:4] == ["id", "source", "target", "mainstat"]
        assert all(c.startswith("detail__") for c in frames["edges"].columns[4:])
        # the same lots as the trace functions, and the lot graph's edges between them
        traced = reader_conn.execute(
            "SELECT lot_code FROM core.trace_upstream(%s) UNION "
            "SELECT lot_code FROM core.trace_downstream(%s)", (lot, lot)
        ).fetchall()
        between = reader_conn.execute(
            "SELECT DISTINCT parent_lot, child_lot FROM core.lot_edges "
            "WHERE parent_lot = ANY(%s) AND child_lot = ANY(%s)",
            ([t[0] for t in traced], [t[0] for t in traced]),
        ).fetchall()
        reader_conn.rollback()
        assert {n["id"] for n in nodes} == {t[0] for t in traced} == {
            seeded.farm_lot, seeded.packed_lot
        }
        assert {(e["source"], e["target"]) for e in edges} == set(between) == {
            (seeded.farm_lot, seeded.packed_lot)
        }
        colours = {n["id"]: n["color"] for n in nodes}
        assert colours[lot] == "red"
        ids = {n["id"] for n in nodes}
        assert all(e["source"] in ids and e["target"] in ids for e in edges)


def test_alert_annotations_name_each_alert(
    reader_conn: psycopg.Connection, seeded_db: tuple[str, Seeded]
) -> None:
    (annotation,) = [
        r for r in _run(reader_conn, "emergency", "") if r.query.panel_title.startswith("annotation")
    ]
    rows = _rows(reader_conn, annotation.sql)
    assert len(rows) == seeded_db[1].alerts
    assert {r["tags"].split(",")[2] for r in rows} == {"critical", "warning"}
    assert all(r["time"] and r["title"].startswith("告警 alert") and r["text"] for r in rows)


def test_silent_labs_follow_the_hours_variable(
    reader_conn: psycopg.Connection, seeded_db: tuple[str, Seeded]
) -> None:
    title = "Labs and stations that stopped reporting"
    last = reader_conn.execute("SELECT max(tested_at) FROM core.lab_results").fetchone()[0]
    reader_conn.rollback()
    silent_h = (datetime.now(UTC) - last).total_seconds() / 3600
    assert 6 < silent_h < 72  # the seed's lab last reported between the two settings
    default = _by_panel(_run(reader_conn, "lab_results", ""))[title]
    listed = _rows(reader_conn, default.sql)
    assert listed and all(float(r["silent_h"]) > 6 for r in listed)
    assert {r["station_kind"] for r in listed} <= {"lab", "station"}
    patient = _by_panel(
        run_dashboard(reader_conn, DASHBOARDS["lab_results"], _last_week(), {"silent_hours": "72"})
    )[title]
    assert patient.ok and patient.rows == 0


def test_pipeline_panel_shows_the_recorded_step_runs(
    reader_conn: psycopg.Connection, seeded_db: tuple[str, Seeded]
) -> None:
    panels = _by_panel(_run(reader_conn, "ingest", ""))
    runs = _rows(reader_conn, panels["Pipeline step runs"].sql)
    # the fixture ran link, alert and withdrawals through the real steps, directly
    assert {r["step"] for r in runs} >= {"link", "alert", "withdrawals"}
    assert {(r["mode"], r["dag_id"], r["state"]) for r in runs} == {("direct", "direct", "success")}
    assert all(r["duration_s"] >= 0 for r in runs)
    by_dag = _rows(reader_conn, panels["Pipeline steps by DAG"].sql)
    assert {r["step"]: r["failed"] for r in by_dag}["link"] == 0


def test_ingest_lag_is_total_lag_over_messages(
    seeded_db: tuple[str, Seeded], reader_conn: psycopg.Connection
) -> None:
    """Two batches in one bucket: 1 message at 10 s and 99 at 1 s. The mean lag is
    (10 + 99) / 100 = 1.09 s; averaging the two batch averages gave 5.5 s."""
    at = datetime(2002, 3, 4, 5, 6, tzinfo=UTC)
    with psycopg.connect(seeded_db[0]) as conn:
        conn.execute(
            "INSERT INTO ops.ingest_stats (ts, worker_id, received, stored, duplicates,"
            " quarantined, lag_avg_s, lag_max_s, lag_count) VALUES"
            " (%s, 'lag-a', 1, 1, 0, 0, 10.0, 10.0, 1), (%s, 'lag-b', 99, 99, 0, 0, 1.0, 2.0, 99)",
            (at, at + timedelta(seconds=5)),
        )
    tr = TimeRange(at - timedelta(minutes=5), at + timedelta(minutes=5), timedelta(hours=1))
    panel = _by_panel(run_dashboard(reader_conn, DASHBOARDS["ingest"], tr, {}))[
        "Ingest lag (publish to commit)"
    ]
    (row,) = _rows(reader_conn, panel.sql)
    assert float(row["lag_avg"]) == pytest.approx(1.09)
    assert float(row["lag_max"]) == 10.0


def test_withdrawal_dashboard_agrees_with_foodtrace_withdrawals(
    reader_conn: psycopg.Connection, seeded_db: tuple[str, Seeded]
) -> None:
    from foodtrace.withdrawals.queries import report

    with psycopg.connect(seeded_db[0]) as conn:
        expected = report(conn)["alerts"]
        states = conn.execute(
            "SELECT actor_id, state FROM core.withdrawal_notices WHERE state <> 'superseded'"
        ).fetchall()
    assert {s for _, s in states} >= {"withdrawn", "overdue"}  # the fixture's answers
    panels = _by_panel(_run(reader_conn, "withdrawals", ""))
    table = _rows(reader_conn, panels["Notices per alert and city"].sql)
    got = {(str(r["alert_id"]), r["city"]): r for r in table}
    want = {(a["alert_id"], city): p for a in expected for city, p in a["cities"].items()}
    assert got.keys() == want.keys()
    for key, p in want.items():
        r = got[key]
        assert (r["notices"], r["answered"], r["overdue"], r["open"], r["verified"]) == (
            p["notices"], p["answered"], p["overdue"], p["open"], p["verified"]
        )
        assert (None if r["share"] is None else float(r["share"])) == p["share"]
    assert any(0 < float(r["share"]) < 1 for r in table if r["share"] is not None)
    bars = _rows(reader_conn, panels["Progress by city"].sql)
    assert len(bars) == len(table) and all(" · " in b["bar"] for b in bars)
    overdue = _rows(reader_conn, panels["Overdue businesses"].sql)
    assert sorted(r["actor_id"] for r in overdue) == sorted(a for a, s in states if s == "overdue")
    assert all(r["business_name"] and r["deadline"] for r in overdue)
    out = _rows(reader_conn, panels["Quantity still out there"].sql)
    last = {}
    for r in out:
        last[r["metric"]] = float(r["out_there"])
    held_minus_done = {}
    for r in table:
        if r["unit"] is not None:
            held_minus_done[r["unit"]] = held_minus_done.get(r["unit"], 0.0) + float(
                r["held"] - r["done"]
            )
    assert last == pytest.approx(held_minus_done)
