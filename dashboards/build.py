"""Build the Grafana dashboards (dashboards/*.json) with grafana-foundation-sdk.

    python -m dashboards.build            # rewrite the JSON files
    python -m dashboards.build --check    # exit 1 when a JSON file is out of date

The JSON files are what ships (Grafana provisioning and `foodtrace grafana publish`
read them); this module is a development tool and the SDK a development dependency.
Every query is plain SQL for Grafana's PostgreSQL datasource, read-only, through
the `foodtrace-pg` datasource (the foodtrace_reader role). Macros are the portable
ones ($__timeFilter, $__timeGroupAlias): with the datasource's TimescaleDB option on,
Grafana turns $__timeGroupAlias into time_bucket(); the SQL is the same either way.
Macro arguments must not contain parentheses (Grafana's macro parser stops at the
first ')'), and text variables are always written ${name:sqlstring}, which Grafana
quotes and escapes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import geomap, stat, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from foodtrace.grafana.model import DASHBOARD_FILES, DATASOURCE_TYPE, DATASOURCE_UID
from foodtrace.reference import CITY_CODES

HERE = Path(__file__).resolve().parent
DATASOURCE = dm.DataSourceRef(type_val=DATASOURCE_TYPE, uid=DATASOURCE_UID)
TAGS = ["foodtrace"]


class SqlQuery(cogvariants.Dataquery):
    """A raw-SQL target of Grafana's PostgreSQL datasource (the SDK has no builder)."""

    def __init__(self, ref_id: str, sql: str, fmt: str) -> None:
        self.ref_id = ref_id
        self.sql = sql
        self.fmt = fmt

    def to_json(self) -> dict[str, Any]:
        return {
            "refId": self.ref_id,
            "datasource": {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID},
            "editorMode": "code",
            "format": self.fmt,
            "rawQuery": True,
            "rawSql": self.sql,
        }


class Sql(cogbuilder.Builder[SqlQuery]):
    def __init__(self, sql: str, fmt: str = "table", ref_id: str = "A") -> None:
        self._query = SqlQuery(ref_id, _dedent(sql), fmt)

    def build(self) -> SqlQuery:
        return self._query


def _dedent(sql: str) -> str:
    lines = [line.rstrip() for line in sql.strip("\n").splitlines()]
    indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
    return "\n".join(line[indent:] for line in lines)


def _pos(x: int, y: int, w: int, h: int) -> dm.GridPos:
    return dm.GridPos(x=x, y=y, w=w, h=h)


def _table(title: str, sql: str, pos: dm.GridPos, description: str = "") -> table.Panel:
    return (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .grid_pos(pos)
        .show_header(True)
        .with_target(Sql(sql, "table"))
    )


def _timeseries(
    title: str, sql: str, pos: dm.GridPos, unit: str = "short", description: str = ""
) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .grid_pos(pos)
        .unit(unit)
        .legend(
            cb.VizLegendOptions()
            .show_legend(True)
            .display_mode(cm.LegendDisplayMode.LIST)
            .placement(cm.LegendPlacement.BOTTOM)
        )
        .with_target(Sql(sql, "time_series"))
    )


def _geomap(title: str, sql: str, pos: dm.GridPos, size_field: str, description: str) -> Any:
    markers = (
        cb.MapLayerOptions()
        .type("markers")
        .name("locations")
        .location(
            cb.FrameGeometrySource()
            .mode(cm.FrameGeometrySourceMode.COORDS)
            .latitude("lat")
            .longitude("lon")
        )
        .tooltip(True)
        .config(
            {
                "showLegend": True,
                "style": {
                    "size": {"field": size_field, "fixed": 6, "min": 4, "max": 16},
                    "color": {"fixed": "red"},
                    "text": {"field": "location_name", "mode": "field"},
                    "textConfig": {"fontSize": 10, "offsetY": -12},
                },
            }
        )
    )
    # The Pearl River Delta, centred between Guangzhou and Shenzhen.
    view = geomap.MapViewConfig().id("coords").lat(23).lon(113).zoom(8)
    return (
        geomap.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .grid_pos(pos)
        .view(view)
        .basemap(cb.MapLayerOptions().type("default").name("Basemap"))
        .layers([markers])
        .with_target(Sql(sql, "table"))
    )


