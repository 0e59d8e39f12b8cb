"""The dashboard files: valid, complete, bound to the provisioned datasource, and
what dashboards/build.py makes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from foodtrace.grafana.labels import COLUMNS, city_name
from foodtrace.grafana.model import DASHBOARD_FILES, load_dashboards
from foodtrace.grafana.queries import _MACRO, panel_queries

REPO = Path(__file__).resolve().parents[3]
DASHBOARDS = load_dashboards()  # the default language: zh-CN
ENGLISH = load_dashboards("en")
PROVISIONED = yaml.safe_load(
    (REPO / "deploy/grafana/provisioning/datasources/foodtrace.yaml").read_text()
)["datasources"][0]
KNOWN_MACROS = {"__timeFilter", "__timeGroupAlias", "__timeGroup", "__timeFrom", "__timeTo"}


def test_the_six_dashboards_exist_in_both_languages_with_distinct_uids_and_titles() -> None:
    keys = {"emergency", "trace", "ingest", "lab_results", "kde_completeness", "withdrawals"}
    assert set(DASHBOARDS) == set(ENGLISH) == set(DASHBOARD_FILES) == keys
    uids = [d["uid"] for d in [*DASHBOARDS.values(), *ENGLISH.values()]]
    assert len(set(uids)) == 12  # both can be provisioned side by side
    assert {d["title"] for d in DASHBOARDS.values()} == {
        "应急协调",
        "追溯查询",
        "数据接入与流水线",
        "检测结果",
        "KDE completeness / 关键数据要素完整性",
        "召回进度",
    }
    assert {d["title"] for d in ENGLISH.values()} == {
        "Emergency coordination",
        "Trace explorer",
        "Ingest health",
        "Lab results",
        "KDE completeness / 关键数据要素完整性",
        "Withdrawal progress",
    }


@pytest.mark.parametrize("key", sorted(DASHBOARDS))
def test_the_languages_differ_only_in_what_people_read(key: str) -> None:
    """One definition: same panels, same SQL (so queries tested once hold for both),
    Chinese titles and column names in zh-CN, English ones in en."""
    zh, en = DASHBOARDS[key], ENGLISH[key]
    assert [(q.ref_id, q.raw_sql) for q in panel_queries(zh) if "name_zh ||" not in q.raw_sql] == [
        (q.ref_id, q.raw_sql) for q in panel_queries(en) if "name_en ||" not in q.raw_sql
    ]
    for zp, ep in zip(zh["panels"], en["panels"], strict=True):
        assert zp["type"] == ep["type"] and zp["gridPos"] == ep["gridPos"]
        assert _has_chinese(zp["title"]), zp["title"]
        zh_names = _display_names(zp)
        en_names = _display_names(ep)
        assert zh_names.keys() == en_names.keys()
        for column, shown in zh_names.items():
            if column in COLUMNS:
                assert (shown, en_names[column]) == COLUMNS[column]


def test_city_names_are_shown_in_the_language() -> None:
    var = next(v for v in DASHBOARDS["emergency"]["templating"]["list"] if v["name"] == "city")
    assert "广州 : guangzhou" in var["query"] and "其他 : other" in var["query"]
    table = next(p for p in DASHBOARDS["emergency"]["panels"] if p["type"] == "table")
    (city,) = [o for o in table["fieldConfig"]["overrides"] if o["matcher"]["options"] == "city"]
    mapping = next(p["value"] for p in city["properties"] if p["id"] == "mappings")
    assert mapping[0]["options"]["shenzhen"] == {"text": "深圳"}
    assert city_name("zhaoqing", "en") == "Zhaoqing" and city_name("other", "zh-CN") == "其他"


def test_time_series_dashboards_carry_alert_annotations() -> None:
    for key in ("emergency", "ingest", "lab_results", "withdrawals"):
        (annotation,) = DASHBOARDS[key]["annotations"]["list"]
        assert annotation["enable"] and annotation["datasource"]["uid"] == PROVISIONED["uid"]
        sql = annotation["target"]["rawSql"]
        for column in ('AS "time"', "AS title", "AS text", "AS tags"):
            assert column in sql
        assert "$__timeFilter(raised_at)" in sql


def test_the_trace_has_a_node_graph_with_grafanas_frame_names() -> None:
    (graph,) = [p for p in DASHBOARDS["trace"]["panels"] if p["type"] == "nodeGraph"]
    targets = {t["refId"]: t["rawSql"] for t in graph["targets"]}
    assert set(targets) == {"nodes", "edges"}
    for field in ("AS id", "AS title", "AS subtitle", "AS mainstat", "AS secondarystat",
                  "AS color", "AS detail__"):
        assert field in targets["nodes"]
    for field in ("AS id", "AS source", "AS target", "AS mainstat", "AS detail__"):
        assert field in targets["edges"]
    assert "core.trace_graph_nodes(${lot:sqlstring})" in targets["nodes"]
    assert "core.trace_graph_edges(${lot:sqlstring})" in targets["edges"]
    assert not graph["fieldConfig"]["overrides"]  # no display names over Grafana's fields


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def _display_names(panel: dict) -> dict[str, str]:
    return {
        o["matcher"]["options"]: p["value"]
        for o in panel.get("fieldConfig", {}).get("overrides", [])
        for p in o["properties"]
        if p["id"] == "displayName"
    }


@pytest.mark.parametrize("key", sorted(DASHBOARDS))
def test_every_panel_queries_the_provisioned_datasource(key: str) -> None:
    dashboard = DASHBOARDS[key]
    assert dashboard["uid"] and dashboard["title"] and dashboard["panels"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(set(ids)) == len(ids)
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": PROVISIONED["type"], "uid": PROVISIONED["uid"]}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == PROVISIONED["uid"]
            assert target["refId"]
            assert target["rawQuery"] and target["rawSql"].strip()
            assert target["format"] in ("table", "time_series")
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0


@pytest.mark.parametrize("key", sorted(DASHBOARDS))
def test_queries_use_only_macros_grafana_knows_and_read_only_sql(key: str) -> None:
    for query in panel_queries(DASHBOARDS[key]):
        for name, args in _MACRO.findall(query.raw_sql):
            assert name in KNOWN_MACROS, (query.panel_title, name)
            assert "(" not in args  # Grafana's macro parser stops at the first ')'
        first_word = query.raw_sql.lstrip().split(None, 1)[0].upper()
        assert first_word in ("SELECT", "WITH"), query.panel_title
        if "${lot" in query.raw_sql:
            assert "${lot:sqlstring}" in query.raw_sql and "'${lot" not in query.raw_sql


def test_geomaps_read_lat_and_lon_columns() -> None:
    maps = [p for d in DASHBOARDS.values() for p in d["panels"] if p["type"] == "geomap"]
    assert len(maps) == 2
    for panel in maps:
        (layer,) = panel["options"]["layers"]
        assert layer["location"] == {"mode": "coords", "latitude": "lat", "longitude": "lon"}
        sql = panel["targets"][0]["rawSql"]
        assert " lat," in sql and " lon," in sql


def test_json_files_are_what_the_builder_makes() -> None:
    if importlib.util.find_spec("grafana_foundation_sdk") is None:
        pytest.skip("grafana-foundation-sdk is not installed (a development dependency)")
    from foodtrace.dashboards.build import build_all, render

    built = build_all()
    assert {n for n in built if "/" not in n} == set(DASHBOARD_FILES.values())
    assert {n for n in built if n.startswith("en/")} == {
        f"en/{n}" for n in DASHBOARD_FILES.values()
    }
    for name, model in built.items():
        on_disk = (REPO / "dashboards" / name).read_text("utf-8")
        assert on_disk == render(model), f"{name} is stale: run python -m dashboards.build"
