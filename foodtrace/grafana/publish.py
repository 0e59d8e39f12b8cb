"""Push foodtrace's datasource and dashboards to a Grafana through its HTTP API.

Idempotent: the folder and datasource are created when missing and updated when
present (by uid), every dashboard is saved with overwrite=true. Grafana keeps each
dashboard's version history, so a publish can be rolled back in its UI.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from foodtrace.config import ConfigError
from foodtrace.grafana.model import (
    DATASOURCE_UID,
    FOLDER_TITLE,
    FOLDER_UID,
    dashboard_payload,
)

if TYPE_CHECKING:
    from grafana_client.api import GrafanaApi

GRAFANA_URL_ENV = "FOODTRACE_GRAFANA_URL"  # http://user:pass@host:3000 (basic auth) or no user
GRAFANA_TOKEN_ENV = "FOODTRACE_GRAFANA_TOKEN"  # a service account token (preferred)


@dataclass
class PublishResult:
    grafana: str  # the URL without credentials
    folder: str = ""  # created | exists
    datasource: str = ""  # created | updated
    dashboards: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "grafana": self.grafana,
            "folder": {"uid": FOLDER_UID, "action": self.folder},
            "datasource": {"uid": DATASOURCE_UID, "action": self.datasource},
            "dashboards": self.dashboards,
        }


def grafana_api(
    url: str | None = None,
    timeout: float = 10.0,
    environ: Mapping[str, str] | None = None,
) -> GrafanaApi:
    """A GrafanaApi for `url` (default $FOODTRACE_GRAFANA_URL), authenticated by
    $FOODTRACE_GRAFANA_TOKEN when set, else by the URL's user:password (read from
    `environ`, the entry point's; default: the process's environment)."""
    from grafana_client.api import GrafanaApi

    env = os.environ if environ is None else environ
    url = url or env.get(GRAFANA_URL_ENV)
    if not url:
        raise ConfigError(
            f"no Grafana URL: pass --url or set {GRAFANA_URL_ENV}, "
            "e.g. http://127.0.0.1:3000 with a service account token in "
            f"{GRAFANA_TOKEN_ENV} (or http://admin:PASSWORD@127.0.0.1:3000)"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"the Grafana URL must be http(s)://host:port, got {redact(url)!r}")
    token = env.get(GRAFANA_TOKEN_ENV)
    if not token and not (parts.username and parts.password):
        raise ConfigError(
            f"no Grafana credentials: set {GRAFANA_TOKEN_ENV} to a service account token "
            "(Editor role or above), or put user:password in the URL"
        )
    api: GrafanaApi = GrafanaApi.from_url(url, credential=token or None, timeout=timeout)
    return api


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


def publish(
    api: GrafanaApi,
    datasource: Mapping[str, Any],
    dashboards: Mapping[str, Mapping[str, Any]],
    *,
    url_for_report: str = "",
) -> PublishResult:
    """Upsert the folder, the datasource and every dashboard; raise GrafanaException."""
    result = PublishResult(grafana=redact(url_for_report))
    result.folder = _ensure_folder(api)
    result.datasource = _upsert_datasource(api, dict(datasource))
    for key, dashboard in dashboards.items():
        saved = api.dashboard.update_dashboard(dashboard_payload(dict(dashboard)))
        result.dashboards.append(
            {
                "key": key,
                "uid": saved.get("uid", dashboard.get("uid")),
                "title": dashboard.get("title"),
                "version": saved.get("version"),
                "url": saved.get("url"),
                "status": saved.get("status"),
            }
        )
    return result


def _is_not_found(exc: Exception) -> bool:
    return getattr(exc, "status_code", None) == 404


def _ensure_folder(api: GrafanaApi) -> str:
    from grafana_client.client import GrafanaClientError

    try:
        api.folder.get_folder(FOLDER_UID)
        return "exists"
    except GrafanaClientError as exc:
        if not _is_not_found(exc):
            raise
    api.folder.create_folder(FOLDER_TITLE, uid=FOLDER_UID)
    return "created"


def _upsert_datasource(api: GrafanaApi, payload: dict[str, Any]) -> str:
    from grafana_client.client import GrafanaClientError

    try:
        api.datasource.get_datasource_by_uid(DATASOURCE_UID)
    except GrafanaClientError as exc:
        if not _is_not_found(exc):
            raise
        api.datasource.create_datasource(payload)
        return "created"
    api.datasource.update_datasource_by_uid(DATASOURCE_UID, payload)
    return "updated"