def _city_variable() -> db.CustomVariable:
    everything = dm.VariableOption(text="All", value="$__all", selected=True)
    return (
        db.CustomVariable("city")
        .label("City")
        .values(",".join(CITY_CODES))
        .multi(True)
        .include_all(True)
        .current(everything)
    )


def _dashboard(uid: str, title: str, description: str, time_from: str) -> db.Dashboard:
    return (
        db.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .timezone("browser")
        .time(time_from, "now")
        .refresh("1m")
        .readonly()
    )


def emergency() -> db.Dashboard:
    d = _dashboard(
        "foodtrace-emergency",
        "Emergency coordination",
        "Open alerts, where the affected food is, and the CAP messages sent to each city.",
        "now-7d",
    ).with_variable(_city_variable())
    d = d.with_panel(
        stat.Panel()
        .title("Open alerts")
        .datasource(DATASOURCE)
        .grid_pos(_pos(0, 0, 6, 6))
        .reduce_options(cb.ReduceDataOptions().values(False).calcs(["lastNotNull"]).fields(""))
        .with_target(
            Sql(
                """
                SELECT count(*) FILTER (WHERE severity = 'critical') AS critical,
                       count(*) FILTER (WHERE severity = 'warning') AS warning
                FROM core.alerts
                WHERE status <> 'closed'
                """
            )
        )
    )
    d = d.with_panel(
        _table(
            "Open alerts by severity and city",
            """
            SELECT city, severity, count(*) AS open_alerts,
                   count(DISTINCT lot_code) AS lots, min(raised_at) AS first_raised,
                   max(raised_at) AS last_raised
            FROM reporting.alert_cities
            WHERE status <> 'closed' AND city IN (${city:sqlstring})
            GROUP BY city, severity
            ORDER BY severity = 'critical' DESC, open_alerts DESC, city
            """,
            _pos(6, 0, 18, 6),
            "An alert counts once in every city it reaches (spec section 4: affected cities).",
        )
    )
    d = d.with_panel(
        _geomap(
            "Affected locations (open alerts)",
            """
            SELECT location_id, location_name, kind, city, lat, lon,
                   count(DISTINCT alert_id) AS alerts,
                   CASE WHEN bool_or(severity = 'critical') THEN 'critical'
                        ELSE 'warning' END AS worst_severity,
                   string_agg(DISTINCT lot_code, ', ') AS lots
            FROM reporting.alert_locations
            WHERE status <> 'closed' AND lat IS NOT NULL AND lon IS NOT NULL
              AND city IN (${city:sqlstring})
            GROUP BY location_id, location_name, kind, city, lat, lon
            ORDER BY alerts DESC
            """,
            _pos(0, 6, 12, 12),
            "alerts",
            "Every location that holds, held, sold or received an affected lot.",
        )
    )
    d = d.with_panel(
        _timeseries(
            "Alerts raised",
            """
            SELECT $__timeGroupAlias(raised_at, $__interval),
                   count(*) FILTER (WHERE severity = 'critical') AS critical,
                   count(*) FILTER (WHERE severity = 'warning') AS warning
            FROM core.alerts
            WHERE $__timeFilter(raised_at)
            GROUP BY 1
            ORDER BY 1
            """,
            _pos(12, 6, 12, 12),
        )
    )
    d = d.with_panel(
        _table(
            "Alerts: affected lots and locations",
            """
            SELECT raised_at, status, severity, lot_code, product_code, analyte,
                   value, unit, limit_value, limit_unit, test_kind, lab_id,
                   affected_lots, affected_locations, affected_cities,
                   affected_lot_codes, alert_id
            FROM reporting.alert_impact
            WHERE status <> 'closed' OR $__timeFilter(raised_at)
            ORDER BY status <> 'closed' DESC, raised_at DESC
            LIMIT 500
            """,
            _pos(0, 18, 24, 9),
            "Open alerts, and every alert raised in the time range.",
        )
    )
    return d.with_panel(
        _table(
            "Latest CAP message per alert and city",
            """
            SELECT created_at, city, msg_type, version, severity, status, lot_code, analyte,
                   sent_at, attempts, last_error, cap_identifier, cap_xml
            FROM reporting.latest_cap
            WHERE city IN (${city:sqlstring})
            ORDER BY created_at DESC
            LIMIT 200
            """,
            _pos(0, 27, 24, 9),
            "What each city's emergency office last received (OASIS CAP 1.2); sent_at is "
            "empty until the broker acknowledged it.",
        )
    )


