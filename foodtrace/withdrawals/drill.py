"""Mock-recall drill (`foodtrace drill`): a seeded simulated incident through the
whole path, with simulated businesses answering, and a report of how it went.

    1. the simulated day's master data, chain events and negative lab results go
       over MQTT, through an in-process ingest worker, and the pipeline runs;
    2. the incident's lab results go out (t0); the pipeline raises the alert and
       publishes the notices; the emergency office and the businesses listen;
    3. the simulated clock starts (compressed: `time_scale` simulated seconds per
       real second, deadlines too); the businesses acknowledge, withdraw, answer
       not_held or never answer (foodtrace.simulate.responders); the withdrawal
       step runs every real second on the simulated clock (the sweep's job), and
       once more when every deadline has passed;
    4. the report: time to alert and to the first and last notice (real seconds
       from t0), answers within the deadline (simulated time), overdue and
       escalations, progress per city, and the notice scope against the
       simulator's ground truth (over- and under-inclusion).

The pipeline runs as `foodtrace pipeline run --direct` does (the DAGs' own steps
without Airflow's start-up). `figures` and `report_lines` are pure. The polls read
in transaction blocks of their own (nothing of the caller's is committed by them),
so a poll on an idle connection holds no snapshot or lock between two looks.
"""

from __future__ import annotations

import threading
import time
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from foodtrace.config import MqttSettings
from foodtrace.db.rows import one
from foodtrace.reference import CITY_FACTS
from foodtrace.simulate.responders import Behaviour, plan_behaviours
from foodtrace.simulate.responders_mqtt import Responders, SimClock

if TYPE_CHECKING:
    from foodtrace.simulate.day import SimulatedDay
    from foodtrace.simulate.truth import GroundTruth

Message = tuple[str, dict[str, Any]]  # (kind, payload), as the simulator yields them

DEFAULT_TIME_SCALE = 21600.0  # 6 simulated hours per real second: a 24 h deadline in 4 s
SWEEP_EVERY_S = 1.0  # real seconds between withdrawal steps during the answers
LANDING_LAG_S = 0.5  # real seconds a report may take to land; the sweep looks that far back
_LANDING_TABLES = ("lab_results", "chain_events", "master_data", "withdrawal_reports")


# ---- ingest and landing --------------------------------------------------------------


@contextmanager
def ingest_worker(database_url: str, mqtt: MqttSettings, worker_id: str) -> Iterator[Any]:
    """One ingest worker in this process for the duration of the block. Its MQTT
    session ends with it (expiry 0): a session left behind in the shared group
    would keep receiving a share of the next run's messages."""
    from foodtrace.ingest.consumer import ConsumerConfig, IngestConsumer

    consumer = IngestConsumer(ConsumerConfig(database_url=database_url, mqtt=mqtt,
                                             worker_id=worker_id, batch_ms=50,
                                             session_expiry_s=0))
    stop = threading.Event()
    thread = consumer.start_in_thread(stop, ready_timeout=30)
    try:
        yield consumer
    finally:
        stop.set()
        thread.join(60)


@contextmanager
def _ingesting(database_url: str, mqtt: MqttSettings | None, worker_id: str) -> Iterator[None]:
    if mqtt is None:  # the deployment's workers ingest
        yield
        return
    with ingest_worker(database_url, mqtt, worker_id):
        yield


def landed(conn: psycopg.Connection) -> dict[str, int]:
    with conn.transaction():
        out: dict[str, int] = {
            t: one(conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
                sql.Identifier("landing", t))))[0]
            for t in _LANDING_TABLES}
        out["quarantine"] = one(conn.execute("SELECT count(*) FROM landing.quarantine"))[0]
    return out


def wait_landed(conn: psycopg.Connection, at_least: int, *, before: Mapping[str, int],
                timeout: float = 300) -> float:
    """Until `at_least` more rows (landed or quarantined) than `before`; seconds waited."""
    started = time.monotonic()
    while True:
        now = landed(conn)
        if sum(now.values()) - sum(before.values()) >= at_least:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"only {sum(now.values()) - sum(before.values())} of "
                               f"{at_least} messages landed in {timeout:.0f} s")
        time.sleep(0.05)


