"""The report page: a view of ReportData (pure) rendered through incident.html.j2.

jinja2 autoescapes everything the template prints (names, notes, CAP XML come from
senders and must not become markup); the SVG of the graph and the map is written
by the template from numbers computed here, never pasted in as a string.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib.resources import files
from typing import Any

import jinja2

from foodtrace.report import geo, graph, labels
from foodtrace.report.cities import LABEL_POINTS, OUTLINE, city_label
from foodtrace.report.collect import ReportData

TEMPLATE = "incident.html.j2"


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(
            lambda name: files("foodtrace.report").joinpath(name).read_text("utf-8")
        ),
        autoescape=True,  # every {{ }} is HTML-escaped, in the SVG as in the page
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["t"] = labels.local_time
    env.filters["num"] = labels.number
    return env


def render(data: ReportData) -> str:
    """The whole page, one self-contained HTML string."""
    return _environment().get_template(TEMPLATE).render(**view(data))


def view(data: ReportData) -> dict[str, Any]:
    """Everything the template prints, already laid out (pure)."""
    a = data.alert
    affected_lots = [x["lot_code"] for x in a.get("affected_lots", [])]
    lots = graph.lots_of_trace(data.trace) if data.trace else [_untraced_lot(a)]
    drawn = graph.layout(lots, affected=affected_lots)
    places = places_of(a)
    projection = geo.projection_for()
    return {
        "a": a,
        "title": _title(a),
        "facts": facts(a),
        "severity": f"{labels.zh(labels.SEVERITY, a.get('severity'))} {a.get('severity')}",
        "status": f"{labels.zh(labels.STATUS, a.get('status'))} {a.get('status')}",
        "flags": flags(data, places, drawn),
        "versions": versions(data),
        "graph": drawn,
        "map": map_view(places, a.get("affected_cities", []), projection),
        "places": places,
        "lots": [_with_keys(x, _LOT_KEYS) for x in a.get("affected_lots", [])],
        "sources": [_with_keys(x, _SOURCE_KEYS) for x in a.get("source_lots", [])],
        "findings": [
            {**f.to_json(), "severity_zh": labels.zh(labels.FINDING_SEVERITY, f.severity)}
            for f in data.findings
        ],
        "messages": [
            {
                "m": m,
                "city": city_label(m.city),
                "msg_type_zh": labels.zh(labels.MSG_TYPE, m.msg_type),
            }
            for m in data.messages
        ],
        "generated_at": data.generated_at,
    }


def _title(a: Mapping[str, Any]) -> tuple[str, str]:
    analyte = a.get("analyte")
    return (
        f"食品安全事件报告：批次 {a.get('lot_code')} {labels.zh(labels.ANALYTE, analyte)}",
        f"Food-safety incident report: lot {a.get('lot_code')}, {analyte}",
    )


def facts(a: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(Chinese label, English label, value) of the alert's main fields."""
    cat_zh, cat_en = labels.category(a.get("category"))
    limit = f"{labels.number(a.get('limit'))} {a.get('limit_unit') or ''}".strip()
    if a.get("limit_verified") is False:
        limit += "（限量未与标准原文核对 limit not verified against the standard text）"
    measured = f"{labels.number(a.get('value'))} {a.get('unit') or ''}".strip()
    if a.get("result"):
        measured += f" ({a['result']})"
    return [
        ("告警编号", "Alert ID", str(a.get("alert_id"))),
        ("版本", "Version", str(a.get("version"))),
        ("级别", "Severity", f"{labels.zh(labels.SEVERITY, a.get('severity'))} {a.get('severity')}"),
        ("状态", "Status", f"{labels.zh(labels.STATUS, a.get('status'))} {a.get('status')}"),
        ("批次", "Lot", str(a.get("lot_code"))),
        ("产品", "Product", f"{a.get('product_code') or '—'} {a.get('product_name') or ''}".strip()),
        ("食品类别", "Food category", f"{cat_zh} {cat_en}"),
        ("检测项目", "Analyte", f"{labels.zh(labels.ANALYTE, a.get('analyte'))} {a.get('analyte')}"),
        ("检测值", "Measured", measured),
        ("限量", "Limit", limit),
        ("检测类型", "Test", f"{labels.zh(labels.TEST_KIND, a.get('test_kind'))} "
                             f"{a.get('test_kind')}, {a.get('method') or ''}".strip(", ")),
        ("检测机构 / 样品", "Lab / sample", f"{a.get('lab_id')} / {a.get('sample_id')}"),
        ("抽样地点", "Sampled at", str(a.get("sampled_location_id") or "—")),
        ("检测时间", "Tested", labels.local_time(a.get("tested_at"))),
        ("发出时间", "Raised", labels.local_time(a.get("raised_at"))),
        ("更新时间", "Updated", labels.local_time(a.get("updated_at"))),
        ("判定", "Finding", str(a.get("reason") or "—")),
        ("涉及城市", "Affected cities", " ".join(
            f"{city_label(c)[0]} {city_label(c)[1]}" for c in a.get("affected_cities", [])) or "—"),
    ]


