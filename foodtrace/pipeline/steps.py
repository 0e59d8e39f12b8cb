"""Thin, typed pipeline steps: open a connection, call the team's step, report.

Each step is idempotent and retry-safe because the function it calls is (queues
and ON CONFLICT inserts, see their modules); the steps add no state of their own.
Results are plain dataclasses with `as_dict()` / `from_dict()` so Airflow can pass
them as XCom JSON and the CLI can rebuild them; each records when its work started
and ended (epoch seconds), which the end-to-end benchmark reads back.

Several DAGs run these steps at once (the lab-result lane, the batch path, the
sweep; dags/), so the steps serialise where the functions they call assume one
caller at a time:
- link_step and alert_step's judging and re-scoping share a session advisory lock
  (the graph lock): a lab result is judged on a lot graph that no concurrent link
  is half-way through, and a link after an alert's commit sees that alert's scope
  keys (core.alert_scope), so its triggers queue the re-scope. Without it, an
  alert raised while another lane linked an event of its lot could miss that
  event for good.
- alert delivery: outbox.deliver() gives up at once when another deliverer holds
  its lock (and that one sends only what was pending when it started), so
  alert_step tries again until nothing is pending (at most `DELIVER_WAIT_S`).
- validation serialises per lane itself (foodtrace.validate.promote).

Settings: each step takes the entry point's `settings` (foodtrace.config.Settings:
a DAG task's, `foodtrace pipeline run`'s); a step called without them reads the
process's environment once, as an entry point of its own. `database_url`, `mqtt`
and `report_dir`, when given, win over the settings.

`wait_for_landing` lets a task wait for its next message instead of being started
for it: the lab-result lane's task (dags/foodtrace_lab_results.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from foodtrace.config import MqttSettings, Settings
from foodtrace.pipeline.runs import recorded

if TYPE_CHECKING:
    import psycopg

T = TypeVar("T")
log = logging.getLogger(__name__)

GRAPH_LOCK_KEY = 0x46_54_47_52  # "FTGR": link vs. judging and re-scoping (module doc)
DELIVER_WAIT_S = 30.0  # how long alert_step waits for another deliverer to finish
LANDING_CHANNEL = "foodtrace_landing"  # NOTIFY'd by the landing tables (0005_validation.sql)
WAIT_APPLICATION_NAME = "foodtrace-wait"  # wait_for_landing's connection (seen in pg_stat_activity)


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
    seconds: float = 0.0  # validation and promotion
    kinds: list[str] | None = None  # the message kinds validated; None: all
    engines: dict[str, str] = field(default_factory=dict)  # kind -> gx | compiled
    waited_s: float | None = None  # waiting for the first message (wait_for_landing)
    started_at: float | None = None  # when the step's work began (epoch seconds)
    finished_at: float | None = None  # and ended

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
    started_at: float | None = None  # when the step's work began (epoch seconds)
    finished_at: float | None = None  # and ended

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
    started_at: float | None = None  # when the step's work began (epoch seconds)
    finished_at: float | None = None  # and ended

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertResult:
        return _from_dict(cls, data)


@dataclass(frozen=True)
class WithdrawalResult:
    linked: int = 0  # withdrawal reports linked to their notice
    rejected: int = 0  # unknown notice / wrong recipient (quarantined)
    findings: int = 0
    reissued: int = 0  # notices the alert path failed to issue, issued by the sweep
    overdue: int = 0  # notices that went overdue now
    escalations: list[str] = field(default_factory=list)  # CAP identifiers queued
    delivered: int | None = None  # notices + escalations published; None: no MQTT
    started_at: float | None = None
    finished_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WithdrawalResult:
        return _from_dict(cls, data)


@dataclass(frozen=True)
class PipelineReport:
    validate: ValidateResult
    link: LinkResult
    alert: AlertResult
    mode: str = "direct"  # direct | airflow
    withdrawal: WithdrawalResult | None = None  # run_once runs it; the batch DAGs do not

    def as_dict(self) -> dict[str, Any]:
        out = {
            "mode": self.mode,
            "validate": self.validate.as_dict(),
            "link": self.link.as_dict(),
            "alert": self.alert.as_dict(),
            "report_path": self.validate.report_path,
        }
        if self.withdrawal is not None:
            out["withdrawal"] = self.withdrawal.as_dict()
        return out

    def summary_lines(self) -> list[str]:
        v, lk, a = self.validate, self.link, self.alert
        delivered = (
            "not published (FOODTRACE_MQTT_URL not set)"
            if a.delivered is None
            else (f"{a.delivered} delivered")
        )
        lines = [
            f"validate: {v.checked} checked, {v.promoted} promoted, {v.quarantined} quarantined, "
            f"{v.findings} findings ({v.seconds:.1f} s)",
            f"link:     {lk.events} events and {lk.lab_results} lab results linked, "
            f"{lk.edges} lot edges, {lk.lot_locations} lot locations ({lk.seconds:.1f} s)",
            f"alerts:   {len(a.alerts)} raised/upgraded/cleared, {len(a.rescoped)} re-scoped by "
            f"late data, {delivered} ({a.seconds:.1f} s)",
        ]
        if (w := self.withdrawal) is not None:
            lines.append(
                f"withdrawals: {w.linked} reports linked, {w.rejected} rejected, "
                f"{w.findings} findings, {w.overdue} notices overdue, {len(w.escalations)} "
                f"escalations, {'not published' if w.delivered is None else w.delivered} "
                "published")
        return [*lines, f"validation report: {v.report_path or '(nothing was validated)'}"]


def _settings(settings: Settings | None) -> Settings:
    """The entry point's settings, or the environment read now (module doc)."""
    return settings if settings is not None else Settings.from_env()


