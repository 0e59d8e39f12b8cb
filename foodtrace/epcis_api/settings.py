"""Settings of the EPCIS REST interface, from the environment (like every other
foodtrace command) or given explicitly (tests, benchmarks).

| variable | default | what |
|---|---|---|
| FOODTRACE_DATABASE_URL | (required) | PostgreSQL; in production a login of role `foodtrace_api` |
| FOODTRACE_API_TOKENS_FILE | (required) | the senders' bearer tokens (auth.py) |
| FOODTRACE_MAX_MESSAGE_BYTES | 1048576 | largest POST /capture body: the MQTT limit, so both paths take the same documents |
| FOODTRACE_API_PAGE_TOKEN_KEY | random per process | HMAC key of nextPageToken; set the same value on every API process behind one address |
| FOODTRACE_EPCIS_TZ_OFFSET | +08:00 | eventTimeZoneOffset of events sent as foodtrace JSON (all nine PRD cities are on China Standard Time) |
| FOODTRACE_MQTT_URL | unset | when set, rejection notices also go to foodtrace/v1/rejections/{sender}, as on the MQTT path |
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from foodtrace.config import ConfigError, MqttSettings, Settings

TOKENS_FILE_ENV = "FOODTRACE_API_TOKENS_FILE"
PAGE_TOKEN_KEY_ENV = "FOODTRACE_API_PAGE_TOKEN_KEY"
TZ_OFFSET_ENV = "FOODTRACE_EPCIS_TZ_OFFSET"
DEFAULT_TZ_OFFSET = "+08:00"
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 1000
DB_POOL_SIZE = 4  # connections for queries; as many landing writers for captures

_OFFSET = re.compile(r"^[+-](0\d|1[0-3]):[0-5]\d$|^[+-]14:00$")


@dataclass(frozen=True)
class ApiSettings:
    database_url: str
    tokens_file: Path
    max_body_bytes: int = 1024 * 1024
    page_token_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    tz_offset: str = DEFAULT_TZ_OFFSET
    mqtt: MqttSettings | None = None
    pool_size: int = DB_POOL_SIZE

    def __post_init__(self) -> None:
        if not _OFFSET.match(self.tz_offset):
            raise ConfigError(f"{TZ_OFFSET_ENV} must be +hh:mm or -hh:mm, got {self.tz_offset!r}")
        if self.max_body_bytes <= 0:
            raise ConfigError("the capture body limit must be positive")

    @classmethod
    def from_env(cls, settings: Settings | None = None) -> ApiSettings:
        """From `settings` (the entry point's; default: the process's environment)."""
        from foodtrace.ingest.consumer import max_message_bytes_from_env

        given = settings if settings is not None else Settings.from_env()
        env = given.environ
        tokens = env.get(TOKENS_FILE_ENV)
        if not tokens:
            raise ConfigError(
                f"{TOKENS_FILE_ENV} is not set: point it at the file of sender tokens "
                "(sha256 of each token and its actor id; see README, 'Sending EPCIS')"
            )
        key = env.get(PAGE_TOKEN_KEY_ENV)
        return cls(
            database_url=given.database(),
            tokens_file=Path(tokens),
            max_body_bytes=max_message_bytes_from_env(env),
            page_token_key=key.encode() if key else secrets.token_bytes(32),
            tz_offset=env.get(TZ_OFFSET_ENV, DEFAULT_TZ_OFFSET),
            mqtt=given.mqtt(required=False),
        )
