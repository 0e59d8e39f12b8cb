"""`foodtrace grafana check`: every dashboard query against FOODTRACE_DATABASE_URL."""

from __future__ import annotations

import json

import pytest
from dash_seed import Seeded

from foodtrace.cli.main import main
from foodtrace.grafana.model import load_dashboards
from foodtrace.grafana.queries import panel_queries

ALL_QUERIES = sum(len(panel_queries(d)) for d in load_dashboards().values())


def test_check_passes_on_the_migrated_schema(
    seeded_db: tuple[str, Seeded], monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("FOODTRACE_DATABASE_URL", seeded_db[0])
    code = main(["grafana", "check", "--json", "--hours", "168", "--lot", seeded_db[1].farm_lot])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["failed"] == 0
    assert len(report["queries"]) == ALL_QUERIES
    assert all(q["rows"] > 0 for q in report["queries"])


def test_check_fails_where_the_schema_is_missing(
    empty_db_url: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("FOODTRACE_DATABASE_URL", empty_db_url)
    assert main(["grafana", "check"]) == 1
    out = capsys.readouterr().out
    assert f"0 of {ALL_QUERIES} queries ran" in out and "UndefinedTable" in out