def trace_explorer() -> db.Dashboard:
    lot = db.TextBoxVariable("lot").label("Lot code").description("traceability lot code")
    d = _dashboard(
        "foodtrace-trace",
        "Trace explorer",
        "Upstream, downstream and where a lot went, from the trace functions "
        "(core.trace_upstream / trace_downstream / trace_locations).",
        "now-30d",
    ).with_variable(lot)
    d = d.with_panel(
        _table(
            "Upstream: what ${lot} was made from",
            """
            SELECT depth, lot_code, product_code, parent_lot AS reached_from,
                   quantity, unit, is_root AS source_lot, depth_capped
            FROM core.trace_upstream(${lot:sqlstring})
            ORDER BY depth, lot_code
            """,
            _pos(0, 0, 12, 9),
        )
    )
    d = d.with_panel(
        _table(
            "Downstream: what was made from ${lot}",
            """
            SELECT depth, lot_code, product_code, parent_lot AS made_from,
                   quantity, unit, depth_capped
            FROM core.trace_downstream(${lot:sqlstring})
            ORDER BY depth, lot_code
            """,
            _pos(12, 0, 12, 9),
        )
    )
    d = d.with_panel(
        _table(
            "Where ${lot} and its products went",
            """
            SELECT event_time, lot_code, role, location_id, location_name, kind, city,
                   quantity, unit, counterparty_location_id, event_type
            FROM core.trace_locations(ARRAY(
                SELECT lot_code FROM core.trace_downstream(${lot:sqlstring})))
            ORDER BY event_time, lot_code, role
            """,
            _pos(0, 9, 14, 12),
        )
    )
    d = d.with_panel(
        _geomap(
            "Locations on the trace",
            """
            SELECT location_id, location_name, kind, city, lat, lon,
                   count(DISTINCT lot_code) AS lots,
                   string_agg(DISTINCT role, ', ') AS roles
            FROM core.trace_locations(ARRAY(
                SELECT lot_code FROM core.trace_downstream(${lot:sqlstring})
                UNION
                SELECT lot_code FROM core.trace_upstream(${lot:sqlstring})))
            WHERE lat IS NOT NULL AND lon IS NOT NULL
            GROUP BY location_id, location_name, kind, city, lat, lon
            """,
            _pos(14, 9, 10, 12),
            "lots",
            "Upstream sources and everywhere the lot and its products were.",
        )
    )
    d = d.with_panel(
        _table(
            "Lab results on ${lot}",
            """
            SELECT tested_at, lab_id, sample_id, test_kind, analyte, value, unit, result,
                   verdict, positive, sampled_location_id, city
            FROM reporting.lab_result_outcomes
            WHERE lot_code = ${lot:sqlstring}
            ORDER BY tested_at DESC
            """,
            _pos(0, 21, 12, 8),
        )
    )
    d = d.with_panel(
        _table(
            "Alerts that reach ${lot}",
            """
            SELECT raised_at, status, severity, lot_code, analyte, affected_cities, alert_id
            FROM reporting.alert_impact i
            WHERE i.lot_code = ${lot:sqlstring}
               OR EXISTS (SELECT 1 FROM core.alerts a
                          WHERE a.alert_id = i.alert_id
                            AND a.payload -> 'affected_lots'
                                @> jsonb_build_array(jsonb_build_object('lot_code', ${lot:sqlstring})))
            ORDER BY raised_at DESC
            """,
            _pos(12, 21, 12, 8),
            "Alerts on this lot, and alerts on other lots whose affected lots include it.",
        )
    ).with_panel(
        _table(
            "Findings on the trace of ${lot}",
            """
            SELECT f.event_time, f.sender_id, f.event_type, f.severity, f.rule, f.cfr_section,
                   coalesce(f.resolution, 'open') AS status, f.resolved_value, f.message
            FROM core.findings f
            WHERE f.message_id IN (
                SELECT t.message_id FROM core.trace_locations(ARRAY(
                    SELECT lot_code FROM core.trace_downstream(${lot:sqlstring})
                    UNION
                    SELECT lot_code FROM core.trace_upstream(${lot:sqlstring}))) t)
            ORDER BY CASE f.severity WHEN 'error' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,
                     f.event_time, f.rule
            """,
            _pos(0, 29, 24, 8),
            "What validation flagged on the events of this trace (KDE gaps with their "
            "21 CFR sections, references not known yet, time and quantity doubts). These "
            "events are traced all the same; resolved findings were answered by the graph "
            "(derived) or by data that arrived later.",
        )
    )
    return d


