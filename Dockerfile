# The foodtrace image: the `foodtrace` command (ingest workers, migrations, CLI) and
# Airflow 3 with the project's DAGs (api-server, scheduler, dag-processor, triggerer).
# Built by docker-compose.yml; holds no secret (all settings come from the environment).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AIRFLOW_HOME=/opt/airflow

RUN groupadd --system --gid 10001 foodtrace \
    && useradd --system --uid 10001 --gid foodtrace --home-dir /opt/airflow foodtrace \
    && mkdir -p /opt/airflow/logs /opt/airflow/auth \
    && chown -R foodtrace:foodtrace /opt/airflow

WORKDIR /opt/foodtrace
# The repository less what .dockerignore leaves out (tests, benchmarks, local state):
# the package, its SQL and dashboards, the DAGs (AIRFLOW__CORE__DAGS_FOLDER) and the
# deploy scripts docker-compose runs (deploy/db, deploy/airflow).
COPY . ./
RUN pip install . && foodtrace --help >/dev/null

USER foodtrace
CMD ["foodtrace", "--help"]
