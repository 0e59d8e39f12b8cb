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
import re
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

from foodtrace.grafana.labels import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    city_name,
    column_label,
    translate,
)
from foodtrace.grafana.model import (
    DASHBOARD_FILES,
    DATASOURCE_TYPE,
    DATASOURCE_UID,
    dashboard_path,
)
from foodtrace.reference import CITY_CODES

HERE = Path(__file__).resolve().parent
DATASOURCE = dm.DataSourceRef(type_val=DATASOURCE_TYPE, uid=DATASOURCE_UID)
TAGS = ["foodtrace"]


class _Language:
    """The language being built (build_all sets it; the builders read it)."""

    code = DEFAULT_LANGUAGE


LANGUAGE = _Language()


def _t(text: str) -> str:
    return translate(text, LANGUAGE.code)


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
        .title(_t(title))
        .description(_t(description))
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
        .title(_t(title))
        .description(_t(description))
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
        .title(_t(title))
        .description(_t(description))
        .datasource(DATASOURCE)
        .grid_pos(pos)
        .view(view)
        .basemap(cb.MapLayerOptions().type("default").name("Basemap"))
        .layers([markers])
        .with_target(Sql(sql, "table"))
    )


def _city_variable() -> db.CustomVariable:
    everything = dm.VariableOption(text=_t("All"), value="$__all", selected=True)
    return (
        db.CustomVariable("city")
        .label(_t("City"))
        # "text : value": the city's name shown, its code in the SQL
        .values(",".join(f"{city_name(c, LANGUAGE.code)} : {c}" for c in CITY_CODES))
        .multi(True)
        .include_all(True)
        .current(everything)
    )


def _silent_hours_variable() -> db.CustomVariable:
    six = dm.VariableOption(text="6", value="6", selected=True)
    return (
        db.CustomVariable("silent_hours")
        .label(_t("Silent after (hours)"))
        .description(_t("a lab or station with no result for this many hours is listed as silent"))
        .values("1,3,6,12,24,48,72")
        .current(six)
    )


