"""The SQL that Grafana would send for each panel of a dashboard, as plain text.

Grafana turns a panel's `rawSql` into SQL in two passes, reproduced here so the
dashboards can be executed against a real database in tests and by
`foodtrace grafana check`:

1. the frontend substitutes template variables (`$lot`, `${lot:sqlstring}`,
   `[[lot]]`) and `$__interval` / `$__interval_ms`;
2. the PostgreSQL datasource's macro engine (pkg/tsdb/grafana-postgresql-datasource/
   macros.go) expands `$__name(args)`: `$__timeFilter(col)` becomes
   `col BETWEEN '<from>' AND '<to>'` (RFC 3339, UTC), `$__timeGroup(col, 5m)` becomes
   `floor(extract(epoch from col)/300)*300`, or `time_bucket('300.000s',col)` when the
   datasource has the TimescaleDB option on, and so on. Like Grafana, a macro
   argument ends at the first `)`, and an unknown `$__macro(...)` is an error.

Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

# Grafana's own pattern: `$name(args)`, args up to the first `)`.
_MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^)]*)\)")
# Template variables: $name, ${name}, ${name:format}, [[name]] / [[name:format]].
_VARIABLE = re.compile(
    r"\$(?P<plain>[A-Za-z_][A-Za-z0-9_]*)"
    r"|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<bformat>[a-zA-Z]+))?\}"
    r"|\[\[(?P<old>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<oformat>[a-zA-Z]+))?\]\]"
)
_INTERVAL = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)$")
_UNIT_SECONDS = {
    "ms": 0.001,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
    "y": 365 * 86400,
}


class MacroError(ValueError):
    """A query uses a macro or variable Grafana would reject."""


@dataclass(frozen=True)
class PanelQuery:
    """One SQL query of a dashboard: a panel target or a query variable."""

    dashboard_uid: str
    panel_title: str
    ref_id: str
    raw_sql: str
    format: str  # "table" | "time_series"
    datasource_uid: str | None


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime
    interval: timedelta  # what Grafana computes from the range and the panel width

    @classmethod
    def last(cls, span: timedelta, interval: timedelta, now: datetime | None = None) -> TimeRange:
        end = now or datetime.now(UTC)
        return cls(end - span, end, interval)


def panel_queries(dashboard: Mapping[str, Any]) -> list[PanelQuery]:
    """Every SQL query of a dashboard: panel targets (rows included), annotation
    queries and query variables."""
    uid = dashboard.get("uid", "")
    found = []
    for panel in _all_panels(dashboard.get("panels", [])):
        panel_ds = (panel.get("datasource") or {}).get("uid")
        for target in panel.get("targets", []) or []:
            if "rawSql" not in target:
                continue
            found.append(
                PanelQuery(
                    dashboard_uid=uid,
                    panel_title=panel.get("title", ""),
                    ref_id=target.get("refId", ""),
                    raw_sql=target["rawSql"],
                    format=target.get("format", "table"),
                    datasource_uid=(target.get("datasource") or {}).get("uid", panel_ds),
                )
            )
    for annotation in dashboard.get("annotations", {}).get("list", []):
        target = annotation.get("target") or {}
        if target.get("rawSql"):
            found.append(
                PanelQuery(
                    dashboard_uid=uid,
                    panel_title=f"annotation {annotation.get('name', '')}",
                    ref_id=target.get("refId", ""),
                    raw_sql=target["rawSql"],
                    format=target.get("format", "table"),
                    datasource_uid=(target.get("datasource") or {}).get("uid"),
                )
            )
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            query = var.get("query")
            sql = query.get("rawSql", query.get("query")) if isinstance(query, dict) else query
            if sql:
                found.append(
                    PanelQuery(
                        dashboard_uid=uid,
                        panel_title=f"variable {var.get('name')}",
                        ref_id=var.get("name", ""),
                        raw_sql=sql,
                        format="table",
                        datasource_uid=(var.get("datasource") or {}).get("uid"),
                    )
                )
    return found


def _all_panels(panels: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for panel in panels:
        yield panel
        yield from _all_panels(panel.get("panels", []) or [])


def render(
    raw_sql: str,
    time_range: TimeRange,
    variables: Mapping[str, str | Sequence[str]] | None = None,
    *,
    timescaledb: bool = False,
) -> str:
    """The SQL Grafana's PostgreSQL datasource would run for `raw_sql`."""
    sql = substitute_variables(raw_sql, variables or {})
    sql = _global_substitutions(sql, time_range)
    return expand_macros(sql, time_range, timescaledb=timescaledb)