def ingest_health() -> db.Dashboard:
    d = _dashboard(
        "foodtrace-ingest",
        "Ingest health",
        "What the MQTT ingest workers received, stored, ignored as duplicates and "
        "quarantined (ops.ingest_stats), their heartbeats and session takeovers "
        "(ops.ingest_workers, ops.ingest_takeovers), why messages were quarantined, "
        "and validation runs.",
        "now-6h",
    )
    d = d.with_panel(
        _timeseries(
            "Messages per second",
            """
            SELECT $__timeGroupAlias(ts, $__interval),
                   sum(received) / ($__interval_ms / 1000.0) AS received,
                   sum(stored) / ($__interval_ms / 1000.0) AS stored,
                   sum(duplicates) / ($__interval_ms / 1000.0) AS duplicates,
                   sum(quarantined) / ($__interval_ms / 1000.0) AS quarantined
            FROM ops.ingest_stats
            WHERE $__timeFilter(ts)
            GROUP BY 1
            ORDER BY 1
            """,
            _pos(0, 0, 16, 9),
            "reqps",
            "Payload elements per second, all workers together.",
        )
    )
    d = d.with_panel(
        _table(
            "Workers",
            """
            SELECT worker_id, max(ts) AS last_flush, sum(received) AS received,
                   sum(stored) AS stored, sum(duplicates) AS duplicates,
                   sum(quarantined) AS quarantined, max(lag_max_s) AS lag_max_s
            FROM ops.ingest_stats
            WHERE $__timeFilter(ts)
            GROUP BY worker_id
            ORDER BY worker_id
            """,
            _pos(16, 0, 8, 9),
        )
    )
    d = d.with_panel(
        _table(
            "Worker heartbeats",
            """
            SELECT w.worker_id,
                   CASE WHEN w.state IN ('retired', 'taken_over') THEN w.state
                        WHEN w.last_heartbeat > now() - make_interval(
                                 secs => 3 * coalesce(w.heartbeat_s, 5)) THEN 'alive'
                        ELSE 'silent (' || w.state || ')' END AS status,
                   w.last_heartbeat,
                   round(extract(epoch FROM now() - w.last_heartbeat)::numeric, 1)
                       AS silent_s,
                   w.started_at, w.host, w.pid, w.session_ended_at
            FROM ops.ingest_workers w
            ORDER BY (w.state IN ('retired', 'taken_over')), w.last_heartbeat DESC
            LIMIT 200
            """,
            _pos(0, 9, 10, 9),
            "Every ingest worker with its last heartbeat (independent of traffic). "
            "'silent' with a session still open: the broker keeps queueing a share of "
            "the traffic in it until a surviving worker takes it over "
            "(FOODTRACE_INGEST_TAKEOVER_S after its last heartbeat).",
        )
    )
    d = d.with_panel(
        _table(
            "Session takeovers",
            """
            SELECT t.started_at, t.worker_id AS silent_worker,
                   t.by_worker_id AS taken_over_by, t.outcome, t.messages, t.stored,
                   t.duplicates, t.quarantined, t.session_present,
                   round(extract(epoch FROM t.started_at - t.last_heartbeat)::numeric, 1)
                       AS silent_for_s,
                   t.finished_at - t.started_at AS duration, t.detail
            FROM ops.ingest_takeovers t
            WHERE $__timeFilter(t.started_at)
            ORDER BY t.started_at DESC
            LIMIT 200
            """,
            _pos(10, 9, 14, 9),
            "A surviving worker took over a silent worker's MQTT session: landed what "
            "it held (messages) and ended it. 'interrupted': the session was taken "
            "back before it was drained; tried again after the limit.",
        )
    )
    d = d.with_panel(
        _timeseries(
            "Ingest lag (publish to commit)",
            """
            SELECT $__timeGroupAlias(ts, $__interval),
                   avg(lag_avg_s) AS lag_avg,
                   max(lag_max_s) AS lag_max
            FROM ops.ingest_stats
            WHERE $__timeFilter(ts)
            GROUP BY 1
            ORDER BY 1
            """,
            _pos(0, 18, 12, 8),
            "s",
        )
    )
    d = d.with_panel(
        _timeseries(
            "Quarantined by stage",
            """
            SELECT $__timeGroupAlias(received_at, $__interval),
                   count(*) FILTER (WHERE stage = 'edge') AS edge,
                   count(*) FILTER (WHERE stage = 'validation') AS validation
            FROM landing.quarantine
            WHERE $__timeFilter(received_at)
            GROUP BY 1
            ORDER BY 1
            """,
            _pos(12, 18, 12, 8),
        )
    )
    d = d.with_panel(
        _table(
            "Quarantine reasons by sender",
            """
            SELECT coalesce(q.sender_id, '(unknown)') AS sender, q.stage,
                   r.reason ->> 'code' AS reason, count(*) AS messages,
                   max(q.received_at) AS last_seen,
                   min(r.reason ->> 'message') AS example
            FROM landing.quarantine q
            CROSS JOIN LATERAL jsonb_array_elements(q.reasons) AS r (reason)
            WHERE $__timeFilter(q.received_at)
            GROUP BY 1, 2, 3
            ORDER BY messages DESC, sender
            LIMIT 500
            """,
            _pos(0, 26, 24, 9),
        )
    )
    d = d.with_panel(
        _table(
            "Waiting for validation",
            """
            SELECT q.kind, count(*) AS queued, min(q.queued_at) AS oldest
            FROM landing.validation_queue q
            GROUP BY q.kind
            ORDER BY q.kind
            """,
            _pos(0, 35, 8, 8),
            "Landed messages validation has not promoted or quarantined yet (nothing "
            "waits for a reference: such rows are promoted with a finding).",
        )
    )
    d = d.with_panel(
        _table(
            "Validation runs",
            """
            SELECT started_at, kind, suite_name, rows_checked, rows_passed, rows_failed,
                   findings, success, finished_at - started_at AS duration, run_id
            FROM ops.validation_runs
            WHERE $__timeFilter(started_at)
            ORDER BY started_at DESC
            LIMIT 200
            """,
            _pos(8, 35, 16, 8),
        )
    )
    return d.with_panel(
        _table(
            "Failed expectations",
            """
            SELECT r.rule, r.expectation, r.column_name, r.cfr_section, r.on_failure,
                   count(*) AS failed_runs, sum(r.unexpected_count) AS unexpected_rows,
                   max(v.started_at) AS last_failed
            FROM ops.validation_results r
            JOIN ops.validation_runs v ON v.run_id = r.run_id
            WHERE $__timeFilter(v.started_at) AND NOT r.success
            GROUP BY r.rule, r.expectation, r.column_name, r.cfr_section, r.on_failure
            ORDER BY unexpected_rows DESC, r.rule
            """,
            _pos(0, 43, 24, 8),
            "Which checks rows failed, with the FSMA 204 section they enforce.",
        )
    )