def _dashboard(uid: str, title: str, description: str, time_from: str) -> db.Dashboard:
    return (
        db.Dashboard(_t(title))
        .uid(uid if LANGUAGE.code == "zh-CN" else f"{uid}-en")
        .description(_t(description))
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
        .title(_t("Open alerts"))
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
    lot = db.TextBoxVariable("lot").label(_t("Lot code")).description(_t("traceability lot code"))
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
                   sum(lag_avg_s * coalesce(lag_count, received))
                       FILTER (WHERE lag_avg_s IS NOT NULL)
                   / nullif(sum(coalesce(lag_count, received))
                       FILTER (WHERE lag_avg_s IS NOT NULL), 0) AS lag_avg,
                   max(lag_max_s) AS lag_max
            FROM ops.ingest_stats
            WHERE $__timeFilter(ts)
            GROUP BY 1
            ORDER BY 1
            """,
            _pos(0, 18, 12, 8),
            "s",
            "Average: total lag / messages over every batch of the interval (each batch "
            "weighed by its messages), not the average of batch averages.",
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
    ).with_panel(
        _table(
            "Pipeline steps by DAG",
            """
            SELECT coalesce(dag_id, 'direct') AS dag_id, step, count(*) AS runs,
                   count(*) FILTER (WHERE state = 'failed') AS failed,
                   (array_agg(state ORDER BY started_at DESC))[1] AS last_state,
                   max(started_at) AS last_run,
                   round(avg(extract(epoch FROM finished_at - started_at))::numeric, 2)
                       AS avg_duration_s,
                   round(max(extract(epoch FROM finished_at - started_at))::numeric, 2)
                       AS max_duration_s
            FROM ops.pipeline_runs
            WHERE $__timeFilter(started_at)
            GROUP BY 1, 2
            ORDER BY failed DESC, last_run DESC
            """,
            _pos(0, 51, 12, 8),
            "Runs, failures, last state and durations per DAG and step in the time range.",
        )
    ).with_panel(
        _timeseries(
            "Pipeline step durations",
            """
            SELECT $__timeGroupAlias(started_at, $__interval), step AS metric,
                   max(extract(epoch FROM finished_at - started_at)) AS duration_s
            FROM ops.pipeline_runs
            WHERE $__timeFilter(started_at)
            GROUP BY 1, 2
            ORDER BY 1
            """,
            _pos(12, 51, 12, 8),
            "s",
        )
    ).with_panel(
        _table(
            "Pipeline step runs",
            """
            SELECT started_at, coalesce(dag_id, 'direct') AS dag_id, step, state, mode,
                   round(extract(epoch FROM finished_at - started_at)::numeric, 3)
                       AS duration_s,
                   dag_run_id, task_id, try_number, error, host, pid
            FROM ops.pipeline_runs
            WHERE $__timeFilter(started_at)
            ORDER BY started_at DESC
            LIMIT 500
            """,
            _pos(0, 59, 24, 9),
            "Every run of a pipeline step (validate, link, alert, withdrawals) as the step "
            "recorded it in ops.pipeline_runs: under Airflow with its DAG, run and task, "
            "or direct (foodtrace pipeline run --direct).",
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
    ).with_variable(_city_variable()).with_variable(_silent_hours_variable())
    d = d.with_panel(
        _table(
            "Labs and stations that stopped reporting",
            """
            SELECT r.lab_id,
                   CASE WHEN bool_and(r.test_kind = 'rapid') THEN 'station' ELSE 'lab' END
                       AS station_kind,
                   max(r.tested_at) AS last_result,
                   round((extract(epoch FROM now() - max(r.tested_at)) / 3600)::numeric, 1)
                       AS silent_h,
                   count(*) AS results
            FROM core.lab_results r
            GROUP BY r.lab_id
            HAVING max(r.tested_at) < now() - make_interval(
                       hours => ${silent_hours:sqlstring}::integer)
            ORDER BY last_result
            LIMIT 500
            """,
            _pos(0, 18, 24, 8),
            "Every lab and rapid-test station that has reported before and has sent no result "
            "for more than the chosen number of hours (variable silent_hours), longest "
            "silent first. Not limited to the time range: a long silence must show.",
        )
    )
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

# City code -> both names, in SQL: the same query in both languages; each
# language's dashboard shows its own column (name_zh / name_en).
_CITY_NAMES = (
    "(VALUES "
    + ", ".join(
        f"('{c}', '{city_name(c, 'zh-CN')}', '{city_name(c, 'en')}')" for c in CITY_CODES
    )
    + ") AS cn (city, name_zh, name_en)"
)


def withdrawals() -> db.Dashboard:
    d = _dashboard(
        "foodtrace-withdrawals",
        "Withdrawal progress",
        "Withdrawal notices of open alerts per city: the share of the held quantity "
        "withdrawn or accounted for, the businesses that are overdue with their "
        "contact details, and how much is still out there. Figures as `foodtrace "
        "withdrawals` gives them (reporting.withdrawal_progress_by_city).",
        "now-7d",
    ).with_variable(_city_variable())
    d = d.with_panel(
        _table(
            "Notices per alert and city",
            """
            SELECT a.lot_code, a.severity, p.city, p.notices, p.answered, p.overdue,
                   p.open, p.verified, p.held, p.done, p.unit, p.share, p.alert_id
            FROM reporting.withdrawal_progress_by_city p
            JOIN core.alerts a ON a.alert_id = p.alert_id
            WHERE a.status <> 'closed' AND p.city IN (${city:sqlstring})
            ORDER BY p.share NULLS FIRST, p.overdue DESC, p.city
            """,
            _pos(12, 0, 12, 10),
        )
    )
    d = d.with_panel(
        _table(
            "Overdue businesses",
            """
            SELECT coalesce(n.city, l.city, 'other') AS city, n.actor_id,
                   coalesce(l.business_name, l.name) AS business_name,
                   l.phone, l.address,
                   n.location_id, n.deadline, now() - n.deadline AS overdue_for, n.action,
                   a.lot_code, n.notice_id
            FROM core.withdrawal_notices n
            JOIN core.alerts a ON a.alert_id = n.alert_id
            LEFT JOIN core.locations l ON l.location_id = n.location_id
            -- a notice issued before its place's master data came has no city of its
            -- own: the place's city once known, as the progress views (0020) count it
            WHERE n.state = 'overdue' AND a.status <> 'closed'
              AND coalesce(n.city, l.city, 'other') IN (${city:sqlstring})
            ORDER BY n.deadline, 1, n.actor_id
            LIMIT 1000
            """,
            _pos(0, 10, 24, 9),
            "Businesses whose notice passed its deadline without a withdrawal, with the "
            "contact details of their master data (business name, phone, address).",
        )
    )
    return d.with_panel(
        _timeseries(
            "Quantity still out there",
            """
            SELECT at AS "time", unit AS metric, out_there
            FROM (SELECT c.at, c.unit,
                         sum(sum(c.delta)) OVER (PARTITION BY c.unit ORDER BY c.at) AS out_there
                  FROM reporting.withdrawal_outstanding_changes c
                  JOIN core.alerts a ON a.alert_id = c.alert_id
                  WHERE a.status <> 'closed' AND c.city IN (${city:sqlstring})
                  GROUP BY c.at, c.unit) o
            WHERE at <= $__timeTo()
            ORDER BY 1
            """,
            _pos(0, 19, 24, 9),
            "short",
            "Held quantity of the live notices minus what was withdrawn or accounted for, "
            "per unit, over time.",
        )
    )


def _withdrawal_bars() -> dict[str, Any]:
    """Per city (and alert) progress bars: the bar gauge the SDK has no simple builder for."""
    name = "name_zh" if LANGUAGE.code == "zh-CN" else "name_en"
    sql = f"""
        SELECT cn.{name} || ' · ' || a.lot_code AS bar, p.share
        FROM reporting.withdrawal_progress_by_city p
        JOIN core.alerts a ON a.alert_id = p.alert_id
        LEFT JOIN {_CITY_NAMES} ON cn.city = p.city
        WHERE a.status <> 'closed' AND p.city IN (${{city:sqlstring}})
        ORDER BY p.share NULLS FIRST, p.city
        """
    return {
        "type": "bargauge",
        "title": _t("Progress by city"),
        "description": _t(
            "Share of the held quantity withdrawn or accounted for, per city and alert "
            "(empty when a city's lots are in several units: see the table)."
        ),
        "datasource": DATASOURCE.to_json(),
        "gridPos": {"x": 0, "y": 0, "w": 12, "h": 10},
        "fieldConfig": {
            "defaults": {
                "unit": "percentunit",
                "min": 0,
                "max": 1,
                "displayName": "${__data.fields.bar}",
                "thresholds": {
                    "mode": "absolute",
                    "steps": [
                        {"color": "red", "value": None},
                        {"color": "orange", "value": 0.5},
                        {"color": "green", "value": 0.95},
                    ],
                },
            },
            "overrides": [],
        },
        "options": {
            "orientation": "horizontal",
            "displayMode": "gradient",
            "showUnfilled": True,
            "reduceOptions": {"values": True, "calcs": [], "fields": "/^share$/"},
        },
        "targets": [Sql(sql).build().to_json()],
    }


def _lot_graph() -> dict[str, Any]:
    """The trace as Grafana's node graph: a nodes frame (id, title, subtitle,
    mainstat, secondarystat, color, detail__*) and an edges frame (id, source,
    target, mainstat, detail__*), both from the trace graph functions (0018)."""
    nodes = Sql(
        """
        SELECT lot_code AS id, lot_code AS title,
               coalesce(product_name, product_code, '') AS subtitle,
               coalesce(quantity::text || ' ' || coalesce(unit, ''), '') AS mainstat,
               CASE direction WHEN 'self' THEN '本批次 this lot'
                    WHEN 'upstream' THEN '上游 upstream ' || abs(depth)::text
                    ELSE '下游 downstream ' || depth::text END AS secondarystat,
               CASE direction WHEN 'self' THEN 'red' WHEN 'upstream' THEN 'blue'
                    ELSE 'orange' END AS color,
               direction AS detail__direction, depth AS detail__depth,
               is_root AS detail__source_lot, depth_capped AS detail__depth_capped
        FROM core.trace_graph_nodes(${lot:sqlstring})
        ORDER BY depth, lot_code
        """,
        ref_id="nodes",
    )
    edges = Sql(
        """
        SELECT parent_lot || '->' || child_lot AS id, parent_lot AS source,
               child_lot AS target,
               coalesce(input_quantity::text || ' ' || coalesce(input_unit, ''), '') AS mainstat,
               events AS detail__events, first_event_time AS detail__first_event_time,
               location_ids AS detail__locations
        FROM core.trace_graph_edges(${lot:sqlstring})
        ORDER BY source, target
        """,
        ref_id="edges",
    )
    return {
        "type": "nodeGraph",
        "title": _t("Lot graph of ${lot}"),
        "description": _t(
            "Upstream (blue), the lot (red) and downstream (orange) lots, with the "
            "transformations between them: core.trace_graph_nodes / trace_graph_edges, "
            "which walk the graph with the trace functions."
        ),
        "datasource": DATASOURCE.to_json(),
        "gridPos": {"x": 0, "y": 37, "w": 24, "h": 14},
        "fieldConfig": {"defaults": {}, "overrides": []},
        "options": {"nodes": {}, "edges": {}},
        "targets": [nodes.build().to_json(), edges.build().to_json()],
    }


# Panels written as JSON (types the SDK builders do not cover well), per dashboard.
RAW_PANELS = {"trace": [_lot_graph], "withdrawals": [_withdrawal_bars]}
# Time-series dashboards: alerts are drawn on them as annotations.
ANNOTATED = ("emergency", "ingest", "lab_results", "withdrawals")


def _alert_annotation() -> dict[str, Any]:
    sql = """
        SELECT raised_at AS "time",
               '告警 alert ' || severity || ': ' || analyte || ' / ' || lot_code AS title,
               severity || ' · ' || analyte || ' · ' || lot_code || ' · ' || status
                   || ' · v' || version::text AS text,
               'foodtrace,alert,' || severity || ',' || status AS tags
        FROM core.alerts
        WHERE $__timeFilter(raised_at)
        ORDER BY raised_at
        """
    return {
        "name": _t("Alerts"),
        "enable": True,
        "iconColor": "red",
        "datasource": DATASOURCE.to_json(),
        "target": Sql(sql, ref_id="alerts").build().to_json(),
    }


BUILDERS = {
    "emergency": emergency,
    "trace": trace_explorer,
    "ingest": ingest_health,
    "lab_results": lab_results,
    "kde_completeness": kde_completeness,
    "withdrawals": withdrawals,
}


def build_language(language: str) -> dict[str, dict[str, Any]]:
    """Dashboard key -> dashboard JSON (as a dict) in `language`."""
    LANGUAGE.code = language
    try:
        out = {}
        for key, make in BUILDERS.items():
            model = json.loads(json.dumps(make().build(), cls=JSONEncoder))
            model["panels"] = model.get("panels", []) + [raw() for raw in RAW_PANELS.get(key, [])]
            if key in ANNOTATED:
                model.setdefault("annotations", {}).setdefault("list", []).append(
                    _alert_annotation()
                )
            out[key] = _complete(model, language)
        return out
    finally:
        LANGUAGE.code = DEFAULT_LANGUAGE


def build_all() -> dict[str, dict[str, Any]]:
    """Path under dashboards/ -> dashboard JSON, for every dashboard and language."""
    return {
        dashboard_path(DASHBOARD_FILES[key], language): model
        for language in LANGUAGES
        for key, model in build_language(language).items()
    }


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _complete(model: dict[str, Any], language: str) -> dict[str, Any]:
    """Fill in what Grafana expects and the SDK leaves out (panel ids, empty lists),
    and show columns and city codes in `language` (display-name overrides and value
    mappings: the SQL stays the same in every language)."""
    for number, panel in enumerate(model.get("panels", []), start=1):
        panel.setdefault("id", number)
        if panel.get("options") is None:
            panel["options"] = {}
        if panel.get("type") != "nodeGraph":  # the node graph needs its field names
            _localise_fields(panel, language)
    model.setdefault("annotations", {}).setdefault("list", [])
    model.setdefault("templating", {}).setdefault("list", [])
    return model


def _localise_fields(panel: dict[str, Any], language: str) -> None:
    words = {w for t in panel.get("targets", []) for w in _WORD.findall(t.get("rawSql", ""))}
    overrides = panel.setdefault("fieldConfig", {}).setdefault("overrides", [])
    taken = {o["matcher"]["options"] for o in overrides if o.get("matcher", {}).get("id") == "byName"}
    for column in sorted(words - taken):
        label = column_label(column, language)
        if label is None:
            continue
        properties: list[dict[str, Any]] = [{"id": "displayName", "value": label}]
        if column == "share" and panel.get("type") == "table":
            properties.append({"id": "unit", "value": "percentunit"})
        if column == "city":
            mapping = {c: {"text": city_name(c, language)} for c in CITY_CODES}
            properties.append({"id": "mappings", "value": [{"type": "value", "options": mapping}]})
        overrides.append({"matcher": {"id": "byName", "options": column}, "properties": properties})
    if "city" in words and any(t.get("format") == "time_series" for t in panel["targets"]):
        # series named by a city code ("metric" column) show the city's name
        for city in CITY_CODES:
            overrides.append(
                {
                    "matcher": {"id": "byName", "options": city},
                    "properties": [{"id": "displayName", "value": city_name(city, language)}],
                }
            )


def render(model: dict[str, Any]) -> str:
    return json.dumps(model, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check the files are current")
    args = parser.parse_args(argv)
    stale = []
    for name, model in build_all().items():
        path = HERE / name
        path.parent.mkdir(exist_ok=True)
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
