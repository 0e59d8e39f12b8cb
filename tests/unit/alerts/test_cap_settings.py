"""CAP deployment settings (alerts/cap_settings.py): read from a given environment,
defaults as documented in docs/cap.md, malformed values refused with a clear error."""

from __future__ import annotations

import pytest

from foodtrace.alerts.cap_settings import CapSettings
from foodtrace.config import ConfigError


def test_defaults_from_an_empty_environment() -> None:
    s = CapSettings.from_env({})
    assert s == CapSettings()
    assert (s.sender, s.expires_hours, s.contact, s.web, s.identifier_scheme) == (
        "foodtrace@pearl-river-delta", 72.0, "12315", None, "foodtrace")


def test_every_setting_is_read() -> None:
    s = CapSettings.from_env({
        "FOODTRACE_CAP_SENDER": "44010012300000",
        "FOODTRACE_CAP_SENDER_NAME_ZH": "广州市市场监督管理局",
        "FOODTRACE_CAP_SENDER_NAME_EN": "Guangzhou Administration for Market Regulation",
        "FOODTRACE_CAP_EXPIRES_HOURS": "24",
        "FOODTRACE_CAP_CONTACT": "020-83315123",
        "FOODTRACE_CAP_WEB": "https://example.gov.cn/a/{alert_id}",
        "FOODTRACE_CAP_ID_SCHEME": "GBT35965",
        "FOODTRACE_CAP_AGENCY_CODE": "123",
        "FOODTRACE_CAP_UNIT_CODE": "001",
        "FOODTRACE_CAP_EXTENSION_CODE": "01",
    })
    assert s.sender == "44010012300000" and s.sender_name_zh == "广州市市场监督管理局"
    assert s.expires_hours == 24 and s.contact == "020-83315123"
    assert s.web_for("A-1") == "https://example.gov.cn/a/A-1"
    assert (s.identifier_scheme, s.agency_code, s.unit_code, s.extension_code) == (
        "gbt35965", "123", "001", "01")


@pytest.mark.parametrize(("name", "value", "says"), [
    ("FOODTRACE_CAP_EXPIRES_HOURS", "soon", "number of hours"),
    ("FOODTRACE_CAP_EXPIRES_HOURS", "0", "must be > 0"),
    ("FOODTRACE_CAP_WEB", "example.gov.cn/alerts", "absolute http"),
    ("FOODTRACE_CAP_ID_SCHEME", "uuid", "foodtrace, gbt35965"),
    ("FOODTRACE_CAP_AGENCY_CODE", "12", "3 digits"),
    ("FOODTRACE_CAP_EXTENSION_CODE", "0a", "2 digits"),
    ("FOODTRACE_CAP_SENDER", "food trace", "without spaces"),
])
def test_malformed_settings_are_refused(name: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        CapSettings.from_env({name: value})