def lab_results() -> db.Dashboard:
    d = _dashboard(
        "foodtrace-lab-results",
        "Lab results",
        "Positive lab and rapid-test results by analyte and by city. A result is "
        "positive when the alerts engine judged it a violation (confirmatory, above "
        "the limit) or a suspicion (rapid test positive).",
        "now-7d",
    ).with_variable(_city_variable())
    d = d.with_panel(
        _timeseries(
            "Positives by analyte",
            """
            SELECT $__timeGroupAlias(tested_at, $__interval), analyte AS metric,
                   count(*) AS positives
            FROM reporting.lab_result_outcomes
            WHERE $__timeFilter(tested_at) AND positive AND city IN (${city:sqlstring})
            GROUP BY 1, 2
            ORDER BY 1
            """,
            _pos(0, 0, 12, 9),
        )
    )
    d = d.with_panel(
        _timeseries(
            "Positives by city",
            """
            SELECT $__timeGroupAlias(tested_at, $__interval),
                   coalesce(city, 'unknown location') AS metric, count(*) AS positives
            FROM reporting.lab_result_outcomes
            WHERE $__timeFilter(tested_at) AND positive
            GROUP BY 1, 2
            ORDER BY 1
            """,
            _pos(12, 0, 12, 9),
        )
    )
    d = d.with_panel(
        _table(
            "Tests and positives by analyte and city",
            """
            SELECT analyte, city, count(*) AS tests,
                   count(*) FILTER (WHERE positive) AS positives,
                   round(100.0 * count(*) FILTER (WHERE positive) / count(*), 1)
                       AS positive_pct,
                   count(*) FILTER (WHERE test_kind = 'confirmatory') AS confirmatory
            FROM reporting.lab_result_outcomes
            WHERE $__timeFilter(tested_at) AND city IN (${city:sqlstring})
            GROUP BY analyte, city
            ORDER BY positives DESC, tests DESC
            """,
            _pos(0, 9, 12, 9),
        )
    )
    return d.with_panel(
        _table(
            "Positive results",
            """
            SELECT tested_at, city, analyte, test_kind, value, unit, result, verdict,
                   lot_code, product_code, lab_id, sample_id, sampled_location_id
            FROM reporting.lab_result_outcomes
            WHERE $__timeFilter(tested_at) AND positive AND city IN (${city:sqlstring})
            ORDER BY tested_at DESC
            LIMIT 500
            """,
            _pos(12, 9, 12, 9),
        )
    )


