"""One Airflow process that runs the real DAGs on request, for a whole test module.

    python dag_server.py AIRFLOW_HOME

Airflow (and great_expectations, which the validation DAG loads) takes tens of seconds
to start, while a warm `dag.test()` takes about a second; so the living-alert tests
keep ONE process and ask it for pipeline runs over stdin. Each request is a JSON line

    {"database_url": ..., "mqtt_url": ... | null, "report_dir": ..., "dags": [DAG_ID, ...]}

and each answer a JSON line on stdout: {"runs": [{dag_id, state, tasks, result}, ...]}
or {"error": "..."}. The DAG tasks read FOODTRACE_DATABASE_URL / FOODTRACE_MQTT_URL /
FOODTRACE_REPORT_DIR when they run (foodtrace.pipeline.steps), so setting them per
request points the same DAGs at another database and broker. Airflow's own output goes
to stderr (file descriptor 1 is pointed there; the answers use a private copy of it).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

from foodtrace.pipeline.airflow_run import DAG_ORDER

RESULT_TASK = dict(DAG_ORDER)
ENV_KEYS = {
    "database_url": "FOODTRACE_DATABASE_URL",
    "mqtt_url": "FOODTRACE_MQTT_URL",
    "report_dir": "FOODTRACE_REPORT_DIR",
}


def main(home: Path) -> None:
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever Airflow prints, at any level, lands on stderr
    sys.stdout = sys.stderr

    from foodtrace.pipeline.airflow_run import configure_airflow

    configure_airflow(home)
    from foodtrace.pipeline.airflow_run import _quiet, ensure_metadata_db, execute_dag, load_dags

    with _quiet():
        ensure_metadata_db(home)
        dags = load_dags()
        answers.write(json.dumps({"ready": sorted(dags)}) + "\n")
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                request = json.loads(line)
                for key, env in ENV_KEYS.items():
                    if request.get(key):
                        os.environ[env] = request[key]
                    else:
                        os.environ.pop(env, None)
                runs = []
                for dag_id in request["dags"]:
                    o = execute_dag(dags[dag_id], RESULT_TASK[dag_id])
                    runs.append(
                        {
                            "dag_id": o.dag_id,
                            "state": o.state,
                            "tasks": o.task_states,
                            "result": o.result,
                        }
                    )
                answer = {"runs": runs}
            except Exception:
                answer = {"error": traceback.format_exc()}
            answers.write(json.dumps(answer, default=str) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
