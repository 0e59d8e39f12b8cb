"""`foodtrace demo`: the whole story on the embedded default, no services needed.

The day is published as the world sends it (foodtrace.simulate.messy): optional
KDEs left out, uploads late and out of order, master data after the events, one
sender without reference documents. Wave 0 goes out, the pipeline raises the
alert; the late uploads of wave 1 follow and the alert widens to what they show.
The demo ends by checking the alert against the simulator's ground truth.

Uses FOODTRACE_DATABASE_URL / FOODTRACE_MQTT_URL when they are set; otherwise an
embedded PostgreSQL (data under the output folder) and an in-process MQTT broker.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast

import psycopg

from foodtrace.config import MqttSettings, Settings
from foodtrace.db.rows import one
from foodtrace.ingest import topics

DEMO_DATABASE = "foodtrace_demo"


@dataclass
class DemoServices:
    database_url: str
    mqtt: MqttSettings
    embedded: list[str] = field(default_factory=list)  # what was started for the demo
    # the command's settings (read once from the environment), for the pipeline
    settings: Settings = field(default_factory=Settings)

    def pipeline_settings(self) -> Settings:
        """The settings with these services' database and broker, for the pipeline."""
        return dataclasses.replace(
            self.settings, database_url=self.database_url, mqtt_url=_mqtt_url(self.mqtt)
        )


@contextlib.contextmanager
def demo_services(
    workdir: Path, database: str = DEMO_DATABASE, settings: Settings | None = None
) -> Iterator[DemoServices]:
    """The configured services (`settings`, default: the environment's), or embedded
    ones for what is not configured (the embedded PostgreSQL gets a fresh
    `database` each time)."""
    from foodtrace.embedded import EmbeddedBroker, embedded_postgres

    given = settings if settings is not None else Settings.from_env()
    with contextlib.ExitStack() as stack:
        embedded = []
        url = given.database(required=False)
        if not url:
            admin_url = stack.enter_context(embedded_postgres(workdir / "pgdata"))
            url = _recreate_database(admin_url, database)
            embedded.append("PostgreSQL (embedded)")
        mqtt = given.mqtt(required=False)
        if mqtt is None:
            broker = EmbeddedBroker().start()
            stack.callback(broker.stop)
            mqtt = broker.settings
            embedded.append("MQTT broker (embedded, MQTT 3.1.1)")
        yield DemoServices(url, mqtt, embedded, given)