# The scorecard functions (schemas/sql/0009_scorecard.sql) over the dashboard's time
# range; an empty sender box is NULL (every sender), folded away at plan time.
_KDE_ARGS = "$__timeFrom(), $__timeTo(), NULLIF(${sender:sqlstring}, '')"
_SHARE = "完整率 share"


def _share_as_percent(panel: table.Panel) -> table.Panel:
    return panel.override_by_name(
        _SHARE, [dm.DynamicConfigValue(id_val="unit", value="percentunit")]
    )


def kde_completeness() -> db.Dashboard:
    sender = (
        db.TextBoxVariable("sender")
        .label("Sender / 发送方")
        .description("one sender's actor id; empty: every sender")
    )
    d = _dashboard(
        "foodtrace-kde-completeness",
        "KDE completeness / 关键数据要素完整性",
        "How completely senders report the FSMA 204 Key Data Elements: an event is "
        "complete when validation found no KDE missing on it. A gap the lot graph "
        "filled in later (derived) still counts against the sender. Days are "
        "Asia/Shanghai days.",
        "now-30d",
    ).with_variable(sender)
    d = d.with_panel(
        stat.Panel()
        .title("Events with every KDE / 要素齐全的事件")
        .datasource(DATASOURCE)
        .grid_pos(_pos(0, 0, 5, 8))
        .unit("percentunit")
        .decimals(1)
        .reduce_options(cb.ReduceDataOptions().values(False).calcs(["lastNotNull"]).fields(""))
        .with_target(
            Sql(
                f"""
                SELECT completeness
                FROM reporting.kde_completeness({_KDE_ARGS})
                WHERE dimension = 'total'
                """
            )
        )
    )
    d = d.with_panel(
        _timeseries(
            "Completeness by day / 每日完整率",
            f"""
            SELECT day_start AS "time", completeness AS "{_SHARE}"
            FROM reporting.kde_completeness_by_day({_KDE_ARGS})
            ORDER BY 1
            """,
            _pos(5, 0, 19, 8),
            "percentunit",
            "Share of each Asia/Shanghai day's events that carried every KDE.",
        )
    )
    d = d.with_panel(
        _share_as_percent(
            _table(
                "Completeness by sender, worst first / 按发送方 (最差在前)",
                f"""
                SELECT c.key AS "发送方 sender", c.events AS "事件 events",
                       c.complete_events AS "齐全 complete", c.completeness AS "{_SHARE}",
                       c.kde_gaps AS "缺失 gaps", g.rule AS "最常缺失 top gap",
                       g.cfr_section AS "CFR 条款 section", g.gaps AS "该项次数 top gap count"
                FROM reporting.kde_completeness({_KDE_ARGS}) c
                LEFT JOIN reporting.kde_top_gaps({_KDE_ARGS}, 1) g ON g.sender_id = c.key
                WHERE c.dimension = 'sender'
                ORDER BY c.completeness, c.events DESC, c.key
                """,
                _pos(0, 8, 24, 9),
                "Events, events with every KDE and their share per sender (actor id), "
                "with the KDE the sender misses most often.",
            )
        )
    )
    d = d.with_panel(
        _share_as_percent(
            _table(
                "Completeness by event type / 按事件类型",
                f"""
                SELECT key AS "事件类型 event type", events AS "事件 events",
                       complete_events AS "齐全 complete", completeness AS "{_SHARE}",
                       kde_gaps AS "缺失 gaps"
                FROM reporting.kde_completeness({_KDE_ARGS})
                WHERE dimension = 'event_type'
                ORDER BY completeness, events DESC, key
                """,
                _pos(0, 17, 12, 8),
            )
        )
    )
    d = d.with_panel(
        _share_as_percent(
            _table(
                "Completeness by food category / 按食品类别",
                f"""
                SELECT c.key AS "食品类别 category", coalesce(fc.name_zh, '') AS "名称 name",
                       c.events AS "事件 events", c.complete_events AS "齐全 complete",
                       c.completeness AS "{_SHARE}", c.kde_gaps AS "缺失 gaps"
                FROM reporting.kde_completeness({_KDE_ARGS}) c
                LEFT JOIN core.food_categories fc ON fc.category = c.key
                WHERE c.dimension = 'category'
                ORDER BY c.completeness, c.events DESC, c.key
                """,
                _pos(12, 17, 12, 8),
                "The category of an event's first product; unknown: that product has no "
                "master data yet.",
            )
        )
    )
    return d.with_panel(
        _table(
            "Most frequent KDE gaps / 主要缺失要素",
            f"""
            SELECT sender_id AS "发送方 sender", rank AS "名次 rank", rule AS "规则 rule",
                   cfr_section AS "CFR 条款 section", gaps AS "次数 count",
                   derived AS "图谱补全 derived", message AS "说明 message"
            FROM reporting.kde_top_gaps({_KDE_ARGS}, 5)
            ORDER BY gaps DESC, sender_id, rank
            LIMIT 500
            """,
            _pos(0, 25, 24, 10),
            "Each sender's five most frequent missing KDEs with their 21 CFR section; "
            "derived: later filled in by the lot graph (still the sender's gap).",
        )
    )