def publish(mqtt: MqttSettings, messages: Sequence[tuple[str, dict[str, Any]]],
            client_id: str) -> None:
    from foodtrace.ingest.publish import Publisher, plan

    with Publisher(mqtt, client_id=client_id) as pub:
        pub.publish(list(plan(messages)))


# ---- the answers ---------------------------------------------------------------------


def notices_out(responders: Responders) -> list[dict[str, Any]]:
    return [h.notice for h in responders.heard]


def answer_phase(database_url: str, mqtt: MqttSettings, responders: Responders,
                 *, margin_h: float = 1.0, timeout: float = 600) -> dict[str, Any]:
    """Start the simulated clock at the first notice's issued_at, let the businesses
    answer, run the withdrawal step on the simulated clock until every deadline and
    answer has passed, then once more. Needs an ingest worker running."""
    from foodtrace.db import connect
    from foodtrace.pipeline.steps import withdrawal_step

    clock = responders.clock
    heard = notices_out(responders)
    if not heard:
        return {"steps": 0, "simulated_start": None, "simulated_end": None, "overdue": 0,
                "escalations": [], "final": None}
    start = min(datetime.fromisoformat(n["issued_at"]) for n in heard)
    clock.start(start)
    deadlines = [datetime.fromisoformat(n["deadline"]) for n in live_notices(heard)
                 if n.get("deadline")]
    last = max([*deadlines, responders.last_due() or start])
    end = last + timedelta(hours=margin_h)
    lag = timedelta(seconds=LANDING_LAG_S * clock.time_scale)
    steps, overdue_seen, escalations = 0, 0, []
    real_deadline = time.monotonic() + timeout
    while clock.now() < end and time.monotonic() < real_deadline:
        time.sleep(SWEEP_EVERY_S)
        out = withdrawal_step(database_url, mqtt=mqtt, now=max(start, clock.now() - lag))
        steps += 1
        overdue_seen += out.overdue
        escalations += out.escalations
    responders.wait_idle(30)
    with connect(database_url) as conn:
        sent = {s.payload["message_id"] for s in responders.sent}
        _wait_reports(conn, sent, timeout=60)
    final = withdrawal_step(database_url, mqtt=mqtt, now=end)
    return {"steps": steps + 1, "simulated_start": start.isoformat(),
            "simulated_end": end.isoformat(), "overdue": overdue_seen + final.overdue,
            "escalations": escalations + final.escalations, "final": final.as_dict()}


def _wait_reports(conn: psycopg.Connection, message_ids: set[str], timeout: float) -> None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with conn.transaction():
            n = one(conn.execute("SELECT count(*) FROM landing.withdrawal_reports "
                                 "WHERE message_id = ANY(%s::uuid[])", (sorted(message_ids),)))[0]
            q = one(conn.execute("SELECT count(*) FROM landing.quarantine WHERE topic LIKE %s",
                                 ("foodtrace/v1/chain/%/withdrawals",)))[0]
        if n + q >= len(message_ids):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{len(message_ids)} withdrawal reports were sent but not all landed "
                       f"within {timeout:.0f} s")


# ---- figures (pure) ------------------------------------------------------------------


