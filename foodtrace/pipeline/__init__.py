"""The pipeline steps that the Airflow DAGs (dags/) and `foodtrace pipeline run` call.

    validate_step -> link_step -> alert_step      (each idempotent, commits its own work)
    run_once(database_url) runs the three in order without Airflow.

Light to import (DAG files import it at parse time): the steps import their
heavy dependencies (great_expectations, pandas, the trace and alerts modules)
inside the functions.
"""

from foodtrace.pipeline.steps import (
    AlertResult,
    LinkResult,
    PipelineReport,
    ValidateResult,
    alert_step,
    link_step,
    run_once,
    validate_step,
)

__all__ = [
    "AlertResult",
    "LinkResult",
    "PipelineReport",
    "ValidateResult",
    "alert_step",
    "link_step",
    "run_once",
    "validate_step",
]