def substitute_variables(sql: str, variables: Mapping[str, str | Sequence[str]]) -> str:
    """Template variables as the SQL datasources format them.

    Default format (no `:format`): a single value has its quotes doubled and is not
    quoted (so it belongs inside '...'); a multi-value is a list of quoted literals.
    `sqlstring`: each value quoted, quotes doubled, joined by commas. `raw`: as is.
    `$__interval`-style built-ins are left for the next pass.
    """

    def replace(m: re.Match[str]) -> str:
        name = m.group("plain") or m.group("braced") or m.group("old")
        fmt = m.group("bformat") or m.group("oformat")
        if name.startswith("__") or name not in variables:
            if name.startswith("__"):
                return m.group(0)
            raise MacroError(f"template variable ${name} has no value")
        return _format_value(variables[name], fmt)

    return _VARIABLE.sub(replace, sql)


def _format_value(value: str | Sequence[str], fmt: str | None) -> str:
    values = [value] if isinstance(value, str) else list(value)
    quoted = ",".join("'" + v.replace("'", "''") + "'" for v in values)
    if fmt in (None, ""):
        return values[0].replace("'", "''") if isinstance(value, str) else quoted
    if fmt == "sqlstring":
        return quoted
    if fmt == "raw":
        return ",".join(values)
    if fmt == "csv":
        return ",".join(values)
    raise MacroError(f"variable format {fmt!r} is not supported here")


def _global_substitutions(sql: str, tr: TimeRange) -> str:
    ms = int(tr.interval.total_seconds() * 1000)
    sql = sql.replace("$__interval_ms", str(ms))
    sql = sql.replace("$__interval", format_interval(tr.interval))
    sql = sql.replace("$__unixEpochFrom()", str(int(tr.start.timestamp())))
    return sql.replace("$__unixEpochTo()", str(int(tr.end.timestamp())))


def format_interval(interval: timedelta) -> str:
    """Grafana's gtime.FormatInterval: the largest whole unit (1d, 5m, 30s, 500ms)."""
    ms = int(interval.total_seconds() * 1000)
    for unit, size in (
        ("y", 365 * 86400_000),
        ("d", 86400_000),
        ("h", 3600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ):
        if ms >= size:
            return f"{ms // size}{unit}"
    return "1ms"


def parse_interval(text: str) -> float:
    """Seconds in a Grafana interval such as `5m`, `'1h'` or `300ms`."""
    m = _INTERVAL.match(text.strip().strip("'"))
    if not m:
        raise MacroError(f"cannot parse interval {text!r}")
    return float(m.group(1)) * _UNIT_SECONDS[m.group(2)]


def _rfc3339(t: datetime) -> str:
    """Go's time.RFC3339Nano in UTC: no fraction when zero, trailing zeros trimmed."""
    t = t.astimezone(UTC)
    base = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        base += "." + f"{t.microsecond:06d}".rstrip("0")
    return base + "Z"


def _number(seconds: float) -> str:
    """Go's %v of a float64: 300 -> '300', 0.5 -> '0.5'."""
    return f"{seconds:g}" if seconds != int(seconds) else str(int(seconds))


def expand_macros(sql: str, tr: TimeRange, *, timescaledb: bool = False) -> str:
    """The datasource's macro pass (after variables and $__interval are substituted)."""

    def evaluate(name: str, args: list[str], following: str) -> str:
        # Grafana: `$__timeGroup(...)` directly followed by ',' is the old alias form.
        if name == "__timeGroup" and following.startswith(","):
            name = "__timeGroupAlias"
        if name == "__time":
            return f'{_need(args, name)} AS "time"'
        if name == "__timeEpoch":
            return f'extract(epoch from {_need(args, name)}) as "time"'
        if name == "__timeFilter":
            col = _need(args, name)
            return f"{col} BETWEEN '{_rfc3339(tr.start)}' AND '{_rfc3339(tr.end)}'"
        if name == "__timeFrom":
            return f"'{_rfc3339(tr.start)}'"
        if name == "__timeTo":
            return f"'{_rfc3339(tr.end)}'"
        if name in ("__timeGroup", "__timeGroupAlias"):
            if len(args) < 2:
                raise MacroError(f"macro {name} needs a time column and an interval")
            secs = parse_interval(args[1])
            group = (
                f"time_bucket('{secs:.3f}s',{args[0]})"
                if timescaledb
                else f"floor(extract(epoch from {args[0]})/{_number(secs)})*{_number(secs)}"
            )
            return group + (' AS "time"' if name == "__timeGroupAlias" else "")
        if name == "__unixEpochFilter":
            col = _need(args, name)
            return f"{col} >= {int(tr.start.timestamp())} AND {col} <= {int(tr.end.timestamp())}"
        raise MacroError(f"unknown macro ${name}")

    out = []
    pos = 0
    for m in _MACRO.finditer(sql):
        args = [a.strip() for a in m.group(2).split(",")]
        out.append(sql[pos : m.start()])
        out.append(evaluate(m.group(1), args, sql[m.end() :]))
        pos = m.end()
    out.append(sql[pos:])
    return "".join(out)


def _need(args: list[str], name: str) -> str:
    if not args or not args[0]:
        raise MacroError(f"missing time column argument for macro {name}")
    return args[0]