def _connect(database_url: str | None, settings: Settings) -> psycopg.Connection:
    from foodtrace.db import connect

    return connect(database_url or settings.database())


def wait_for_landing(
    kinds: Sequence[str] | None,
    timeout_s: float,
    database_url: str | None = None,
    *,
    settings: Settings | None = None,
) -> float | None:
    """Block until a landing row of one of `kinds` (None: any) is queued for
    validation, at most `timeout_s`; the seconds waited, or None on timeout.

    LISTENs before it looks at the queue, so a row committed in between is not
    missed; returns at once if one is queued already."""
    import psycopg
    from psycopg import sql

    started = time.monotonic()
    url = database_url or _settings(settings).database()
    with psycopg.connect(url, autocommit=True, application_name=WAIT_APPLICATION_NAME) as conn:
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(LANDING_CHANNEL)))
        row = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM landing.validation_queue "
            "WHERE %(kinds)s::text[] IS NULL OR kind = ANY(%(kinds)s::text[]))",
            {"kinds": None if kinds is None else list(kinds)},
        ).fetchone()
        if row and row[0]:
            return 0.0
        while (left := timeout_s - (time.monotonic() - started)) > 0:
            for note in conn.notifies(timeout=left, stop_after=1):
                if kinds is None or _notified_kind(note.payload) in kinds:
                    return round(time.monotonic() - started, 3)
    return None


def _notified_kind(payload: str) -> str | None:
    try:
        return str(json.loads(payload).get("kind"))
    except (ValueError, AttributeError):
        return None


@recorded("validate")
def validate_step(
    database_url: str | None = None,
    *,
    report_dir: Path | None = None,
    now: datetime | None = None,
    mqtt: MqttSettings | None = None,
    kinds: Sequence[str] | None = None,
    settings: Settings | None = None,
) -> ValidateResult:
    """Pipeline step 1: validate landing (`kinds`: some message kinds only) and
    promote to core, then tell the senders (when an MQTT broker is configured) what
    was rejected or stored with findings. `report_dir` (default
    FOODTRACE_REPORT_DIR of the settings, else a temp folder): where the validation
    report goes."""
    from foodtrace.validate.promote import validate_and_promote
    from foodtrace.validate.settings import report_dir_from_env

    started_at = time.time()
    given = _settings(settings)
    broker = mqtt or given.mqtt(required=False)
    report_dir = report_dir or report_dir_from_env(given.environ)
    with _connect(database_url, given) as conn:
        # commits batch by batch itself (foodtrace.validate.promote: Transactions)
        stats = validate_and_promote(conn, report_dir=report_dir, now=now, kinds=kinds)
        notified = _tell_senders(conn, broker)
    return ValidateResult(
        checked=stats.checked,
        promoted=stats.promoted,
        quarantined=stats.quarantined,
        findings=stats.findings,
        run_ids=stats.run_ids,
        report_path=stats.report_path,
        notified=notified,
        seconds=stats.seconds,
        kinds=None if kinds is None else list(kinds),
        engines=stats.engines,
        started_at=started_at,
        finished_at=time.time(),
    )


def _tell_senders(conn: psycopg.Connection, settings: MqttSettings | None) -> int | None:
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


@recorded("link")
def link_step(database_url: str | None = None, *, settings: Settings | None = None) -> LinkResult:
    """Pipeline step 2: derive the lot graph for newly promoted rows (trace team)."""
    from foodtrace.trace.link import link

    started_at = time.time()
    with _connect(database_url, _settings(settings)) as conn, graph_lock(conn):
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
        started_at=started_at,
        finished_at=time.time(),
    )


