"""`foodtrace pipeline run [--json] [--direct] [--out DIR]`.

Runs the pipeline once over what has landed and waits for it:
validate + promote -> link the lot graph -> raise alerts (and publish them when
FOODTRACE_MQTT_URL is set). By default the real Airflow DAGs run (the ones shipped
in the package, or --dags-folder), in this process, with `dag.test()` on a private
SQLite metadata database under --out (start-up takes some seconds). `--direct`
calls the same steps without Airflow (foodtrace.pipeline.run_once): quicker, same
results, and the withdrawal step after them (reports linked to their notices,
overdue notices escalated), as the sweep DAG runs it.

Prints a summary per step and the path of the validation report (HTML).
Exit codes: 0 done, 1 a step failed, 2 configuration or database unreachable.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from foodtrace.cli.output import add_json_flag, print_json
from foodtrace.config import DAGS_FOLDER_ENV

if TYPE_CHECKING:
    import argparse

    from foodtrace.cli.output import Subcommands

OUT_DIR_ENV = "FOODTRACE_OUT_DIR"


def register(sub: Subcommands) -> None:
    p = sub.add_parser(
        "pipeline",
        help="run the validation, linking and alerting pipeline",
        description=__doc__.split("\n\n", 1)[1],
    )
    psub = p.add_subparsers(dest="pipeline_command", metavar="ACTION", required=True)
    run = psub.add_parser(
        "run",
        help="run the Airflow DAGs once, in-process, over what has landed, and wait",
        description="Run validate -> link -> alerts once and wait. Default: the Airflow DAGs "
        "(dag.test(), SQLite metadata DB under --out). --direct: the same steps without Airflow.",
    )
    add_json_flag(run)
    run.add_argument(
        "--direct",
        action="store_true",
        help="call the pipeline steps directly, without starting Airflow",
    )
    run.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"output folder for the Airflow home and the validation reports "
        f"(default ${OUT_DIR_ENV} or ./out/pipeline)",
    )
    run.add_argument(
        "--dags-folder",
        type=Path,
        default=None,
        help=f"the folder of DAG files to run (default ${DAGS_FOLDER_ENV} or the DAGs "
        "shipped in the package)",
    )
    run.set_defaults(handler=run_pipeline)


def run_pipeline(args: argparse.Namespace) -> int:
    import psycopg

    from foodtrace.config import Settings
    from foodtrace.pipeline.airflow_run import PipelineRunError
    from foodtrace.validate.settings import REPORT_DIR_ENV

    settings = Settings.from_env()
    url = settings.database()  # ConfigError -> exit 2 with the fix in the message
    out = (args.out or Path(settings.environ.get(OUT_DIR_ENV) or "out/pipeline")).resolve()
    report_dir = Path(settings.environ.get(REPORT_DIR_ENV) or out / "validation-reports")
    try:
        if args.direct:
            from foodtrace.pipeline import run_once

            report = run_once(url, report_dir=report_dir, settings=settings)
        else:
            from foodtrace.pipeline.airflow_run import run_dags

            dags = args.dags_folder or settings.dags_folder
            report = run_dags(
                settings, home=out / "airflow-home", report_dir=report_dir, dags=dags
            )
    except psycopg.OperationalError as exc:
        print(
            f"foodtrace: cannot reach the database: {str(exc).strip().splitlines()[0]}. "
            "Check FOODTRACE_DATABASE_URL and that PostgreSQL runs.",
            file=sys.stderr,
        )
        return 2
    except PipelineRunError as exc:
        print(f"foodtrace: pipeline failed: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print_json(report.as_dict())
    else:
        print(f"pipeline run ({'Airflow DAGs' if report.mode == 'airflow' else 'direct'}):")
        for line in report.summary_lines():
            print(f"  {line}")
    return 0