BUILDERS = {
    "emergency": emergency,
    "trace": trace_explorer,
    "ingest": ingest_health,
    "lab_results": lab_results,
    "kde_completeness": kde_completeness,
}


def build_all() -> dict[str, dict[str, Any]]:
    """File name -> dashboard JSON (as a dict) for every dashboard."""
    out = {}
    for key, make in BUILDERS.items():
        model = json.loads(json.dumps(make().build(), cls=JSONEncoder))
        out[DASHBOARD_FILES[key]] = _complete(model)
    return out


def _complete(model: dict[str, Any]) -> dict[str, Any]:
    """Fill in what Grafana expects and the SDK leaves out: panel ids, empty lists."""
    for number, panel in enumerate(model.get("panels", []), start=1):
        panel.setdefault("id", number)
        if panel.get("options") is None:
            panel["options"] = {}
    model.setdefault("annotations", {}).setdefault("list", [])
    model.setdefault("templating", {}).setdefault("list", [])
    return model


def render(model: dict[str, Any]) -> str:
    return json.dumps(model, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check the files are current")
    args = parser.parse_args(argv)
    stale = []
    for name, model in build_all().items():
        path = HERE / name
        text = render(model)
        if args.check:
            if not path.exists() or path.read_text("utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, "utf-8")
            print(f"wrote {path.relative_to(HERE.parent)}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python -m dashboards.build", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
