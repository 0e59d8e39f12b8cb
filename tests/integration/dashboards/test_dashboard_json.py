"""The dashboard files: valid, complete, bound to the provisioned datasource, and
what dashboards/build.py makes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from foodtrace.grafana.model import DASHBOARD_FILES, load_dashboards
from foodtrace.grafana.queries import _MACRO, panel_queries

REPO = Path(__file__).resolve().parents[3]
DASHBOARDS = load_dashboards()
PROVISIONED = yaml.safe_load(
    (REPO / "deploy/grafana/provisioning/datasources/foodtrace.yaml").read_text()
)["datasources"][0]
KNOWN_MACROS = {"__timeFilter", "__timeGroupAlias", "__timeGroup", "__timeFrom", "__timeTo"}


def test_the_five_dashboards_exist_with_distinct_uids_and_titles() -> None:
    assert (
        set(DASHBOARDS)
        == set(DASHBOARD_FILES)
        == {"emergency", "trace", "ingest", "lab_results", "kde_completeness"}
    )
    uids = [d["uid"] for d in DASHBOARDS.values()]
    titles = [d["title"] for d in DASHBOARDS.values()]
    assert len(set(uids)) == len(set(titles)) == 5
    assert {
        "Emergency coordination",
        "Trace explorer",
        "Ingest health",
        "Lab results",
        "KDE completeness / 关键数据要素完整性",
    } == set(titles)


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

    for name, model in build_all().items():
        on_disk = (REPO / "dashboards" / name).read_text("utf-8")
        assert on_disk == render(model), f"{name} is stale: run python -m dashboards.build"
