"""The "KDE completeness" dashboard's queries, expanded as Grafana expands them and
run as foodtrace_reader on the seeded database: each panel shows the seeded figures."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import psycopg
from psycopg.rows import dict_row
from scorecard_seed import FIELD, TLC, A, B, C, Seeded

from foodtrace.grafana.check import QueryResult, run_dashboard
from foodtrace.grafana.model import load_dashboards
from foodtrace.grafana.queries import TimeRange

DASHBOARD = load_dashboards()["kde_completeness"]
SENDER = "发送方 sender"
SHARE = "完整率 share"


def _panels(conn: psycopg.Connection, seeded: Seeded, sender: str = "") -> dict[str, QueryResult]:
    time_range = TimeRange(seeded.start, seeded.end, timedelta(hours=1))
    results = run_dashboard(conn, DASHBOARD, time_range, {"sender": sender})
    assert [(r.query.panel_title, r.error) for r in results if not r.ok] == []
    return {r.query.panel_title.split(" / ")[0]: r for r in results}


def _rows(conn: psycopg.Connection, result: QueryResult) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(result.sql).fetchall()
    conn.rollback()
    return rows


def test_the_dashboard_has_the_five_views_and_a_headline() -> None:
    assert DASHBOARD["title"] == "KDE completeness / 关键数据要素完整性"
    kinds = {p["title"].split(" / ")[0]: p["type"] for p in DASHBOARD["panels"]}
    assert kinds == {
        "Events with every KDE": "stat",
        "Completeness by day": "timeseries",
        "Completeness by sender, worst first": "table",
        "Completeness by event type": "table",
        "Completeness by food category": "table",
        "Most frequent KDE gaps": "table",
    }


def test_panels_show_the_seeded_figures_to_the_reader(
    reader: psycopg.Connection, scorecard_db: tuple[str, Seeded]
) -> None:
    assert reader.execute("SELECT current_user").fetchone()[0] == "foodtrace_reader"
    reader.rollback()
    seeded = scorecard_db[1]
    panels = _panels(reader, seeded)

    assert _rows(reader, panels["Events with every KDE"]) == [{"completeness": Decimal("0.625")}]
    senders = _rows(reader, panels["Completeness by sender, worst first"])
    assert [(r[SENDER], r["事件 events"], r["齐全 complete"], r[SHARE]) for r in senders] == [
        (B, 2, 0, Decimal("0")),
        (A, 4, 3, Decimal("0.75")),
        (C, 2, 2, Decimal("1")),
    ]
    assert (senders[0]["最常缺失 top gap"], senders[0]["CFR 条款 section"]) == TLC[:2]
    assert senders[0]["该项次数 top gap count"] == 2
    assert senders[2]["最常缺失 top gap"] is None  # retail-c misses nothing

    types = _rows(reader, panels["Completeness by event type"])
    assert [(r["事件类型 event type"], r[SHARE]) for r in types] == [
        ("receiving", Decimal("0")),
        ("harvesting", Decimal("0.5")),
        ("sale", Decimal("1")),
        ("shipping", Decimal("1")),
        ("transformation", Decimal("1")),
    ]
    categories = _rows(reader, panels["Completeness by food category"])
    assert [
        (r["食品类别 category"], r["名称 name"], r["事件 events"], r[SHARE]) for r in categories
    ] == [
        ("aquatic_products", "水产品", 2, Decimal("0")),
        ("leafy_vegetables", "叶菜类蔬菜", 4, Decimal("0.75")),
        ("unknown", "", 2, Decimal("1")),
    ]

    trend = _rows(reader, panels["Completeness by day"])
    assert [(r["time"], r[SHARE]) for r in trend] == [
        (seeded.start, Decimal("0.5")),
        (seeded.start + timedelta(days=1), Decimal("0.75")),
    ]

    gaps = _rows(reader, panels["Most frequent KDE gaps"])
    assert [
        (r[SENDER], r["规则 rule"], r["CFR 条款 section"], r["次数 count"], r["图谱补全 derived"])
        for r in gaps
    ][:2] == [
        (B, TLC[0], TLC[1], 2, 1),
        (A, FIELD[0], FIELD[1], 1, 0),
    ]
    assert len(gaps) == 4 and gaps[0]["说明 message"] == TLC[2]


def test_sender_variable_narrows_every_panel(
    reader: psycopg.Connection, scorecard_db: tuple[str, Seeded]
) -> None:
    panels = _panels(reader, scorecard_db[1], sender=A)
    senders = _rows(reader, panels["Completeness by sender, worst first"])
    assert [(r[SENDER], r[SHARE]) for r in senders] == [(A, Decimal("0.75"))]
    assert _rows(reader, panels["Events with every KDE"]) == [{"completeness": Decimal("0.75")}]
    gaps = _rows(reader, panels["Most frequent KDE gaps"])
    assert {r[SENDER] for r in gaps} == {A} and len(gaps) == 2


def test_a_quote_in_the_sender_box_is_data_not_sql(
    reader: psycopg.Connection, scorecard_db: tuple[str, Seeded]
) -> None:
    panels = _panels(reader, scorecard_db[1], sender="x'); DROP TABLE core.findings; --")
    assert [r.rows for r in panels.values()] == [0] * len(panels)
    assert reader.execute("SELECT count(*) FROM core.findings").fetchone()[0] > 0
    reader.rollback()
