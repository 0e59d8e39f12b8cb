"""What foodtrace puts into Grafana: the datasource and the dashboards (pure)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from foodtrace.config import ConfigError

DATASOURCE_UID = "foodtrace-pg"
DATASOURCE_NAME = "foodtrace"
# The PostgreSQL plugin's id since Grafana 10.3 ("postgres" before; both resolve).
DATASOURCE_TYPE = "grafana-postgresql-datasource"
FOLDER_UID = "foodtrace"
FOLDER_TITLE = "foodtrace"

# Dashboard key -> JSON file in dashboards/ (the package foodtrace.dashboards).
DASHBOARD_FILES = {
    "emergency": "emergency.json",
    "trace": "trace.json",
    "ingest": "ingest.json",
    "lab_results": "lab_results.json",
    "kde_completeness": "kde_completeness.json",
}

# The database as Grafana reaches it, and the reader's credentials (never the
# pipeline's or an admin's: the datasource is read-only by the role it logs in as).
GRAFANA_DB_HOST_ENV = "FOODTRACE_GRAFANA_DB_HOST"  # host:port, default timescaledb:5432
GRAFANA_DB_NAME_ENV = "FOODTRACE_GRAFANA_DB_NAME"  # default foodtrace
READER_USER_ENV = "FOODTRACE_READER_DB_USER"  # default grafana_reader
READER_PASSWORD_ENV = "FOODTRACE_READER_DB_PASSWORD"  # required
GRAFANA_DB_SSLMODE_ENV = "FOODTRACE_GRAFANA_DB_SSLMODE"  # default disable (compose network)
GRAFANA_TIMESCALEDB_ENV = "FOODTRACE_GRAFANA_TIMESCALEDB"  # "true" (default) or "false"


def load_dashboards() -> dict[str, dict[str, Any]]:
    """Dashboard key -> dashboard JSON, read from the installed package."""
    folder = files("foodtrace.dashboards")
    return {
        key: json.loads(folder.joinpath(name).read_text("utf-8"))
        for key, name in DASHBOARD_FILES.items()
    }


@dataclass(frozen=True)
class ReaderDatabase:
    host: str  # host:port as Grafana's server resolves it
    database: str
    user: str
    password: str
    sslmode: str = "disable"
    timescaledb: bool = True

    @classmethod
    def from_env(cls) -> ReaderDatabase:
        password = os.environ.get(READER_PASSWORD_ENV)
        if not password:
            raise ConfigError(
                f"{READER_PASSWORD_ENV} is not set: the datasource logs in as the read-only "
                f"reader user ({READER_USER_ENV}, default grafana_reader); set its password "
                "(the one `docker compose` created it with, see .env.example)."
            )
        flag = os.environ.get(GRAFANA_TIMESCALEDB_ENV, "true").strip().lower()
        if flag not in ("true", "false", "1", "0", "yes", "no"):
            raise ConfigError(f"{GRAFANA_TIMESCALEDB_ENV} must be true or false, got {flag!r}")
        return cls(
            host=os.environ.get(GRAFANA_DB_HOST_ENV, "timescaledb:5432"),
            database=os.environ.get(GRAFANA_DB_NAME_ENV, "foodtrace"),
            user=os.environ.get(READER_USER_ENV, "grafana_reader"),
            password=password,
            sslmode=os.environ.get(GRAFANA_DB_SSLMODE_ENV, "disable"),
            timescaledb=flag in ("true", "1", "yes"),
        )


def datasource_payload(db: ReaderDatabase) -> dict[str, Any]:
    """The body of POST /api/datasources (and PUT /api/datasources/uid/{uid})."""
    return {
        "uid": DATASOURCE_UID,
        "name": DATASOURCE_NAME,
        "type": DATASOURCE_TYPE,
        "access": "proxy",
        "url": db.host,
        "user": db.user,
        "database": db.database,
        "isDefault": True,
        "jsonData": {
            "database": db.database,
            "sslmode": db.sslmode,
            "postgresVersion": 1600,
            "timescaledb": db.timescaledb,
            "maxOpenConns": 10,
            "connMaxLifetime": 14400,
        },
        "secureJsonData": {"password": db.password},
    }


def dashboard_payload(dashboard: dict[str, Any], folder_uid: str = FOLDER_UID) -> dict[str, Any]:
    """The body of POST /api/dashboards/db: create or overwrite by uid, in the folder."""
    body = {k: v for k, v in dashboard.items() if k != "id"}  # ids are per Grafana instance
    return {
        "dashboard": body,
        "folderUid": folder_uid,
        "overwrite": True,
        "message": "foodtrace grafana publish",
    }
