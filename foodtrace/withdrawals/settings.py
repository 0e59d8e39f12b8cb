"""Deployment settings of withdrawal coordination (pure parsing, env at the edge).

Recall classes of China's Food Recall Measures (食品召回管理办法, art. 13): first
level within 24 h, second 48 h, third 72 h. Which class an alert's severity means
is a deployment decision; the default is

    critical (a confirmed result above the limit)  -> first level  (24 h)
    warning  (a rapid-test positive, unconfirmed)   -> second level (48 h)

FOODTRACE_RECALL_CLASSES overrides it, e.g. "critical=1,warning=3".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

RECALL_CLASSES_ENV = "FOODTRACE_RECALL_CLASSES"
CLASS_HOURS: Mapping[int, int] = {1: 24, 2: 48, 3: 72}
DEFAULT_CLASSES: Mapping[str, int] = {"critical": 1, "warning": 2}
SEVERITIES = ("warning", "critical")


@dataclass(frozen=True)
class RecallSettings:
    classes: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_CLASSES))

    def recall_class(self, severity: str) -> int:
        # an unknown severity gets the strictest class: a deadline too short is
        # corrected by a person, one too long is not noticed
        return self.classes.get(severity, 1)

    def deadline(self, severity: str, issued_at: datetime) -> datetime:
        return issued_at + timedelta(hours=CLASS_HOURS[self.recall_class(severity)])


def parse_classes(text: str | None) -> dict[str, int]:
    """'critical=1,warning=2' -> {critical: 1, warning: 2}, over the defaults.
    ValueError names what is wrong."""
    classes = dict(DEFAULT_CLASSES)
    if not text or not text.strip():
        return classes
    for item in text.split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or name not in SEVERITIES:
            raise ValueError(
                f"{RECALL_CLASSES_ENV}: {item.strip()!r} is not severity=class "
                f"(severity one of {', '.join(SEVERITIES)})"
            )
        if value not in ("1", "2", "3"):
            raise ValueError(f"{RECALL_CLASSES_ENV}: recall class of {name} must be 1, 2 or 3")
        classes[name] = int(value)
    return classes


def recall_settings(env: Mapping[str, str] | None = None) -> RecallSettings:
    source = os.environ if env is None else env
    return RecallSettings(parse_classes(source.get(RECALL_CLASSES_ENV)))