@recorded("alert")
def alert_step(
    database_url: str | None = None,
    *,
    mqtt: MqttSettings | None = None,
    settings: Settings | None = None,
) -> AlertResult:
    """Pipeline step 3: judge new lab results, re-scope the open alerts that late data
    touched and, when an MQTT broker is configured (FOODTRACE_MQTT_URL or `mqtt`),
    publish the pending alert messages (and sender notices an earlier step left)."""
    from foodtrace.alerts.cap_settings import CapSettings
    from foodtrace.alerts.engine import evaluate
    from foodtrace.alerts.rescope import rescope

    started_at, started = time.time(), time.perf_counter()
    given = _settings(settings)
    broker = mqtt or given.mqtt(required=False)
    # once per run, passed down to the outbox
    cap_settings = CapSettings.from_env(given.environ)
    with _connect(database_url, given) as conn:
        with graph_lock(conn):
            changed = evaluate(conn, cap_settings=cap_settings)
            rescoped = rescope(conn, cap_settings=cap_settings)
        delivered = None
        if broker is not None:
            delivered = _deliver_alerts(conn, broker)
            _tell_senders(conn, broker)
            _deliver_notices(conn, broker)
    return AlertResult(
        alerts=[str(a) for a in changed],
        rescoped=[str(a) for a in rescoped],
        delivered=delivered,
        seconds=round(time.perf_counter() - started, 3),
        started_at=started_at,
        finished_at=time.time(),
    )


def _deliver_notices(conn: psycopg.Connection, settings: MqttSettings) -> int:
    """Withdrawal notices the alert versions just issued (foodtrace.withdrawals),
    batch after batch (a delivery takes at most 1,000: an alert reaching more
    businesses must not leave the rest for the next sweep). Stops when another
    deliverer holds the lock or the broker refuses (they stay queued)."""
    from foodtrace.withdrawals.step import deliver_pending

    total = 0
    while (sent := deliver_pending(conn, settings)) > 0:
        total += sent
        row = conn.execute("SELECT EXISTS (SELECT 1 FROM core.withdrawal_notices "
                           "WHERE sent_at IS NULL)").fetchone()
        conn.commit()
        if not (row and row[0]):
            break
    return total


@recorded("withdrawals")
def withdrawal_step(
    database_url: str | None = None,
    *,
    mqtt: MqttSettings | None = None,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> WithdrawalResult:
    """Pipeline step 4 (the sweep): link withdrawal reports to their notices, mark
    overdue notices and escalate them to the city's emergency office, publish the
    notices and escalations (foodtrace.withdrawals.step). `now`: the clock."""
    from foodtrace.alerts.cap_settings import CapSettings
    from foodtrace.withdrawals.step import run

    started_at = time.time()
    given = _settings(settings)
    broker = mqtt or given.mqtt(required=False)
    # once per run, passed down to the escalations
    cap_settings = CapSettings.from_env(given.environ)
    with _connect(database_url, given) as conn:
        out = run(conn, broker, now=now, cap_settings=cap_settings)
        if broker is not None:
            out["delivered"] = (out["delivered"] or 0) + _deliver_notices(conn, broker)
            _tell_senders(conn, broker)  # what the reports' senders are told
    return WithdrawalResult(started_at=started_at, finished_at=time.time(), **out)


def graph_lock(conn: psycopg.Connection) -> contextlib.AbstractContextManager[None]:
    """The graph lock (module doc), held by this session."""
    from foodtrace.db.locks import session_lock

    return session_lock(conn, GRAPH_LOCK_KEY, "graph")


def _deliver_alerts(conn: psycopg.Connection, settings: MqttSettings, wait_s: float = DELIVER_WAIT_S) -> int:
    """outbox.deliver() until nothing is pending: it returns 0 at once when another
    deliverer holds the outbox lock, and that one sends only what was pending when
    it started, so an alert enqueued just now would otherwise wait for the next run.
    A broker refusing messages still raises DeliveryError, as before."""
    from foodtrace.alerts.outbox import deliver

    delivered = deliver(conn, settings)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and _outbox_pending(conn):
        time.sleep(0.05)
        delivered += deliver(conn, settings)
    return delivered


def _outbox_pending(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM core.alert_outbox WHERE sent_at IS NULL)"
    ).fetchone()
    conn.commit()
    return bool(row and row[0])


def run_once(
    database_url: str | None = None,
    *,
    report_dir: Path | None = None,
    mqtt: MqttSettings | None = None,
    settings: Settings | None = None,
) -> PipelineReport:
    """validate -> link -> alerts -> withdrawals, in this process, without Airflow
    (the sweep DAG's steps), all with the same settings."""
    given = _settings(settings)
    return PipelineReport(
        validate=validate_step(database_url, report_dir=report_dir, mqtt=mqtt, settings=given),
        link=link_step(database_url, settings=given),
        alert=alert_step(database_url, mqtt=mqtt, settings=given),
        mode="direct",
        withdrawal=withdrawal_step(database_url, mqtt=mqtt, settings=given),
    )
