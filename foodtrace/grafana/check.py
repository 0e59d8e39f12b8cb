"""Run every dashboard query against a database, as Grafana would run it.

`foodtrace grafana check` and the tests use this to prove the dashboards work on a
real schema (PostgreSQL or TimescaleDB) with the privileges of the connection's role.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from foodtrace.db.migrate import timescaledb_enabled
from foodtrace.grafana.queries import MacroError, PanelQuery, TimeRange, panel_queries, render

# Grafana's time-series format needs a time column named like this.
_TIME_COLUMNS = {"time", "time_sec"}


@dataclass
class QueryResult:
    query: PanelQuery
    sql: str
    rows: int = 0
    columns: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        return {
            "dashboard": self.query.dashboard_uid,
            "panel": self.query.panel_title,
            "ref_id": self.query.ref_id,
            "rows": self.rows,
            "columns": self.columns,
            "error": self.error,
        }


def default_variables(dashboard: Mapping[str, Any]) -> dict[str, str | list[str]]:
    """Each variable's value as a fresh dashboard shows it ("All" = every option)."""
    values: dict[str, str | list[str]] = {}
    for var in dashboard.get("templating", {}).get("list", []):
        name = var.get("name")
        kind = var.get("type")
        current = (var.get("current") or {}).get("value")
        if kind == "custom":
            # "a,b" or "text : value" pairs (Grafana's custom variable syntax)
            options = [
                v.split(" : ", 1)[-1].strip()
                for v in str(var.get("query", "")).split(",")
                if v.strip()
            ]
            if current in (None, "$__all", ["$__all"]) and var.get("includeAll"):
                values[name] = options
            elif current is not None:
                values[name] = current
            else:
                values[name] = options[:1]
        elif kind in ("textbox", "constant"):
            values[name] = str(current if current is not None else var.get("query", ""))
    return values


def run_dashboard(
    conn: psycopg.Connection,
    dashboard: Mapping[str, Any],
    time_range: TimeRange,
    variables: Mapping[str, str | Sequence[str]] | None = None,
    *,
    timescaledb: bool | None = None,
    statement_timeout_ms: int = 30_000,
) -> list[QueryResult]:
    """Render and execute every query of `dashboard`; one result per query, errors kept.

    Each query runs in its own transaction (rolled back: dashboards only read), so one
    failing panel does not hide the others. To run as another role, `SET ROLE` and
    commit before calling: a rolled-back SET would be undone.
    """
    if timescaledb is None:
        timescaledb = timescaledb_enabled(conn)
        conn.rollback()
    values = {**default_variables(dashboard), **(variables or {})}
    results = []
    for query in panel_queries(dashboard):
        try:
            sql = render(query.raw_sql, time_range, values, timescaledb=timescaledb)
        except MacroError as exc:
            results.append(QueryResult(query, query.raw_sql, error=f"macro: {exc}"))
            continue
        results.append(_execute(conn, query, sql, statement_timeout_ms))
    return results


def _execute(conn: psycopg.Connection, query: PanelQuery, sql: str, timeout_ms: int) -> QueryResult:
    result = QueryResult(query, sql)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT set_config('statement_timeout', %s, true)", (str(timeout_ms),))
            cur.execute(sql)  # no parameters: psycopg sends it as is, a % stays a %
            result.columns = [c.name for c in cur.description or []]
            result.rows = len(cur.fetchall())
        if query.format == "time_series" and not _TIME_COLUMNS & set(result.columns):
            result.error = f"time_series query returns no time column: {result.columns}"
    except psycopg.Error as exc:
        result.error = f"{type(exc).__name__}: {str(exc).strip()}"
    finally:
        conn.rollback()
    return result
