"""What a DAG task does around its pipeline step (dags/ are wiring only).

Imported by the task functions when they run, never while a DAG file is parsed.
Each function runs one step (foodtrace.pipeline.steps), or for the lab-result
lane the three in order, and returns the result as the task's XCom value; the
batch path's tasks announce through an AssetAlias only when there is something for
the next DAG, so no second task is needed for that.

Settings: each task is an entry point and reads its settings once
(`task_settings`): under a scheduler from the task process's environment; inside
`foodtrace pipeline run` (dag.test() runs the tasks in the caller's process and
thread) from the settings `airflow_run.run_dags` hands over through
`IN_PROCESS_SETTINGS`, so the caller's os.environ is never rewritten.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from typing import Any

from foodtrace.config import Settings
from foodtrace.pipeline.assets import CORE_PROMOTED, LINKED_EVENTS, LOT_GRAPH, PROMOTED_EVENTS
from foodtrace.pipeline.steps import (
    PipelineReport,
    alert_step,
    link_step,
    validate_step,
    wait_for_landing,
    withdrawal_step,
)

# Set by run_dags around dag.test(); unset under a scheduler.
IN_PROCESS_SETTINGS: ContextVar[Settings | None] = ContextVar(
    "foodtrace_in_process_settings", default=None
)


@contextlib.contextmanager
def in_process(settings: Settings) -> Iterator[None]:
    """The tasks run inside this block (dag.test()) use `settings`."""
    token = IN_PROCESS_SETTINGS.set(settings)
    try:
        yield
    finally:
        IN_PROCESS_SETTINGS.reset(token)


def task_settings() -> Settings:
    """The settings of the task running now (module doc)."""
    return IN_PROCESS_SETTINGS.get() or Settings.from_env()


def _waits(dag_run: Any, ti: Any = None) -> bool:
    """Only the first try of the scheduler's own runs waits for work; a manual run
    (the UI, `airflow dags test`, `foodtrace pipeline run`) and a retry (of a run
    that had work: e.g. a broker that refused the alert) go on with what is there."""
    run_type = getattr(dag_run, "run_type", None)
    if str(getattr(run_type, "value", run_type)) != "scheduled":
        return False
    return int(getattr(ti, "try_number", 1) or 1) <= 1


def _wait_or_skip(
    kinds: Sequence[str] | None,
    wait_s: float | None,
    dag_run: Any,
    ti: Any,
    settings: Settings,
) -> float | None:
    """Seconds waited for a row of `kinds` (None: no wait); skips the task (and what
    follows it) when none came within `wait_s`."""
    if not wait_s or not _waits(dag_run, ti):
        return None
    waited = wait_for_landing(kinds, wait_s, settings=settings)
    if waited is None:
        from airflow.sdk.exceptions import AirflowSkipException

        raise AirflowSkipException(
            f"no {' or '.join(kinds or ['message'])} landed in {wait_s:g} s; "
            "the next run waits again"
        )
    return waited


def validate(*, outlet_events: Any = None) -> dict[str, Any]:
    """Validate and promote every kind; with `outlet_events`, a
    foodtrace_core_promoted event is added through PROMOTED_EVENTS when something
    was promoted."""
    result = validate_step(settings=task_settings())
    if outlet_events is not None and result.promoted:
        outlet_events[PROMOTED_EVENTS].add(
            CORE_PROMOTED, extra={"promoted": result.promoted, "run_ids": result.run_ids}
        )
    return result.as_dict()


def link(*, outlet_events: Any = None) -> dict[str, Any]:
    """Link what was promoted; with `outlet_events`, a foodtrace_lot_graph event is
    added through LINKED_EVENTS when anything was linked or an open alert was queued
    for re-scoping."""
    result = link_step(settings=task_settings())
    if outlet_events is not None and (result.linked or result.rescope_queued):
        outlet_events[LINKED_EVENTS].add(
            LOT_GRAPH,
            extra={
                "events": result.events,
                "lab_results": result.lab_results,
                "rescope_queued": result.rescope_queued,
            },
        )
    return result.as_dict()


def alert() -> dict[str, Any]:
    return alert_step(settings=task_settings()).as_dict()


def withdrawals() -> dict[str, Any]:
    return withdrawal_step(settings=task_settings()).as_dict()


def lab_lane(
    *,
    kinds: Sequence[str],
    wait_s: float | None = None,
    dag_run: Any = None,
    ti: Any = None,
) -> dict[str, Any]:
    """The lab-result lane (dags/foodtrace_lab_results.py): wait for a row of
    `kinds` as `validate` does, then validate those kinds, link, alert; the three
    step results as a PipelineReport dict (each with its own started_at and
    finished_at)."""
    settings = task_settings()
    waited = _wait_or_skip(kinds, wait_s, dag_run, ti, settings)
    report = PipelineReport(
        validate=dataclasses.replace(
            validate_step(kinds=kinds, settings=settings), waited_s=waited
        ),
        link=link_step(settings=settings),
        alert=alert_step(settings=settings),
        mode="airflow",
    )
    return report.as_dict()
