"""Start an Airflow component with the pipeline's code already imported.

    python -m foodtrace.pipeline.preload scheduler      # instead of `airflow scheduler`
    python -m foodtrace.pipeline.preload airflow scheduler   # the same (an entrypoint)

With the LocalExecutor every task runs in a process forked (os.fork, no exec)
from a worker that the scheduler forked when it started: whatever the scheduler
process had imported by then, every task process starts with. So this imports the
pipeline steps and what they use (psycopg, paho, the validation, trace and alerts
modules, Airflow's task runner) and, unless told otherwise, great_expectations
with the validation suites built (suites.warm), then hands over to Airflow's own
command line. A task then pays neither the imports (~0.7 s for the steps, several
seconds for great_expectations) nor the suite building (~1 s a suite) again:
built once, cached across runs, for a pipeline whose runs are separate processes.

FOODTRACE_AIRFLOW_PRELOAD chooses what: `gx` (default: the steps, pandas,
great_expectations and every suite), `steps` (the steps only: tasks then import
great_expectations when a batch needs it) or `none`. The preload opens no
connection and starts no thread, so forking after it is safe; BLAS thread pools
are limited to one thread (GX frames are small), so no native threads exist
before the fork either.
"""

from __future__ import annotations

import os
import sys
import time

PRELOAD_ENV = "FOODTRACE_AIRFLOW_PRELOAD"
CHOICES = ("gx", "steps", "none")

STEP_MODULES = (
    "psycopg",
    "paho.mqtt.client",
    "foodtrace.pipeline.dag_tasks",
    "foodtrace.pipeline.steps",
    "foodtrace.validate.promote",
    "foodtrace.validate.suites",
    "foodtrace.validate.notices",
    "foodtrace.trace.link",
    "foodtrace.alerts.engine",
    "foodtrace.alerts.rescope",
    "foodtrace.alerts.outbox",
    "foodtrace.mqtt_publish",
    "foodtrace.ingest.mqtt_client",  # the outboxes' client factory (imported lazily)
    # what a task process runs before and around the task function
    "airflow.sdk.execution_time.task_runner",
    "airflow.sdk.execution_time.supervisor",
    "airflow.providers.standard.decorators.python",
)


def preload(what: str = "gx") -> dict[str, float]:
    """Import (and build) what `what` names; seconds per part."""
    if what not in CHOICES:
        raise ValueError(f"{PRELOAD_ENV} must be one of {', '.join(CHOICES)}, not {what!r}")
    import importlib
    import logging

    took: dict[str, float] = {}
    if what == "none":
        return took
    # Third-party configuration: the BLAS libraries read these from the environment
    # only, when numpy loads them; a value the operator set is kept.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    # GX logs every docs decorator it registers at INFO; the scheduler log needs none
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    started = time.perf_counter()
    for name in STEP_MODULES:
        try:
            importlib.import_module(name)
        except ImportError as exc:  # an optional module: the task imports what it needs
            print(f"foodtrace preload: {name} not imported ({exc})", file=sys.stderr)
    took["steps"] = time.perf_counter() - started
    if what == "gx":
        from foodtrace.validate.rules import SUITES
        from foodtrace.validate.suites import warm

        started = time.perf_counter()
        importlib.import_module("pandas")
        warm(SUITES)
        took["great_expectations"] = time.perf_counter() - started
    return took


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["airflow"]:  # as a container entrypoint in front of `airflow ...`
        args = args[1:]
    what = os.environ.get(PRELOAD_ENV, "gx")  # an entry point: its environment, once
    took = preload(what)
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in took.items()) or "nothing"
    print(f"foodtrace preload ({what}): {parts}", file=sys.stderr, flush=True)
    from airflow.__main__ import main as airflow_main

    sys.argv = ["airflow", *args]
    sys.exit(airflow_main())


if __name__ == "__main__":
    main()
