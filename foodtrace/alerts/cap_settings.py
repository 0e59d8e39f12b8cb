"""Deployment settings of the CAP 1.2 documents (docs/cap.md), built from the
environment once by the entry point and passed down; tests build them directly.

| variable | default | what |
|---|---|---|
| FOODTRACE_CAP_SENDER | foodtrace@pearl-river-delta | <sender>: the account the receiving platform knows this deployment by |
| FOODTRACE_CAP_SENDER_NAME_ZH / _EN | foodtrace 食品安全预警系统 / foodtrace food-safety alerts | <senderName> of the zh-CN / en-US block |
| FOODTRACE_CAP_EXPIRES_HOURS | 72 | <expires> = <sent> + this many hours (the longest recall-class deadline) |
| FOODTRACE_CAP_CONTACT | 12315 | <contact>: the issuing office's duty line |
| FOODTRACE_CAP_WEB | unset (no <web>) | <web>: absolute http(s) URL; `{alert_id}` is replaced by the alert's id |
| FOODTRACE_CAP_ID_SCHEME | foodtrace | <identifier> scheme: `foodtrace` or `gbt35965` |
| FOODTRACE_CAP_AGENCY_CODE | 000 | gbt35965: DDD, 3-digit GB/T 4657 agency code (to be confirmed per deployment) |
| FOODTRACE_CAP_UNIT_CODE | 000 | gbt35965: UUU, the issuing unit's internal code |
| FOODTRACE_CAP_EXTENSION_CODE | 00 | gbt35965: XX, extension code |
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from foodtrace.config import ConfigError

SENDER_ENV = "FOODTRACE_CAP_SENDER"
SENDER_NAME_ZH_ENV = "FOODTRACE_CAP_SENDER_NAME_ZH"
SENDER_NAME_EN_ENV = "FOODTRACE_CAP_SENDER_NAME_EN"
EXPIRES_HOURS_ENV = "FOODTRACE_CAP_EXPIRES_HOURS"
CONTACT_ENV = "FOODTRACE_CAP_CONTACT"
WEB_ENV = "FOODTRACE_CAP_WEB"
ID_SCHEME_ENV = "FOODTRACE_CAP_ID_SCHEME"
AGENCY_CODE_ENV = "FOODTRACE_CAP_AGENCY_CODE"
UNIT_CODE_ENV = "FOODTRACE_CAP_UNIT_CODE"
EXTENSION_CODE_ENV = "FOODTRACE_CAP_EXTENSION_CODE"

DEFAULT_SENDER = "foodtrace@pearl-river-delta"
DEFAULT_SENDER_NAME_ZH = "foodtrace 食品安全预警系统"
DEFAULT_SENDER_NAME_EN = "foodtrace food-safety alerts"
# 72 h: the third-level (longest) recall deadline of China's Food Recall Measures;
# an alert still in force after that is re-sent as an Update, which moves it on.
DEFAULT_EXPIRES_HOURS = 72.0
DEFAULT_CONTACT = "12315"  # the national market-regulation hotline: set the office's own line
SCHEME_FOODTRACE = "foodtrace"
SCHEME_GBT35965 = "gbt35965"
SCHEMES = (SCHEME_FOODTRACE, SCHEME_GBT35965)

_CAP_FORBIDDEN = re.compile(r"[\s,&<]")  # CAP 1.2 3.2.1: sender/identifier without these


@dataclass(frozen=True)
class CapSettings:
    sender: str = DEFAULT_SENDER
    sender_name_zh: str = DEFAULT_SENDER_NAME_ZH
    sender_name_en: str = DEFAULT_SENDER_NAME_EN
    expires_hours: float = DEFAULT_EXPIRES_HOURS
    contact: str | None = DEFAULT_CONTACT
    web: str | None = None
    identifier_scheme: str = SCHEME_FOODTRACE
    agency_code: str = "000"
    unit_code: str = "000"
    extension_code: str = "00"

    def __post_init__(self) -> None:
        if not self.sender or _CAP_FORBIDDEN.search(self.sender):
            raise ConfigError(f"{SENDER_ENV} must be non-empty without spaces, commas, & or <; "
                              f"got {self.sender!r}")
        if not 0 < self.expires_hours <= 24 * 365:
            raise ConfigError(f"{EXPIRES_HOURS_ENV} must be > 0 and at most a year of hours, "
                              f"got {self.expires_hours!r}")
        if self.web is not None:
            parts = urlsplit(self.web.replace("{alert_id}", "x"))
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConfigError(f"{WEB_ENV} must be an absolute http(s) URL, got {self.web!r}")
        if self.identifier_scheme not in SCHEMES:
            raise ConfigError(f"{ID_SCHEME_ENV} must be one of {', '.join(SCHEMES)}, "
                              f"got {self.identifier_scheme!r}")
        for env, value, digits in ((AGENCY_CODE_ENV, self.agency_code, 3),
                                   (UNIT_CODE_ENV, self.unit_code, 3),
                                   (EXTENSION_CODE_ENV, self.extension_code, 2)):
            if not re.fullmatch(rf"\d{{{digits}}}", value):
                raise ConfigError(f"{env} must be {digits} digits, got {value!r}")

    def web_for(self, alert_id: str) -> str | None:
        return self.web.replace("{alert_id}", alert_id) if self.web else None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CapSettings:
        env = os.environ if environ is None else environ
        hours = env.get(EXPIRES_HOURS_ENV) or str(DEFAULT_EXPIRES_HOURS)
        try:
            expires_hours = float(hours)
        except ValueError:
            raise ConfigError(
                f"{EXPIRES_HOURS_ENV} must be a number of hours, got {hours!r}") from None
        return cls(
            sender=env.get(SENDER_ENV) or DEFAULT_SENDER,
            sender_name_zh=env.get(SENDER_NAME_ZH_ENV) or DEFAULT_SENDER_NAME_ZH,
            sender_name_en=env.get(SENDER_NAME_EN_ENV) or DEFAULT_SENDER_NAME_EN,
            expires_hours=expires_hours,
            contact=env.get(CONTACT_ENV) or DEFAULT_CONTACT,
            web=env.get(WEB_ENV) or None,
            identifier_scheme=(env.get(ID_SCHEME_ENV) or SCHEME_FOODTRACE).strip().lower(),
            agency_code=env.get(AGENCY_CODE_ENV) or "000",
            unit_code=env.get(UNIT_CODE_ENV) or "000",
            extension_code=env.get(EXTENSION_CODE_ENV) or "00",
        )