def live_notices(notices: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The latest notice per business: what each was last told."""
    latest: dict[str, Mapping[str, Any]] = {}
    for n in sorted(notices, key=lambda n: (n["issued_at"], n["alert_version"])):
        latest[n["actor_id"]] = n
    return list(latest.values())


def figures(*, t0: float, alert_heard: Sequence[float], notices: Sequence[Mapping[str, Any]],
            notice_heard: Sequence[float], reports: Sequence[Mapping[str, Any]],
            truth_businesses: Sequence[str], truth_lots: Sequence[str],
            alert_lots: Sequence[str], time_scale: float) -> dict[str, Any]:
    """The drill's figures from what was observed: real times (time.time()) of t0,
    the alert messages and the notices heard; the notice JSONs; the reports sent."""
    live = [n for n in live_notices(notices) if n.get("action") != "released"]
    by_notice: dict[str, list[Mapping[str, Any]]] = {}
    for r in reports:
        by_notice.setdefault(str(r["notice_id"]), []).append(r)

    def within(n: Mapping[str, Any], statuses: set[str]) -> bool:
        deadline = datetime.fromisoformat(n["deadline"])
        return any(r["status"] in statuses and datetime.fromisoformat(r["reported_at"]) <= deadline
                   for r in by_notice.get(str(n["notice_id"]), []))

    answered = [n for n in live if within(n, {"acknowledged", "withdrawn", "not_held"})]
    completed = [n for n in live if within(n, {"withdrawn", "not_held"})]
    never = sorted(n["actor_id"] for n in live if not by_notice.get(str(n["notice_id"])))
    notified = {n["actor_id"] for n in live_notices(notices) if n.get("action") != "released"}
    truth = set(truth_businesses)
    deadline_h = sorted({round((datetime.fromisoformat(n["deadline"])
                                - datetime.fromisoformat(n["issued_at"])).total_seconds() / 3600)
                         for n in live})

    def since_t0(ts: Sequence[float]) -> float | None:
        return round(min(ts) - t0, 3) if ts else None

    return {
        "time_to_alert_s": since_t0(alert_heard),
        "time_to_first_notice_s": since_t0(notice_heard),
        "time_to_last_notice_s": round(max(notice_heard) - t0, 3) if notice_heard else None,
        "notices_published": len(notices),
        "businesses_notified": len(live),
        "answered_within_deadline": len(answered),
        "answered_within_deadline_share": _share(len(answered), len(live)),
        "withdrawn_within_deadline": len(completed),
        "withdrawn_within_deadline_share": _share(len(completed), len(live)),
        "never_answered": never,
        "deadline_hours": deadline_h,
        "deadline_real_s": [round(h * 3600 / time_scale, 2) for h in deadline_h],
        "scope": {
            "truth_businesses": len(truth),
            "notified_businesses": len(notified),
            "over_included": sorted(notified - truth),
            "under_included": sorted(truth - notified),
            "lots_over_included": sorted(set(alert_lots) - set(truth_lots)),
            "lots_under_included": sorted(set(truth_lots) - set(alert_lots)),
        },
    }


def _share(n: int, of: int) -> float | None:
    return round(n / of, 4) if of else None


def city_name(city: str) -> str:
    facts = CITY_FACTS.get(city)
    if facts:
        return f"{facts.name_zh} {facts.name_en}"
    return "其他 other" if city == "other" else city


def _width(text: str) -> int:
    """Terminal columns: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(value: Any, width: int, *, left: bool = False) -> str:
    text = str(value)
    fill = " " * max(0, width - _width(text))
    return text + fill if left else fill + text


_COLUMNS = (("城市 city", 20), ("通知 issued", 13), ("已答复 answered", 17),
            ("逾期 overdue", 14), ("已撤回或核实 withdrawn/accounted", 34))


def progress_lines(cities: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Per city: issued / answered / overdue / share withdrawn or accounted for."""
    def row(cells: Sequence[Any]) -> str:
        return "   " + "".join(_pad(c, w, left=i == 0)
                               for i, (c, (_, w)) in enumerate(zip(cells, _COLUMNS, strict=True)))

    lines = [row([name for name, _ in _COLUMNS])]
    for city, p in sorted(cities.items()):
        share = "-" if p.get("share") is None else f"{p['share']:.0%}"
        lines.append(row([city_name(city), p["notices"], p["answered"], p["overdue"], share]))
    return lines


def report_lines(report: Mapping[str, Any]) -> list[str]:
    """The human report, Chinese first with English beside it."""
    f, s = report["figures"], report["scenario"]
    sc = f["scope"]

    def secs(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f} s"

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.0%}"

    hours = "/".join(str(h) for h in f["deadline_hours"]) or "-"
    real = "/".join(f"{r:g}" for r in f["deadline_real_s"]) or "-"
    lines = [
        f"模拟召回演练 mock-recall drill — 种子 seed {s['seed']}, {s['day']}, "
        f"事件 incident {s['incident']} 批次 lot {s['lot_code']}",
        f"时钟 clock: 企业答复与期限按 ×{s['time_scale']:g} 压缩 (business delays and "
        f"deadlines compressed ×{s['time_scale']:g}: a {hours} h deadline took {real} s); "
        "流水线时间为真实秒 (pipeline times are real seconds)",
        f"预警用时 time to alert:             {secs(f['time_to_alert_s'])}  "
        "(阳性结果发布 → 应急办收到 positive result published → office received)",
        f"首份通知 time to first notice:      {secs(f['time_to_first_notice_s'])}",
        f"末份通知 time to last notice:       {secs(f['time_to_last_notice_s'])}  "
        f"({f['notices_published']} 份通知 notices published, {f['businesses_notified']} "
        "家企业 businesses)",
        f"期限内答复 answered within deadline: {f['answered_within_deadline']}/"
        f"{f['businesses_notified']} ({pct(f['answered_within_deadline_share'])}); "
        f"期限内撤回 withdrawn within deadline: {f['withdrawn_within_deadline']} "
        f"({pct(f['withdrawn_within_deadline_share'])})",
        f"从未答复 never answered: {len(f['never_answered'])} "
        f"({', '.join(f['never_answered']) or '-'}); 逾期 overdue at the end: "
        f"{report['progress']['overdue']}; 上报应急办 escalations (CAP Update): "
        f"{len(report['answers']['escalations'])}",
        f"通知范围 notice scope vs ground truth: 应通知 {sc['truth_businesses']} / 已通知 "
        f"{sc['notified_businesses']} businesses; 多通知 over-included "
        f"{len(sc['over_included'])}{_names(sc['over_included'])}, 漏通知 under-included "
        f"{len(sc['under_included'])}{_names(sc['under_included'])}; lots over/under "
        f"{len(sc['lots_over_included'])}/{len(sc['lots_under_included'])}",
        f"撤回进度 withdrawal progress: {pct(report['progress']['share'])} of the held "
        "quantity withdrawn or accounted for",
    ]
    return lines + progress_lines(report["cities"])


def _names(ids: Sequence[str]) -> str:
    return f" ({', '.join(ids[:5])}{', ...' if len(ids) > 5 else ''})" if ids else ""


# ---- the drill -----------------------------------------------------------------------


@dataclass(frozen=True)
class Logins:
    """The MQTT logins the drill plays: the simulated world (publishes for every
    sender, reads notices and alerts: `foodtrace-simulator` in deploy/mosquitto/acl),
    the ingest worker (None: the deployment's own workers ingest) and the pipeline
    (publishes alerts and notices)."""
    simulator: MqttSettings
    ingest: MqttSettings | None
    pipeline: MqttSettings

    @classmethod
    def single(cls, settings: MqttSettings) -> Logins:
        return cls(settings, settings, settings)


@dataclass(frozen=True)
class DrillOptions:
    seed: int = 2026
    day: date = date(2026, 11, 27)
    scale: float = 0.3
    incident: str = "pesticide"
    time_scale: float = DEFAULT_TIME_SCALE
    silent_share: float = 0.08
    behaviours: Mapping[str, Behaviour] | None = None  # overrides the seeded plan (tests)
    identities: Mapping[str, MqttSettings] | None = None  # businesses logging in as themselves


def incident_messages(sim: SimulatedDay) -> tuple[list[Message], list[Message]]:
    """(everything before the incident, the incident's lab results)."""
    ids = {a.message_id for a in _truth(sim).expected_alerts}
    before: list[Message] = []
    incident: list[Message] = []
    for kind, payload in sim.messages():
        (incident if kind == "lab_result" and payload["message_id"] in ids else before).append(
            (kind, payload))
    return before, incident


def run_drill(database_url: str, logins: Logins, options: DrillOptions,
              *, report_dir: Path | None = None, say: Any = None,
              simulated: SimulatedDay | None = None) -> dict[str, Any]:
    """The drill on these services (migrated database); the report as a dict."""
    from foodtrace.alerts import store
    from foodtrace.db import connect
    from foodtrace.demo import AlertListener
    from foodtrace.pipeline.steps import run_once
    from foodtrace.simulate import simulate_day
    from foodtrace.withdrawals.queries import report as progress_report

    say = say or (lambda *_: None)
    o = options
    sim = simulated or simulate_day(o.seed, o.day, scale=o.scale, incident=o.incident)
    truth = _truth(sim)
    before, incident = incident_messages(sim)
    with connect(database_url) as conn:
        with conn.transaction():
            drilled = one(conn.execute(
                "SELECT count(*) FROM landing.lab_results WHERE message_id = ANY(%s::uuid[])",
                ([p["message_id"] for _, p in incident],)))[0]
        if drilled:
            raise DrillError(f"this database has drilled seed {o.seed} already "
                             "(its messages would be deduplicated): use another --seed "
                             "or a fresh database")
        businesses = [loc["location_id"] for loc in sim.locations]
        behaviours = dict(o.behaviours or plan_behaviours(o.seed, businesses,
                                                          silent_share=o.silent_share))
        clock = SimClock(o.time_scale)
        world, pipeline = logins.simulator, logins.pipeline
        with _ingesting(database_url, logins.ingest, f"drill-{o.seed}"):
            start = landed(conn)
            publish(world, before, "foodtrace-drill-world")
            wait_landed(conn, len(before), before=start)
            run_once(database_url, report_dir=report_dir, mqtt=pipeline)
            say(f"1. {len(before)} 条消息 messages of the day ingested and run through the "
                "pipeline (no alert yet)")
            with AlertListener(world) as office, \
                    Responders(world, behaviours, clock, identities=o.identities) as responders:
                start = landed(conn)
                t0 = time.time()
                publish(world, incident, "foodtrace-drill-lab")
                wait_landed(conn, len(incident), before=start)
                run_once(database_url, report_dir=report_dir, mqtt=pipeline)
                office.wait(min_messages=1, timeout=10)
                _wait_notices(conn, responders, since=t0, timeout=30)
                say(f"2. 阳性结果 positive result published; alert and "
                    f"{len(responders.heard)} 份撤回通知 withdrawal notices out")
                answers = answer_phase(database_url, pipeline, responders)
                say(f"3. 企业答复 businesses answered: {len(responders.sent)} reports "
                    f"(simulated {answers.get('simulated_start')} → {answers.get('simulated_end')})")
                heard_times = [h.received for h in responders.heard]
                notices = notices_out(responders)
                reports = [s.payload for s in responders.sent]
                office_times = list(office.heard_at)
        with conn.transaction():
            alerts = store.list_alerts(conn, lot_code=truth.lot_code)
            alert = alerts[0] if alerts else None
            progress = progress_report(conn, str(alert["alert_id"])) if alert else {"alerts": []}
    entry = progress["alerts"][0] if progress["alerts"] else {"progress": {}, "cities": {}}
    alert_lots = [x["lot_code"] if isinstance(x, dict) else x
                  for x in (alert or {}).get("affected_lots", [])]
    figs = figures(t0=t0, alert_heard=office_times, notices=notices,
                   notice_heard=heard_times, reports=reports,
                   truth_businesses=truth.affected_locations, truth_lots=truth.affected_lots,
                   alert_lots=alert_lots, time_scale=o.time_scale)
    return {
        "scenario": {"seed": o.seed, "day": o.day.isoformat(), "scale": o.scale,
                     "incident": o.incident, "lot_code": truth.lot_code,
                     "time_scale": o.time_scale, "businesses": len(behaviours),
                     "silent_planned": sorted(a for a, b in behaviours.items()
                                              if b.kind == "silent"),
                     "pipeline": "direct steps (foodtrace pipeline run --direct)"},
        "alert_id": str(alert["alert_id"]) if alert else None,
        "figures": figs,
        "answers": {**answers, "reports_sent": len(reports), "errors": responders.errors},
        "progress": entry["progress"],
        "cities": entry["cities"],
        "clock_note": ("business delays and deadlines are simulated time, compressed "
                       f"×{o.time_scale:g}; pipeline times are real seconds"),
    }


def _wait_notices(conn: psycopg.Connection, responders: Responders, *, since: float,
                  timeout: float) -> None:
    """Until every notice issued since `since` (epoch seconds) reached its business."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with conn.transaction():
            sent, pending = one(conn.execute(
                "SELECT count(sent_at), count(*) - count(sent_at) FROM core.withdrawal_notices "
                "WHERE issued_at >= to_timestamp(%s)", (since,)))
        if not pending and len(responders.heard) >= sent:
            return
        time.sleep(0.05)


class DrillError(RuntimeError):
    """The drill cannot run here; the message says why."""


def _truth(sim: SimulatedDay) -> GroundTruth:
    """The incident's ground truth: a drill needs a day simulated with an incident."""
    if sim.truth is None:
        raise DrillError("the simulated day has no incident: simulate it with one")
    return sim.truth
