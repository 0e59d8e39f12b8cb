"""What foodtrace puts into Grafana: the datasource and the dashboards (pure).

The settings below come from the `environ` the entry point passes (its
foodtrace.config.Settings.environ); without one, from the process's environment.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from foodtrace.config import ConfigError
from foodtrace.grafana.labels import DEFAULT_LANGUAGE, LANGUAGES

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
    "withdrawals": "withdrawals.json",
}
# Which language `foodtrace grafana publish` (and `check`) use: zh-CN (default) or en.
# Both are generated from one definition (dashboards/build.py, grafana/labels.py):
# zh-CN in dashboards/, en in dashboards/en/ (uids end in -en).
LANGUAGE_ENV = "FOODTRACE_GRAFANA_LANGUAGE"

# The database as Grafana reaches it, and the reader's credentials (never the
# pipeline's or an admin's: the datasource is read-only by the role it logs in as).
GRAFANA_DB_HOST_ENV = "FOODTRACE_GRAFANA_DB_HOST"  # host:port, default timescaledb:5432
GRAFANA_DB_NAME_ENV = "FOODTRACE_GRAFANA_DB_NAME"  # default foodtrace
READER_USER_ENV = "FOODTRACE_READER_DB_USER"  # default grafana_reader
READER_PASSWORD_ENV = "FOODTRACE_READER_DB_PASSWORD"  # required
GRAFANA_DB_SSLMODE_ENV = "FOODTRACE_GRAFANA_DB_SSLMODE"  # default disable (compose network)
GRAFANA_TIMESCALEDB_ENV = "FOODTRACE_GRAFANA_TIMESCALEDB"  # "true" (default) or "false"


def dashboard_path(name: str, language: str) -> str:
    """Where a dashboard file of `language` lives under dashboards/."""
    return name if language == DEFAULT_LANGUAGE else f"{language}/{name}"


def dashboard_language(
    language: str | None = None, environ: Mapping[str, str] | None = None
) -> str:
    """`language`, else $FOODTRACE_GRAFANA_LANGUAGE, else zh-CN; a clear error otherwise."""
    env = os.environ if environ is None else environ
    chosen = (language or env.get(LANGUAGE_ENV) or DEFAULT_LANGUAGE).strip()
    if chosen not in LANGUAGES:
        raise ConfigError(
            f"{LANGUAGE_ENV} must be one of {', '.join(LANGUAGES)} "
            f"(仪表盘语言: zh-CN 简体中文 / en English), got {chosen!r}"
        )
    return chosen


def load_dashboards(
    language: str | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    """Dashboard key -> dashboard JSON in `language` (default: the setting), read
    from the installed package."""
    chosen = dashboard_language(language, environ)
    folder = files("foodtrace.dashboards")
    return {
        key: json.loads(folder.joinpath(dashboard_path(name, chosen)).read_text("utf-8"))
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
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ReaderDatabase:
        env = os.environ if environ is None else environ
        password = env.get(READER_PASSWORD_ENV)
        if not password:
            raise ConfigError(
                f"{READER_PASSWORD_ENV} is not set: the datasource logs in as the read-only "
                f"reader user ({READER_USER_ENV}, default grafana_reader); set its password "
                "(the one `docker compose` created it with, see .env.example)."
            )
        flag = env.get(GRAFANA_TIMESCALEDB_ENV, "true").strip().lower()
        if flag not in ("true", "false", "1", "0", "yes", "no"):
            raise ConfigError(f"{GRAFANA_TIMESCALEDB_ENV} must be true or false, got {flag!r}")
        return cls(
            host=env.get(GRAFANA_DB_HOST_ENV, "timescaledb:5432"),
            database=env.get(GRAFANA_DB_NAME_ENV, "foodtrace"),
            user=env.get(READER_USER_ENV, "grafana_reader"),
            password=password,
            sslmode=env.get(GRAFANA_DB_SSLMODE_ENV, "disable"),
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