def flags(data: ReportData, places: list[dict[str, Any]], drawn: graph.Layout) -> list[str]:
    """What the reader must know the answer may lack (missing data widens and flags)."""
    a = data.alert
    out = []
    if a.get("lot_traced") is False or data.trace is None:
        out.append("批次尚未进入追溯图：范围暂为抽样地点及其城市，后续数据到达后告警将更新。"
                   " The lot is not in the lot graph yet: the scope is the sampled place and its "
                   "city until its events arrive; the alert will follow them.")
    if a.get("depth_capped") or (data.trace and data.trace.depth_capped):
        out.append("追溯深度达到上限，可能还有更多批次。 The trace reached its depth cap: there may "
                   "be more lots than shown.")
    if a.get("limit_verified") is False:
        out.append("限量未与标准原文核对。 The limit is not verified against the standard text.")
    unknown = [p["location_id"] for p in places if not p.get("city")]
    if unknown:
        out.append(f"{len(unknown)} 个地点缺少主数据（城市未知）：{', '.join(unknown[:10])}。 "
                   f"{len(unknown)} place(s) lack master data (city unknown).")
    off_map = [p["location_id"] for p in places if not p["on_map"]]
    if off_map:
        out.append(f"{len(off_map)} 个地点无坐标或在地图范围外，未画在地图上，见地点表。 "
                   f"{len(off_map)} place(s) have no coordinates or lie off the map: listed in "
                   "the places table only.")
    if drawn.left_out:
        out.append(f"追溯图只画出前 {len(drawn.nodes)} 个批次，另有 {drawn.left_out} 个见批次表。 "
                   f"The graph draws the first {len(drawn.nodes)} lots; {drawn.left_out} more are "
                   "in the tables.")
    open_findings = [f for f in data.findings if f.resolution is None]
    if open_findings:
        out.append(f"追溯所用事件中有 {len(open_findings)} 项未解决的数据问题，见“发现”。 "
                   f"{len(open_findings)} open finding(s) on the trace's events: see Findings.")
    if a.get("status") == "closed":
        out.append("告警已关闭：追溯图为当前数据，地点表为关闭时的告警版本。 The alert is closed: the "
                   "graph shows today's data, the places table the alert's last version.")
    return out


def versions(data: ReportData) -> list[dict[str, Any]]:
    """The alert's history, each change with the CAP messages of its version."""
    by_version: dict[int, list[Any]] = {}
    for m in data.messages:
        by_version.setdefault(m.version, []).append(m)
    out = []
    shown: set[int] = set()
    for h in data.history:
        changes = (h.get("detail") or {}).get("changes") or {}
        # the messages of a version go with the change that made it, not with a later
        # acknowledgement or note on the same version
        told = by_version.get(h["version"], []) if h["version"] not in shown else []
        shown.add(h["version"])
        out.append(
            {
                **h,
                "action_zh": labels.zh(labels.ACTION, h["action"]),
                "status_zh": labels.zh(labels.STATUS, h["to_status"]),
                "added": changes.get("added", {}),
                "removed": changes.get("removed", {}),
                "caused_by": len(changes.get("caused_by", [])),
                "told": [(city_label(m.city), m.msg_type) for m in told],
            }
        )
    return out