def _recreate_database(admin_url: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return psycopg.conninfo.make_conninfo(admin_url, dbname=name)


def bad_messages(sim: Any) -> list[tuple[str, bytes, str]]:
    """A few messages a real edge sees: (topic, payload, what is wrong with it)."""
    good = dict(sim.lab_results[0])
    lab = good["lab_id"]
    topic = topics.inbound_topic("lab_result", lab)
    wrong_type = {**good, "message_id": str(uuid.uuid5(uuid.NAMESPACE_URL, "demo-bad-1")),
                  "value": "high"}
    other_lab = {**good, "message_id": str(uuid.uuid5(uuid.NAMESPACE_URL, "demo-bad-2")),
                 "lab_id": "lab-somebody-else"}
    return [
        (topic, b"RESULT: lot 17 positive!!", "not JSON"),
        (topic, json.dumps(wrong_type).encode(), "value is a string"),
        (topic, json.dumps(other_lab).encode(), "a lab speaking for another lab"),
        (topic, b"[" + b"0," * 600_000 + b"0]", "oversize (1.2 MB)"),
    ]


def publish_wave(settings: MqttSettings, wave: list[tuple[str, dict[str, Any]]],
                 extra: list[tuple[str, bytes, str]], quiet: bool) -> int:
    """Publish one wave of (kind, payload) in its order, plus `extra` raw messages."""
    from foodtrace.ingest.publish import Outgoing, Publisher, plan, progress_bar

    outgoing = list(plan(wave))
    outgoing += [Outgoing(t, p, 1) for t, p, _ in extra]
    with progress_bar(len(outgoing), quiet=quiet, desc="publishing") as bar, \
            Publisher(settings, client_id="foodtrace-demo-publisher") as pub:
        pub.publish(outgoing, progress=bar.update)
    return len(outgoing)


def ingest_while(services: DemoServices, expected_messages: int, publish: Any,
                 timeout: float = 300) -> dict[str, Any]:
    """Run one ingest worker in-process, call `publish()`, and return once the
    worker has committed `expected_messages` MQTT messages."""
    from foodtrace.ingest.consumer import ConsumerConfig, IngestConsumer

    config = ConsumerConfig(database_url=services.database_url, mqtt=services.mqtt,
                            worker_id="demo", max_messages=expected_messages)
    consumer = IngestConsumer(config)
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["result"] = consumer.run()
        except Exception as exc:  # reported below, in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=work, name="ingest", daemon=True)
    thread.start()
    if not consumer.ready.wait(30):
        raise RuntimeError(f"the ingest worker did not subscribe: {outcome.get('error')}")
    publish()
    thread.join(timeout)
    if "error" in outcome:
        raise outcome["error"]
    if thread.is_alive():
        raise RuntimeError(f"ingest did not take all {expected_messages} messages in {timeout}s")
    totals: dict[str, Any] = outcome["result"].as_dict()
    return totals


def landing_summary(conn: psycopg.Connection) -> dict[str, Any]:
    counts = {}
    for table in ("lab_results", "chain_events", "master_data", "epcis_documents"):
        counts[table] = one(conn.execute(f"SELECT count(*) FROM landing.{table}"))[0]
    quarantined = [
        {"topic": topic, "sender_id": sender, "reasons": reasons}
        for topic, sender, reasons in conn.execute(
            "SELECT topic, sender_id, reasons FROM landing.quarantine ORDER BY quarantine_id")
    ]
    return {"landed": counts, "quarantined": quarantined}


def run_demo(out_dir: Path, *, seed: int, day: date, scale: float, incident: str,
             as_json: bool, quiet: bool, settings: Settings | None = None) -> int:
    from foodtrace.db import connect, migrate
    from foodtrace.simulate import simulate_day
    from foodtrace.simulate.messy import make_messy

    out_dir.mkdir(parents=True, exist_ok=True)
    say = (lambda *a: print(*a, file=sys.stderr)) if as_json else print
    report: dict[str, Any] = {}
    with demo_services(out_dir, settings=settings) as services:
        if services.embedded:
            say(f"started: {', '.join(services.embedded)}")
        with connect(services.database_url) as conn:
            migrate(conn)
        say("1. schema migrated")

        sim = simulate_day(seed, day, scale=scale, incident=incident)
        if sim.truth is None:  # the demo always asks for an incident: its ground truth
            raise RuntimeError(f"the simulated day has no incident {incident!r}")
        messy = make_messy(sim, seed)
        mess = messy.summary()
        counts = sim.counts()
        say(f"2. simulated {day} (seed {seed}): " + ", ".join(f"{n} {k}" for k, n in counts.items())
            + f"; incident: {incident} on lot {sim.truth.lot_code if sim.truth else '-'}")
        say(f"   sent as the world sends it: {mess['dropped_kdes']} optional KDEs left out, "
            f"{mess['late']} uploads hours late, {mess['receivings_before_shipping']} receivings "
            f"before their shipping, {mess['late_master']} master-data records after the events, "
            f"{mess['no_reference_document_sender']} sends no reference documents")
        report["messy"] = mess
        waves = messy.waves()
        first, late = waves[0], [m for w in waves[1:] for m in w]

        started = time.monotonic()
        extra = bad_messages(sim)
        totals = ingest_while(services, len(first) + len(extra),
                              lambda: publish_wave(services.mqtt, first, extra, quiet))
        with connect(services.database_url) as conn:
            landed = landing_summary(conn)
        report["ingest"] = {**totals, **landed, "seconds": round(time.monotonic() - started, 2)}
        say(f"3. ingested {totals['received']} messages in {report['ingest']['seconds']} s: "
            + ", ".join(f"{n} {t}" for t, n in landed["landed"].items()))
        say(f"   quarantined {len(landed['quarantined'])} (each with its raw bytes):")
        for q in landed["quarantined"]:
            first_reason = q["reasons"][0]
            say(f"   - {q['topic']}: [{first_reason['code']}] {first_reason['message'][:110]}")
        with AlertListener(services.mqtt) as office, \
                businesses_answering(services.mqtt, sim, seed) as businesses:
            started = time.monotonic()
            pipeline = run_pipeline(services, out_dir)
            report["pipeline"] = pipeline.as_dict()
            say(f"4. pipeline (Airflow DAGs, {time.monotonic() - started:.0f} s):")
            for line in pipeline.summary_lines():
                say(f"   {line}")
            office.wait(min_messages=1, timeout=10)
            with connect(services.database_url) as conn:
                say("   " + first_alert_line(conn, sim.truth.lot_code))
            late_totals = ingest_while(services, len(late),
                                       lambda: publish_wave(services.mqtt, late, [], quiet))
            say(f"5. {late_totals['received']} late uploads arrive after the alert went out")
            again = run_pipeline(services, out_dir)
            report["pipeline_late"] = again.as_dict()
            for line in again.summary_lines()[:3]:
                say(f"   {line}")
            heard = office.wait(min_messages=len(office.messages) + 1, timeout=10)
            answered = answer_the_notices(services, businesses, sim)
        with connect(services.database_url) as conn:
            story = tell_the_alert(conn, sim, out_dir, heard)
            story["lines"] += findings_lines(conn, day)
            story["lines"] += withdrawal_lines(conn, story.get("alert"), answered)
        report.update(story)
        report["withdrawals"] = {k: v for k, v in answered.items() if k != "businesses"}
        for line in story.pop("lines"):
            say(line)
        exit_code = 0 if story["matches_ground_truth"] and answered["scope_matches"] else 1
    if as_json:
        from foodtrace.cli.output import print_json

        print_json(report)
    return exit_code


@contextlib.contextmanager
def businesses_answering(settings: MqttSettings, sim: Any, seed: int) -> Iterator[Any]:
    """Every simulated business listens for its notices and answers them
    (foodtrace.simulate.responders) once the simulated clock starts."""
    from foodtrace.simulate.responders import plan_behaviours
    from foodtrace.simulate.responders_mqtt import Responders, SimClock
    from foodtrace.withdrawals.drill import DEFAULT_TIME_SCALE

    behaviours = plan_behaviours(seed, [loc["location_id"] for loc in sim.locations])
    with Responders(settings, behaviours, SimClock(DEFAULT_TIME_SCALE)) as businesses:
        yield businesses


def answer_the_notices(services: DemoServices, businesses: Any, sim: Any) -> dict[str, Any]:
    """The businesses answer on a compressed clock while an ingest worker lands the
    reports and the sweep's withdrawal step runs on that clock."""
    from foodtrace.withdrawals.drill import answer_phase, ingest_worker, live_notices

    started = time.monotonic()
    with ingest_worker(services.database_url, services.mqtt, "demo-answers"):
        phase = answer_phase(services.database_url, services.mqtt, businesses)
    heard = [h.notice for h in businesses.heard]
    notified = {n["actor_id"] for n in live_notices(heard) if n.get("action") != "released"}
    truth = set(sim.truth.affected_locations)
    statuses: dict[str, int] = {}
    for s in businesses.sent:
        statuses[s.payload["status"]] = statuses.get(s.payload["status"], 0) + 1
    return {
        "notices_heard": len(heard),
        "superseded": sum(1 for n in heard if n.get("supersedes")),
        "businesses_notified": len(notified),
        "reports_sent": statuses,
        "never_answered": sorted(a for a, b in businesses.behaviours.items()
                                 if b.kind == "silent" and a in notified),
        "scope_matches": notified == truth,
        "over_included": sorted(notified - truth), "under_included": sorted(truth - notified),
        "time_scale": businesses.clock.time_scale, "seconds": round(time.monotonic() - started, 1),
        **{k: phase[k] for k in ("simulated_start", "simulated_end", "overdue", "escalations")
           if k in phase},
    }


def withdrawal_lines(conn: psycopg.Connection, alert: Any, answered: dict[str, Any]) -> list[str]:
    """Section 10: the notices that went out, the answers that came back, and the
    withdrawal progress per city."""
    from foodtrace.withdrawals.drill import progress_lines
    from foodtrace.withdrawals.queries import report as progress_report

    a = answered
    sent = a["reports_sent"]
    lines = [
        f"10. 撤回通知 withdrawal notices: {a['notices_heard']} published on "
        f"foodtrace/v1/notices/{{actor_id}} to {a['businesses_notified']} businesses "
        f"({a['superseded']} superseding an earlier one as the alert changed); "
        + ("= simulator ground truth" if a["scope_matches"] else
           f"!= ground truth (over {a['over_included']}, under {a['under_included']})"),
        f"    企业答复 answers back on foodtrace/v1/chain/{{actor_id}}/withdrawals "
        f"({a['seconds']} s, clock ×{a['time_scale']:g}: 24 h in "
        f"{24 * 3600 / a['time_scale']:g} s): "
        + ", ".join(f"{n} {status}" for status, n in sorted(sent.items()))
        + f"; never answered: {', '.join(a['never_answered']) or '-'}",
        f"    逾期 overdue: {a.get('overdue', 0)} notices, escalated to the city's emergency "
        f"office as {len(a.get('escalations', []))} CAP Update(s)",
    ]
    if alert is None:
        return lines
    data = progress_report(conn, str(alert["alert_id"]))
    conn.commit()
    if data["alerts"]:
        entry = data["alerts"][0]
        share = entry["progress"].get("share")
        lines.append(f"    撤回进度 withdrawal progress per city (share of the held quantity "
                     f"withdrawn or accounted for; overall "
                     f"{'-' if share is None else f'{share:.0%}'}):")
        lines += [f" {line}" for line in progress_lines(entry["cities"])]
        lines.append("    details: foodtrace withdrawals --json  (with FOODTRACE_DATABASE_URL set)")
    return lines


def first_alert_line(conn: psycopg.Connection, lot: str) -> str:
    from foodtrace.alerts import store

    alerts = store.list_alerts(conn, lot_code=lot)
    if not alerts:
        return f"no alert yet for lot {lot}"
    a = alerts[0]
    return (f"alert v{a['version']} out: {len(a['affected_locations'])} affected places in "
            f"{', '.join(a['affected_cities'])} (from what had arrived by then)")


def findings_lines(conn: psycopg.Connection, day: date) -> list[str]:
    """What validation flagged instead of dropping, and the least complete sender."""
    from foodtrace.validate import scorecard

    rows = conn.execute(
        "SELECT rule, severity, cfr_section, count(*), count(resolved_at) FROM core.findings "
        "GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1 LIMIT 8").fetchall()
    total = conn.execute("SELECT count(*), count(resolved_at) FROM core.findings").fetchone()
    lines = [f"9. findings: {total[0] if total else 0} on stored events, none of them dropped "
             f"from the trace ({total[1] if total else 0} answered later by the graph or by "
             "master data that arrived)"]
    for rule, severity, cfr, n, resolved in rows:
        lines.append(f"   {n:>4} {severity:<7} {rule}{f' ({cfr})' if cfr else ''}"
                     f"{f', {resolved} resolved' if resolved else ''}")
    span = max(1, (date.today() - day).days + 2)  # the simulated day and today
    card = scorecard.fetch(conn, scorecard.window(span, datetime.now(UTC)))
    if card.by_sender:
        worst = card.by_sender[0]
        gaps = card.top_gaps.get(worst.key, [])
        lines.append(
            f"   KDE scorecard, least complete sender: {worst.key}, {worst.completeness:.0%} of "
            f"{worst.events} events complete"
            + (f"; most frequent gap: {gaps[0].message}" if gaps else "")
            + "  (foodtrace scorecard)")
    return lines


def run_pipeline(services: DemoServices, out_dir: Path) -> Any:
    """The real DAGs, in-process; they publish alerts to the demo's broker."""
    from foodtrace.pipeline.airflow_run import run_dags

    return run_dags(services.pipeline_settings(), home=out_dir / "airflow-home",
                    report_dir=out_dir / "validation-reports")


def _mqtt_url(settings: MqttSettings) -> str:
    auth = f"{settings.username}:{settings.password}@" if settings.username else ""
    query = "?protocol=3.1.1" if settings.protocol < 5 else ""
    return f"{'mqtts' if settings.tls else 'mqtt'}://{auth}{settings.host}:{settings.port}{query}"


class AlertListener:
    """The emergency office: subscribed to foodtrace/v1/alerts/# while the pipeline runs."""

    def __init__(self, settings: MqttSettings) -> None:
        from foodtrace.ingest.mqtt_client import make_client

        self.settings = settings
        self.messages: list[tuple[str, bytes]] = []
        self.heard_at: list[float] = []  # time.time() of each message (the drill's timings)
        self._client = make_client(settings, f"foodtrace-demo-office-{uuid.uuid4().hex[:6]}")
        # bytearray only in messages built by hand, never in those received
        self._client.on_message = lambda c, u, m: self._heard(m.topic, cast(bytes, m.payload))
        self._subscribed = threading.Event()
        self._client.on_subscribe = lambda *a: self._subscribed.set()

    def __enter__(self) -> AlertListener:
        from foodtrace.ingest.mqtt_client import connect_and_wait

        connect_and_wait(self._client, self.settings)
        self._client.subscribe(topics.ALERTS_FILTER, qos=1)
        self._subscribed.wait(10)
        return self

    def _heard(self, topic: str, payload: bytes) -> None:
        self.heard_at.append(time.time())
        self.messages.append((topic, payload))

    def wait(self, min_messages: int, timeout: float) -> list[tuple[str, bytes]]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < min_messages and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # the rest of the burst
        return list(self.messages)

    def __exit__(self, *exc: object) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def tell_the_alert(conn: psycopg.Connection, sim: Any, out_dir: Path,
                   heard: list[tuple[str, bytes]]) -> dict[str, Any]:
    """The incident's alert, its trace, the check against ground truth, and the files."""
    from foodtrace import fsma
    from foodtrace.alerts import store
    from foodtrace.trace import api

    truth = sim.truth.to_json()
    lot = truth["lot_code"]
    lines: list[str] = []
    alerts = store.list_alerts(conn, lot_code=lot)
    if not alerts:
        return {"matches_ground_truth": False, "alert": None,
                "lines": [f"6. NO ALERT was raised for lot {lot}: the pipeline missed it"]}
    alert = alerts[0]
    lines.append(
        f"6. ALERT {alert['alert_id']} v{alert['version']} [{alert['severity'].upper()}, "
        f"{alert['status']}] "
        f"{alert['analyte']} {alert['value']} {alert['unit']} (limit {alert['limit']}) "
        f"in {alert['product_code']} lot {lot}")
    checks = {key: sorted(_ids(alert[key])) == sorted(truth[key]) for key in (
        "affected_lots", "affected_locations", "affected_cities", "source_lots",
        "source_locations")}
    for key, ok in checks.items():
        lines.append(f"   {key:<19} {len(_ids(alert[key])):>3}  "
                     f"{'= simulator ground truth' if ok else '!= simulator ground truth'}")
    lines.append(f"   cities to act in: {', '.join(sorted(_ids(alert['affected_cities'])))}")
    for version, action, note in conn.execute(
            "SELECT version, action, note FROM core.alert_history WHERE alert_id = %s "
            "AND action IN ('raised', 'upgraded', 'rescoped') ORDER BY history_id",
            (alert["alert_id"],)):
        lines.append(f"   v{version} {action}{': ' + note[:150] if note else ''}")

    trace = api.trace(conn, lot, direction="both")
    tj = trace.to_json()
    lines.append(f"7. trace of {lot}: {len(tj['upstream'])} upstream lots "
                 f"(roots: {', '.join(r.lot_code for r in trace.roots) or lot}), "
                 f"{len(tj['downstream'])} downstream lots, {len(tj['locations'])} "
                 f"location records in {len(tj['cities'])} cities")
    for entry in tj["downstream"][:6]:
        lines.append(f"   ↓ depth {entry['depth']}: {entry['lot_code']} "
                     f"({entry['product_code']}, {entry['quantity']} {entry['unit']})")

    cap_dir = out_dir / "cap"
    cap_dir.mkdir(parents=True, exist_ok=True)
    cap_files = []
    for city, version, xml in conn.execute(
            "SELECT city, version, cap_xml FROM core.alert_outbox WHERE alert_id = %s "
            "ORDER BY version, city", (alert["alert_id"],)):
        path = cap_dir / f"alert-{str(alert['alert_id'])[:8]}-v{version}-{city}.xml"
        path.write_text(xml, encoding="utf-8")
        cap_files.append(str(path))
    export = fsma.export(conn, lot, out_dir / "fsma")  # the workbook and a CSV per tab
    by_topic: dict[str, int] = {}
    for topic, _ in heard:
        by_topic[topic] = by_topic.get(topic, 0) + 1
    lines.append(f"8. emergency office received {len(heard)} MQTT messages on "
                 f"{len(by_topic)} alert topics (JSON + CAP per affected city)")
    per_city: dict[str, list[str]] = {}
    for topic, body in heard:
        if not topic.endswith("/cap"):
            msg = json.loads(body)
            per_city.setdefault(msg["city"], []).append(msg["msg_type"])
    for city, kinds in sorted(per_city.items()):
        lines.append(f"   {city:<10} {' then '.join(kinds)}")
    lines.append(f"   CAP 1.2 files:        {cap_dir}/ ({len(cap_files)} files)")
    lines.append(f"   FDA spreadsheet:      {export.directory}/ "
                 f"({sum(f['rows'] for f in export.files if f['event_type'])} event rows; "
                 f"{export.xlsx})")
    from foodtrace.report.page import write as write_report

    report = write_report(conn, str(alert["alert_id"]),
                          out_dir / "report" / f"alert-{str(alert['alert_id'])[:8]}.html")
    lines.append(f"   事件报告 incident report: {report['file']}  (one page, opens without a network)")
    lines.append(f"   trace it yourself:    foodtrace trace {lot} --json  (with FOODTRACE_DATABASE_URL set;"
                 " the embedded database stops when the demo ends)")
    ok = all(checks.values())
    lines.append("the alert names exactly the lots, places and sources the simulator knows "
                 "were affected" if ok else "MISMATCH with the simulator's ground truth (above)")
    return {
        "alert": alert, "trace": tj, "truth": truth, "checks": checks,
        "matches_ground_truth": ok, "cap_files": cap_files, "report_html": report["file"],
        "fsma_export": {"dir": str(export.directory), "files": export.files,
                        "xlsx": str(export.xlsx) if export.xlsx else None},
        "alert_messages_heard": by_topic, "lines": lines,
    }


def _ids(entries: list[Any]) -> list[str]:
    """Alert sets hold ids or objects with quantities; compare by id."""
    out: list[Any] = []  # ids from the alert's JSON
    for e in entries:
        if isinstance(e, dict):
            out.append(e.get("lot_code") or e.get("location_id") or e.get("city"))
        else:
            out.append(e)
    return out
