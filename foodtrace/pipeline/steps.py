"""Thin, typed pipeline steps: open a connection, call the team's step, report.

Each step is idempotent and retry-safe because the function it calls is (queues
and ON CONFLICT inserts, see their modules); the steps add no state of their own.
Results are plain dataclasses with `as_dict()` / `from_dict()` so Airflow can pass
them as XCom JSON and the CLI can rebuild them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from foodtrace.config import MqttSettings, mqtt_settings
from foodtrace.config import database_url as configured_database_url

T = TypeVar("T")
log = logging.getLogger(__name__)


def _from_dict(cls: type[T], data: dict[str, Any]) -> T:
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class ValidateResult:
    checked: int = 0
    promoted: int = 0
    quarantined: int = 0
    findings: int = 0  # recorded on promoted rows
    run_ids: list[int] = field(default_factory=list)
    report_path: str | None = None
    notified: int | None = None  # sender notices published; None: no MQTT configured
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ValidateResult:
        return _from_dict(cls, data)


@dataclass(frozen=True)
class LinkResult:
    events: int = 0
    lab_results: int = 0
    edges: int = 0
    lot_locations: int = 0
    rescope_queued: int = 0  # open alerts that late data may have changed
    seconds: float = 0.0

    @property
    def linked(self) -> int:
        return self.events + self.lab_results

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LinkResult:
        return _from_dict(cls, data)


@dataclass(frozen=True)
class AlertResult:
    alerts: list[str] = field(default_factory=list)  # raised, upgraded or cleared
    rescoped: list[str] = field(default_factory=list)  # new versions from late data
    delivered: int | None = None  # None: FOODTRACE_MQTT_URL not set, nothing published
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertResult:
        return _from_dict(cls, data)


@dataclass(frozen=True)
class PipelineReport:
    validate: ValidateResult
    link: LinkResult
    alert: AlertResult
    mode: str = "direct"  # direct | airflow

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "validate": self.validate.as_dict(),
            "link": self.link.as_dict(),
            "alert": self.alert.as_dict(),
            "report_path": self.validate.report_path,
        }

    def summary_lines(self) -> list[str]:
        v, lk, a = self.validate, self.link, self.alert
        delivered = (
            "not published (FOODTRACE_MQTT_URL not set)"
            if a.delivered is None
            else (f"{a.delivered} delivered")
        )
        return [
            f"validate: {v.checked} checked, {v.promoted} promoted, {v.quarantined} quarantined, "
            f"{v.findings} findings ({v.seconds:.1f} s)",
            f"link:     {lk.events} events and {lk.lab_results} lab results linked, "
            f"{lk.edges} lot edges, {lk.lot_locations} lot locations ({lk.seconds:.1f} s)",
            f"alerts:   {len(a.alerts)} raised/upgraded/cleared, {len(a.rescoped)} re-scoped by "
            f"late data, {delivered} ({a.seconds:.1f} s)",
            f"validation report: {v.report_path or '(nothing was validated)'}",
        ]


def _connect(database_url: str | None):
    from foodtrace.db import connect

    return connect(database_url or configured_database_url())


def validate_step(
    database_url: str | None = None,
    *,
    report_dir: Path | None = None,
    now: datetime | None = None,
    mqtt: MqttSettings | None = None,
) -> ValidateResult:
    """Pipeline step 1: validate landing and promote to core, then tell the senders
    (when an MQTT broker is configured) what was rejected or stored with findings."""
    from foodtrace.validate.promote import validate_and_promote

    settings = mqtt or mqtt_settings(required=False)
    with _connect(database_url) as conn:
        stats = validate_and_promote(conn, report_dir=report_dir, now=now)
        notified = _tell_senders(conn, settings)
    return ValidateResult(
        checked=stats.checked,
        promoted=stats.promoted,
        quarantined=stats.quarantined,
        findings=stats.findings,
        run_ids=stats.run_ids,
        report_path=stats.report_path,
        notified=notified,
        seconds=stats.seconds,
    )


def _tell_senders(conn, settings: MqttSettings | None) -> int | None:
    """Publish pending sender notices; a broker that refuses some leaves them queued
    for the next step (they must not stop promotion from reaching the trace)."""
    if settings is None:
        return None
    from foodtrace.mqtt_publish import DeliveryError
    from foodtrace.validate.notices import deliver_notices

    try:
        return deliver_notices(conn, settings)
    except DeliveryError as exc:
        log.warning("%s", exc)
        return 0


def link_step(database_url: str | None = None) -> LinkResult:
    """Pipeline step 2: derive the lot graph for newly promoted rows (trace team)."""
    from foodtrace.trace.link import link

    with _connect(database_url) as conn:
        stats = link(conn)
        row = conn.execute(
            "SELECT count(DISTINCT alert_id) FROM core.alert_rescope_queue"
        ).fetchone()
    return LinkResult(
        events=stats.events,
        lab_results=stats.lab_results,
        edges=stats.edges,
        lot_locations=stats.lot_locations,
        rescope_queued=row[0] if row else 0,
        seconds=stats.seconds,
    )


def alert_step(database_url: str | None = None, *, mqtt: MqttSettings | None = None) -> AlertResult:
    """Pipeline step 3: judge new lab results, re-scope the open alerts that late data
    touched and, when an MQTT broker is configured (FOODTRACE_MQTT_URL or `mqtt`),
    publish the pending alert messages (and sender notices an earlier step left)."""
    from foodtrace.alerts.engine import evaluate
    from foodtrace.alerts.rescope import rescope

    started = time.perf_counter()
    settings = mqtt or mqtt_settings(required=False)
    with _connect(database_url) as conn:
        changed = evaluate(conn)
        rescoped = rescope(conn)
        delivered = None
        if settings is not None:
            from foodtrace.alerts.outbox import deliver

            delivered = deliver(conn, settings)
            _tell_senders(conn, settings)
    return AlertResult(
        alerts=[str(a) for a in changed],
        rescoped=[str(a) for a in rescoped],
        delivered=delivered,
        seconds=round(time.perf_counter() - started, 3),
    )


def run_once(
    database_url: str | None = None,
    *,
    report_dir: Path | None = None,
    mqtt: MqttSettings | None = None,
) -> PipelineReport:
    """validate -> link -> alerts, in this process, without Airflow."""
    return PipelineReport(
        validate=validate_step(database_url, report_dir=report_dir, mqtt=mqtt),
        link=link_step(database_url),
        alert=alert_step(database_url, mqtt=mqtt),
        mode="direct",
    )
