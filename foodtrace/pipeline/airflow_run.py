"""Run the DAGs once, in this process, the way `airflow dags test` does.

`foodtrace pipeline run` uses this: a private AIRFLOW_HOME (SQLite metadata
database, migrated once), the DAG files shipped in the package (`foodtrace.dags`,
built from the repository's dags/; `--dags-folder` or FOODTRACE_DAGS_FOLDER for
others), and `dag.test()` on each DAG in pipeline order, so the tasks that run
are the DAGs' own tasks. Each step's result comes back from XCom. Airflow reads
its configuration when it is first imported, so `configure_airflow` must run
before anything imports airflow.

The tasks get the caller's `Settings` (database, broker, report folder, ...)
through foodtrace.pipeline.dag_tasks.in_process, not through os.environ: dag.test()
runs them in this process and thread.

Retries are turned off for this interactive run (a failure is reported at once);
under a scheduler the DAGs' own retries with backoff apply.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from types import MappingProxyType
from typing import Any

from foodtrace.config import DAGS_FOLDER_ENV, Settings
from foodtrace.pipeline.steps import AlertResult, LinkResult, PipelineReport, ValidateResult

# Pipeline order of the batch path (one DAG per step, chained by assets; a manual
# run of it validates every kind), and the task whose return value is the step's
# result. `foodtrace pipeline run` runs these.
DAG_ORDER: tuple[tuple[str, str], ...] = (
    ("foodtrace_validate", "validate"),
    ("foodtrace_link", "link"),
    ("foodtrace_alert", "alert"),
)
# The other DAGs in dags/: the lab-result lane and the sweep (each validate >> link
# >> alert in one DAG).
LANE_DAGS: tuple[str, ...] = ("foodtrace_lab_results", "foodtrace_sweep")
ALL_DAG_IDS: tuple[str, ...] = (*(d for d, _ in DAG_ORDER), *LANE_DAGS)


class PipelineRunError(RuntimeError):
    """A DAG run did not succeed; the message names the DAG and the failed tasks."""


def dags_folder(folder: Path | str | None = None) -> Path:
    """The folder of DAG files to run: `folder` when given, else the packaged one.

    The packaged folder is `foodtrace.dags` (the repository's dags/, shipped in the
    wheel; in an editable install the checkout's dags/ itself), found through
    importlib.resources, so an installed package needs no checkout.
    """
    if folder is not None:
        return Path(folder).expanduser().resolve()
    packaged = files("foodtrace.dags")
    if not isinstance(packaged, Path) or not packaged.is_dir():
        # Airflow parses a folder on disk; a zipped install has none.
        raise PipelineRunError(
            f"the packaged DAGs are not a folder on disk ({packaged!r}); "
            f"set {DAGS_FOLDER_ENV} or pass --dags-folder"
        )
    return packaged


def configure_airflow(home: Path, dags: Path | str | None = None) -> None:
    """Point Airflow at `home` (SQLite metadata DB) and the DAG files (dags_folder).

    Must run before airflow is imported; if it already was (e.g. inside a test
    session that configured it), the existing configuration is kept when it points
    at the same home, and refused otherwise.

    The one place that writes os.environ, on purpose: this is the configuration of
    a third-party library, which Airflow reads only from its environment (or an
    airflow.cfg under AIRFLOW_HOME) when it is first imported; there is no public
    way to hand it over as arguments. Our own settings never go this way.
    """
    home = home.resolve()
    if "airflow" in sys.modules or "airflow.sdk" in sys.modules:
        current = os.environ.get("AIRFLOW_HOME")
        if current and Path(current).resolve() == home:
            return
        raise PipelineRunError(
            f"Airflow is already loaded in this process with AIRFLOW_HOME={current!r}; "
            f"cannot switch to {home}"
        )
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder(dags)),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get(
                "AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING"
            ),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        }
    )


def ensure_metadata_db(home: Path) -> None:
    """`airflow db migrate`, programmatically, once per home (a marker file says so)."""
    marker = home / ".foodtrace-db-migrated"
    from airflow import __version__ as airflow_version

    if marker.exists() and marker.read_text().strip() == airflow_version:
        return
    from airflow.utils import db

    db.upgradedb()
    marker.write_text(airflow_version)


def load_dags(dags: Path | str | None = None) -> dict[str, Any]:
    from airflow.dag_processing.dagbag import DagBag

    folder = dags_folder(dags)
    bag = DagBag(dag_folder=str(folder))
    if bag.import_errors:
        detail = "; ".join(
            f"{path}: {err.splitlines()[-1]}" for path, err in bag.import_errors.items()
        )
        raise PipelineRunError(f"the DAG files do not import: {detail}")
    missing = [d for d in ALL_DAG_IDS if d not in bag.dags]
    if missing:
        raise PipelineRunError(f"DAGs not found in {folder}: {', '.join(missing)}")
    return bag.dags


@dataclass(frozen=True)
class DagOutcome:
    dag_id: str
    run_id: str
    state: str
    task_states: dict[str, str]
    result: Any  # the result task's XCom return value (None if it has none)


def execute_dag(dag: Any, result_task: str, *, retries: int | None = 0) -> DagOutcome:
    """dag.test() once (retries off by default: fail at once in an interactive run)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    if retries is not None:
        for task in dag.tasks:
            task.retries = retries
    dag_run = dag.test()
    with create_session() as session:
        tis = dag_run.get_task_instances(session=session)
        row = (
            session.query(XComModel)
            .filter(
                XComModel.dag_id == dag.dag_id,
                XComModel.run_id == dag_run.run_id,
                XComModel.task_id == result_task,
                XComModel.key == "return_value",
            )
            .one_or_none()
        )
        return DagOutcome(
            dag_id=dag.dag_id,
            run_id=dag_run.run_id,
            state=_name(dag_run.state),
            task_states={ti.task_id: _name(ti.state) for ti in tis},
            result=None if row is None else XComModel.deserialize_value(row),
        )


def _name(state: Any) -> str:
    return str(getattr(state, "value", state))


def run_dag(dag: Any, result_task: str) -> dict[str, Any]:
    """Run one DAG; its result task's return value, or PipelineRunError."""
    outcome = execute_dag(dag, result_task)
    if outcome.state != "success":
        failed = sorted(
            f"{t} ({s})" for t, s in outcome.task_states.items() if s not in ("success", "skipped")
        )
        raise PipelineRunError(
            f"DAG {outcome.dag_id} run {outcome.run_id} ended {outcome.state}; failed tasks: "
            f"{', '.join(failed) or 'none'}; task logs are under "
            f"{os.environ.get('AIRFLOW_HOME')}/logs"
        )
    if not isinstance(outcome.result, dict):
        raise PipelineRunError(
            f"DAG {outcome.dag_id}: task {result_task} returned {outcome.result!r}"
        )
    return outcome.result


def run_dags(
    settings: Settings,
    *,
    home: Path,
    report_dir: Path | None = None,
    dags: Path | str | None = None,
) -> PipelineReport:
    """Run validate -> link -> alert DAGs once over what has landed; wait for each.

    The tasks run with `settings` (its database is required) and write the
    validation report to `report_dir` (default: the settings' FOODTRACE_REPORT_DIR).
    `dags`: the folder of DAG files (default: the ones shipped in the package)."""
    settings.database()  # ConfigError before Airflow starts, not in a task
    if report_dir is not None:
        settings = _with_report_dir(settings, report_dir)
    configure_airflow(home, dags)
    from foodtrace.pipeline.dag_tasks import in_process  # imports airflow: after configuring

    with _quiet(), in_process(settings):
        ensure_metadata_db(home)
        loaded = load_dags(dags)
        results = {dag_id: run_dag(loaded[dag_id], task) for dag_id, task in DAG_ORDER}
    return PipelineReport(
        validate=ValidateResult.from_dict(results["foodtrace_validate"]),
        link=LinkResult.from_dict(results["foodtrace_link"]),
        alert=AlertResult.from_dict(results["foodtrace_alert"]),
        mode="airflow",
    )


def _with_report_dir(settings: Settings, report_dir: Path) -> Settings:
    """`settings` with FOODTRACE_REPORT_DIR set to `report_dir` (in its copy of the
    environment only), which the validate step reads."""
    from foodtrace.validate.settings import REPORT_DIR_ENV

    environ = MappingProxyType({**settings.environ, REPORT_DIR_ENV: str(report_dir)})
    return dataclasses.replace(settings, environ=environ)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Airflow's start-up chatter goes to stderr at WARNING; stdout stays ours (--json)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
        warnings.simplefilter("ignore")
        for name in ("airflow", "sqlalchemy", "alembic"):
            logging.getLogger(name).setLevel(logging.WARNING)
        yield
