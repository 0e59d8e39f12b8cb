"""Connection settings, read from the environment only (never from files in the repo)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal, overload
from urllib.parse import unquote, urlsplit

DATABASE_URL_ENV = "FOODTRACE_DATABASE_URL"
MQTT_URL_ENV = "FOODTRACE_MQTT_URL"
# The folder of DAG files `foodtrace pipeline run` runs (default: the packaged ones).
DAGS_FOLDER_ENV = "FOODTRACE_DAGS_FOLDER"


class ConfigError(ValueError):
    """A setting is missing or malformed; the message says how to fix it."""


@dataclass(frozen=True)
class MqttSettings:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False
    # MQTT protocol version: 5 in production (shared subscriptions, user properties);
    # 4 (= 3.1.1) for the embedded demo broker, which speaks nothing newer.
    protocol: int = 5

    @property
    def url(self) -> str:
        auth = f"{self.username}:***@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{auth}{self.host}:{self.port}"


def parse_mqtt_url(url: str) -> MqttSettings:
    """`mqtt://user:pass@host:port` or `mqtts://...` (TLS); `?protocol=3.1.1` for old brokers."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ConfigError(
            f"{MQTT_URL_ENV} must start with mqtt:// or mqtts://, got {parts.scheme!r}"
        )
    if not parts.hostname:
        raise ConfigError(f"{MQTT_URL_ENV} has no host: use mqtt://user:pass@host:1883")
    tls = parts.scheme == "mqtts"
    query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
    protocol = {"5": 5, "3.1.1": 4, "4": 4}.get(query.get("protocol", "5"))
    if protocol is None:
        raise ConfigError(f"{MQTT_URL_ENV}: protocol must be 5 or 3.1.1, got {query['protocol']!r}")
    return MqttSettings(
        host=parts.hostname,
        port=parts.port or (8883 if tls else 1883),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=tls,
        protocol=protocol,
    )


# required=True (the default) raises ConfigError instead of returning None.
@overload
def database_url(required: Literal[True] = True) -> str: ...
@overload
def database_url(required: bool) -> str | None: ...
def database_url(required: bool = True) -> str | None:
    url = os.environ.get(DATABASE_URL_ENV)
    if not url and required:
        raise ConfigError(
            f"{DATABASE_URL_ENV} is not set. Set it to a PostgreSQL URL, e.g. "
            "postgresql://foodtrace@127.0.0.1:5432/foodtrace, or run `foodtrace demo` "
            "which starts an embedded database."
        )
    return url


@overload
def mqtt_settings(required: Literal[True] = True) -> MqttSettings: ...
@overload
def mqtt_settings(required: bool) -> MqttSettings | None: ...
def mqtt_settings(required: bool = True) -> MqttSettings | None:
    url = os.environ.get(MQTT_URL_ENV)
    if not url:
        if required:
            raise ConfigError(
                f"{MQTT_URL_ENV} is not set. Set it to e.g. mqtt://user:pass@127.0.0.1:1883, "
                "or run `foodtrace demo` which starts an embedded broker."
            )
        return None
    return parse_mqtt_url(url)