def places_of(a: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Affected and source places, one row each, numbered as on the map."""
    rows: dict[str, dict[str, Any]] = {}
    for name, role in (("affected_locations", "affected"), ("source_locations", "source")):
        for p in a.get(name, []):
            row = rows.setdefault(
                p["location_id"], {**_with_keys(p, _PLACE_KEYS), "roles": [], "holdings": []}
            )
            row["roles"].append(role)
            row["holdings"] = row["holdings"] or p.get("holdings", [])
    projection = geo.projection_for()
    out = []
    for i, p in enumerate(sorted(rows.values(), key=lambda r: (r.get("city") or "~",
                                                                r["location_id"])), 1):
        lat, lon = p.get("lat"), p.get("lon")
        on_map = lat is not None and lon is not None and projection.contains(lon, lat)
        xy = None
        if on_map and lat is not None and lon is not None:  # (on_map implies both)
            xy = projection.project(lon, lat)
        totals: dict[tuple[str, str], float] = {}  # (role, unit) -> quantity
        for h in p["holdings"]:
            if h.get("quantity") is not None:
                key = (h.get("role") or "", h.get("unit") or "")
                totals[key] = totals.get(key, 0) + h["quantity"]
        out.append(
            {
                **p,
                "n": i,
                "city_names": city_label(p.get("city")),
                "kind_zh": labels.zh(labels.KIND, p.get("kind")),
                "on_map": on_map,
                "xy": xy,
                # per role, not summed across roles: a receipt and its packing are one food
                "held": [
                    f"{labels.zh(labels.ROLE, role)} {role} {labels.number(q)} {unit}".strip()
                    for (role, unit), q in sorted(totals.items(), key=_role_order)
                ],
                "lines": [
                    {**_with_keys(h, _HOLDING_KEYS), "role_zh": labels.zh(labels.ROLE, h.get("role"))}
                    for h in p["holdings"]
                ],
            }
        )
    return out


# The keys the template reads from the alert JSON: an older or partial alert that
# lacks one shows a blank there instead of failing the whole page.
_LOT_KEYS = ("lot_code", "product_code", "depth", "reached_from", "quantity", "unit")
_SOURCE_KEYS = ("lot_code", "product_code", "location_id", "quantity", "unit")
_PLACE_KEYS = ("location_id", "name", "kind", "city", "lat", "lon")
_HOLDING_KEYS = ("lot_code", "role", "quantity", "unit", "event_time",
                 "counterparty_location_id")


def _with_keys(entry: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {**dict.fromkeys(keys), **entry}


_ROLE_ORDER = ("created", "transformed_from", "packed", "cooled", "received", "shipped_to",
               "shipped_from", "transformed_into", "sold", "sampled")


def _role_order(item: tuple[tuple[str, str], float]) -> tuple[int, str]:
    (role, unit), _quantity = item
    rank = _ROLE_ORDER.index(role) if role in _ROLE_ORDER else len(_ROLE_ORDER)
    return (rank, unit)


def map_view(places: list[dict[str, Any]], affected_cities: list[str],
             projection: geo.Projection) -> dict[str, Any]:
    cells = geo.city_cells()
    return {
        "width": round(projection.width, 1),
        "height": round(projection.height, 1),
        "outline": geo.svg_path(list(OUTLINE), projection),
        "borders": geo.svg_segments(geo.city_borders(cells), projection),
        "cells": [
            {
                "city": city,
                "names": city_label(city),
                "path": geo.svg_paths(polygons, projection),
                "label_xy": projection.project(*LABEL_POINTS[city]),
                "shade": i % 3,
                "affected": city in affected_cities,
            }
            for i, (city, polygons) in enumerate(sorted(cells.items()))
        ],
        "points": [p for p in places if p["on_map"]],
    }


def _untraced_lot(a: Mapping[str, Any]) -> graph.GraphLot:
    return graph.GraphLot(str(a.get("lot_code")), 0, None, a.get("product_code"), None, None,
                          "self", False)
