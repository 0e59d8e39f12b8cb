"""Which DAG files `foodtrace pipeline run` runs: the ones shipped in the package
(foodtrace.dags) unless --dags-folder or FOODTRACE_DAGS_FOLDER names others."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from foodtrace.cli.main import main
from foodtrace.config import DAGS_FOLDER_ENV
from foodtrace.pipeline import airflow_run
from foodtrace.pipeline.steps import AlertResult, LinkResult, PipelineReport, ValidateResult


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    def fake_run_dags(url: str, **kwargs: Any) -> PipelineReport:
        seen.append(kwargs)
        return PipelineReport(ValidateResult(), LinkResult(), AlertResult(), mode="airflow")

    monkeypatch.setattr(airflow_run, "run_dags", fake_run_dags)
    monkeypatch.setenv("FOODTRACE_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.delenv(DAGS_FOLDER_ENV, raising=False)
    return seen


def test_the_packaged_dags_by_default(calls, tmp_path: Path) -> None:
    assert main(["pipeline", "run", "--json", "--out", str(tmp_path)]) == 0
    assert calls[0]["dags"] is None
    assert airflow_run.dags_folder() == Path(airflow_run.files("foodtrace.dags"))
    assert (airflow_run.dags_folder() / "foodtrace_validate.py").is_file()


def test_the_option_then_the_environment(calls, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(DAGS_FOLDER_ENV, str(tmp_path / "from-env"))
    assert main(["pipeline", "run", "--json", "--out", str(tmp_path)]) == 0
    assert str(calls[-1]["dags"]) == str(tmp_path / "from-env")
    other = tmp_path / "from-option"
    assert main(["pipeline", "run", "--json", "--out", str(tmp_path), "--dags-folder",
                 str(other)]) == 0
    assert calls[-1]["dags"] == other
    assert airflow_run.dags_folder("~/x") == Path("~/x").expanduser().resolve()
