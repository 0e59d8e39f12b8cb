"""Settings, read from the environment only (never from files in the repo).

Each entry point (a CLI command, a DAG task, an ingest worker, the EPCIS API)
builds one `Settings` with `Settings.from_env()` and passes it down; nothing
below an entry point reads os.environ. Settings objects of their own (CAP,
withdrawals, EPCIS API, validation) are built from `Settings.environ`, the same
snapshot.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, overload
from urllib.parse import unquote, urlsplit

DATABASE_URL_ENV = "FOODTRACE_DATABASE_URL"
MQTT_URL_ENV = "FOODTRACE_MQTT_URL"
# The folder of DAG files `foodtrace pipeline run` runs (default: the packaged ones).
DAGS_FOLDER_ENV = "FOODTRACE_DAGS_FOLDER"
# The PEM files of mqtts:// connections (docs: README, TLS).
CA_FILE_ENV = "FOODTRACE_MQTT_CA_FILE"  # the CA that signed the broker's certificate
CERT_FILE_ENV = "FOODTRACE_MQTT_CERT_FILE"  # a client certificate (and maybe its key)
KEY_FILE_ENV = "FOODTRACE_MQTT_KEY_FILE"  # its key, unless the certificate file holds it


class ConfigError(ValueError):
    """A setting is missing or malformed; the message says how to fix it."""


@dataclass(frozen=True)
class TlsFiles:
    """The PEM files an mqtts:// client uses (None: not set)."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TlsFiles:
        env = os.environ if environ is None else environ
        return cls(
            ca_file=env.get(CA_FILE_ENV) or None,
            cert_file=env.get(CERT_FILE_ENV) or None,
            key_file=env.get(KEY_FILE_ENV) or None,
        )


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
    # The TLS files, as the entry point read them (Settings.mqtt). None: settings
    # made without an environment (parse_mqtt_url, by hand): the client reads the
    # process's environment when it is made (`tls_files_or_env`).
    tls_files: TlsFiles | None = field(default=None, compare=False)

    def tls_files_or_env(self) -> TlsFiles:
        return self.tls_files if self.tls_files is not None else TlsFiles.from_env()

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


def _database_url_missing() -> ConfigError:
    return ConfigError(
        f"{DATABASE_URL_ENV} is not set. Set it to a PostgreSQL URL, e.g. "
        "postgresql://foodtrace@127.0.0.1:5432/foodtrace, or run `foodtrace demo` "
        "which starts an embedded database."
    )


def _mqtt_url_missing() -> ConfigError:
    return ConfigError(
        f"{MQTT_URL_ENV} is not set. Set it to e.g. mqtt://user:pass@127.0.0.1:1883, "
        "or run `foodtrace demo` which starts an embedded broker."
    )


@dataclass(frozen=True)
class Settings:
    """What a process reads from its environment, read once at its entry point.

    The URLs stay text until asked for (`database`, `mqtt`), so a command that needs
    no broker is not refused for a malformed MQTT URL, and each error message is the
    one the missing or malformed variable has always given. Not shown by repr: the
    URLs carry passwords.
    """

    database_url: str | None = field(default=None, repr=False)
    mqtt_url: str | None = field(default=None, repr=False)
    dags_folder: str | None = None
    # The whole environment as read (read-only), for the settings objects of their
    # own (CapSettings, withdrawals, EPCIS API, validation report folder, ...).
    environ: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({}), repr=False, compare=False
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings in `environ` (default: this process's environment, os.environ),
        copied: later changes of the environment do not change them."""
        source = MappingProxyType(dict(os.environ if environ is None else environ))
        return cls(
            database_url=source.get(DATABASE_URL_ENV) or None,
            mqtt_url=source.get(MQTT_URL_ENV) or None,
            dags_folder=source.get(DAGS_FOLDER_ENV) or None,
            environ=source,
        )

    @overload
    def database(self, required: Literal[True] = True) -> str: ...
    @overload
    def database(self, required: bool) -> str | None: ...
    def database(self, required: bool = True) -> str | None:
        """The database URL; required=True (the default) raises ConfigError if unset."""
        if not self.database_url and required:
            raise _database_url_missing()
        return self.database_url

    @overload
    def mqtt(self, required: Literal[True] = True) -> MqttSettings: ...
    @overload
    def mqtt(self, required: bool) -> MqttSettings | None: ...
    def mqtt(self, required: bool = True) -> MqttSettings | None:
        """The MQTT settings; required=True (the default) raises ConfigError if unset."""
        if not self.mqtt_url:
            if required:
                raise _mqtt_url_missing()
            return None
        parsed = parse_mqtt_url(self.mqtt_url)
        return dataclasses.replace(parsed, tls_files=TlsFiles.from_env(self.environ))


# The process's environment read now: for callers that are not handed a Settings
# (library use, tests). required=True (the default) raises ConfigError instead of
# returning None.
@overload
def database_url(required: Literal[True] = True) -> str: ...
@overload
def database_url(required: bool) -> str | None: ...
def database_url(required: bool = True) -> str | None:
    return Settings.from_env().database(required)


@overload
def mqtt_settings(required: Literal[True] = True) -> MqttSettings: ...
@overload
def mqtt_settings(required: bool) -> MqttSettings | None: ...
def mqtt_settings(required: bool = True) -> MqttSettings | None:
    return Settings.from_env().mqtt(required)
