"""Grafana's SQL expansion, reproduced (foodtrace.grafana.queries), against the
outputs Grafana's PostgreSQL macro engine produces (its macros.go and docs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from foodtrace.grafana.queries import (
    MacroError,
    TimeRange,
    expand_macros,
    format_interval,
    panel_queries,
    render,
    substitute_variables,
)

TR = TimeRange(
    datetime(2026, 11, 28, 1, 30, tzinfo=UTC),
    datetime(2026, 11, 28, 7, 30, 0, 250000, tzinfo=UTC),
    timedelta(minutes=5),
)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("$__timeFilter(ts)", "ts BETWEEN '2026-11-28T01:30:00Z' AND '2026-11-28T07:30:00.25Z'"),
        ("$__timeFrom()", "'2026-11-28T01:30:00Z'"),
        ("$__timeTo()", "'2026-11-28T07:30:00.25Z'"),
        ("$__timeGroup(ts,'5m')", "floor(extract(epoch from ts)/300)*300"),
        ("$__timeGroupAlias(ts, 1h)", 'floor(extract(epoch from ts)/3600)*3600 AS "time"'),
        ("$__timeGroup(ts, 90s), x", 'floor(extract(epoch from ts)/90)*90 AS "time", x'),
        ("$__timeGroupAlias(ts, 500ms)", 'floor(extract(epoch from ts)/0.5)*0.5 AS "time"'),
        ("$__time(ts)", 'ts AS "time"'),
        ("$__timeEpoch(ts)", 'extract(epoch from ts) as "time"'),
        ("$__unixEpochFilter(t)", "t >= 1795829400 AND t <= 1795851000"),
    ],
)
def test_macros_expand_like_grafana(sql: str, expected: str) -> None:
    assert expand_macros(sql, TR) == expected


def test_timescaledb_option_uses_time_bucket() -> None:
    assert expand_macros("$__timeGroupAlias(ts, 5m)", TR, timescaledb=True) == (
        "time_bucket('300.000s',ts) AS \"time\""
    )


@pytest.mark.parametrize("sql", ["$__nope(x)", "$__timeFilter()", "$__timeGroup(ts)"])
def test_what_grafana_rejects_is_rejected(sql: str) -> None:
    with pytest.raises(MacroError):
        expand_macros(sql, TR)


def test_interval_builtins_then_macros() -> None:
    sql = "SELECT $__timeGroupAlias(ts, $__interval), sum(n) / ($__interval_ms / 1000.0)"
    assert render(sql, TR) == (
        'SELECT floor(extract(epoch from ts)/300)*300 AS "time", sum(n) / (300000 / 1000.0)'
    )


@pytest.mark.parametrize(
    ("interval", "text"),
    [
        (timedelta(days=2), "2d"),
        (timedelta(minutes=90), "1h"),
        (timedelta(seconds=30), "30s"),
        (timedelta(milliseconds=20), "20ms"),
        (timedelta(0), "1ms"),
    ],
)
def test_interval_text(interval: timedelta, text: str) -> None:
    assert format_interval(interval) == text


def test_variables_are_quoted_as_the_sql_datasources_do() -> None:
    values = {"lot": "L'1", "city": ["guangzhou", "shenzhen"]}
    assert substitute_variables("f(${lot:sqlstring})", values) == "f('L''1')"
    assert substitute_variables("x = '$lot'", values) == "x = 'L''1'"
    assert substitute_variables("[[lot:raw]]", values) == "L'1"
    assert substitute_variables("c IN ($city)", values) == "c IN ('guangzhou','shenzhen')"
    assert substitute_variables("c IN (${city:sqlstring})", values) == (
        "c IN ('guangzhou','shenzhen')"
    )
    # built-ins are left for the next pass
    assert substitute_variables("$__timeFilter(ts) $__interval", values) == (
        "$__timeFilter(ts) $__interval"
    )
    with pytest.raises(MacroError, match=r"\$missing"):
        substitute_variables("$missing", values)


def test_panel_queries_walk_rows_and_query_variables() -> None:
    dashboard = {
        "uid": "d",
        "panels": [
            {
                "title": "row",
                "type": "row",
                "panels": [
                    {
                        "title": "inner",
                        "datasource": {"uid": "ds"},
                        "targets": [{"refId": "A", "rawSql": "SELECT 1", "format": "time_series"}],
                    },
                ],
            },
            {"title": "text", "type": "text"},
        ],
        "templating": {"list": [{"type": "query", "name": "v", "query": "SELECT 2"}]},
    }
    found = panel_queries(dashboard)
    assert [(q.panel_title, q.raw_sql, q.format, q.datasource_uid) for q in found] == [
        ("inner", "SELECT 1", "time_series", "ds"),
        ("variable v", "SELECT 2", "table", None),
    ]
