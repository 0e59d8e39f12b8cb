"""Each pipeline step records its run in ops.pipeline_runs (0018), so the pipeline
dashboard shows DAG runs' states and durations from the foodtrace database alone.

Recorded at the step, not the DAG: Airflow tasks and `foodtrace pipeline run
--direct` call the same steps. Inside an Airflow task the run's ids come from the
AIRFLOW_CTX_* variables Airflow sets for the task: Airflow's own context, which its
task runner exports into the task's environment when the task starts (even under
dag.test()), so they are read from os.environ then, not from the entry point's
settings. A failure to record is logged
and never fails the step (the step's own work is already committed).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

import psycopg

from foodtrace.config import Settings

P = ParamSpec("P")
R = TypeVar("R")
log = logging.getLogger(__name__)

_INSERT = """
INSERT INTO ops.pipeline_runs (step, mode, dag_id, dag_run_id, task_id, try_number, state,
                               started_at, finished_at, error, summary, host, pid)
VALUES (%(step)s, %(mode)s, %(dag_id)s, %(dag_run_id)s, %(task_id)s, %(try_number)s, %(state)s,
        %(started_at)s, %(finished_at)s, %(error)s, %(summary)s, %(host)s, %(pid)s)"""


def airflow_context(environ: Mapping[str, str]) -> dict[str, Any]:
    """The Airflow task a step runs in (all None outside Airflow)."""
    try_number = environ.get("AIRFLOW_CTX_TRY_NUMBER")
    return {
        "dag_id": environ.get("AIRFLOW_CTX_DAG_ID"),
        "dag_run_id": environ.get("AIRFLOW_CTX_DAG_RUN_ID"),
        "task_id": environ.get("AIRFLOW_CTX_TASK_ID"),
        "try_number": int(try_number) if try_number and try_number.isdigit() else None,
    }


def run_row(
    step: str,
    started_at: float,
    finished_at: float,
    *,
    error: BaseException | None,
    summary: Mapping[str, Any] | None,
    environ: Mapping[str, str],
) -> dict[str, Any]:
    """The ops.pipeline_runs row of one step run (pure)."""
    context = airflow_context(environ)
    return {
        "step": step,
        "mode": "airflow" if context["dag_id"] else "direct",
        **context,
        "state": "failed" if error is not None else "success",
        "started_at": datetime.fromtimestamp(started_at, UTC),
        "finished_at": datetime.fromtimestamp(finished_at, UTC),
        "error": None if error is None else f"{type(error).__name__}: {error}"[:2000],
        "summary": json.dumps(summary or {}, default=str),
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }


def insert_run(conn: psycopg.Connection, row: Mapping[str, Any]) -> None:
    """Write one run row on `conn` (the caller commits)."""
    conn.execute(_INSERT, dict(row))


def record(database_url: str | None, row: Mapping[str, Any]) -> None:
    """Write one run row on a connection of its own (the step's is closed by now)."""
    try:
        url = database_url or Settings.from_env().database()
        with psycopg.connect(url, autocommit=True) as conn:
            insert_run(conn, row)
    except Exception as exc:  # recording must never fail the step
        log.warning("could not record the %s step run: %s", row.get("step"), exc)


def recorded(step: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Record every call of a step function (its `database_url` argument, first
    positional or keyword, else its `settings`' database, is where the row goes)."""

    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            url = _database_url(args, kwargs)
            started_at = time.time()
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                record(url, run_row(
                    step, started_at, time.time(), error=exc, summary=None,
                    environ=os.environ))
                raise
            as_dict = getattr(result, "as_dict", None)
            record(url, run_row(
                step, started_at, time.time(), error=None,
                summary=as_dict() if callable(as_dict) else None, environ=os.environ))
            return result

        return run

    return wrap


def _database_url(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str | None:
    """Where a step call's run row goes: its database_url, else its settings' one
    (None: the environment's, read by `record`)."""
    url = kwargs.get("database_url", args[0] if args else None)
    if isinstance(url, str) and url:
        return url
    settings = kwargs.get("settings")
    return settings.database_url if isinstance(settings, Settings) else None
