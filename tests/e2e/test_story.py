"""The end-to-end story, with every part real and every step a `foodtrace` command:

a lab network and supply chain publish a simulated Pearl River Delta day with a
contamination incident over MQTT (Mosquitto with the project's config and ACLs), as
the world sends it (`--messy`: optional KDEs left out, late and out-of-order
uploads, master data after the events, a sender without reference documents);
`foodtrace ingest` lands it in PostgreSQL; `foodtrace pipeline run` runs the Airflow
DAGs (validate, link, alert); the emergency office receives the alert as JSON and
CAP 1.2 on its city topics (zh-CN first, en-US beside it); the alert, the trace, the
FDA spreadsheet (opened as a workbook) and the HTML incident report of each incident
name exactly what the simulator knows was affected, and flag what the senders left
out.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import psycopg
import pytest
from devservices import MosquittoBroker
from foodtrace.ingest.mqtt_client import connect_and_wait, make_client

from foodtrace.alerts import cap_zh
from foodtrace.alerts.cap import GB2260
from foodtrace.alerts.cap import validate as validate_cap
from foodtrace.config import parse_mqtt_url
from foodtrace.simulate import simulate_day

SEED, SCALE = 2026, "0.3"
# One simulated day per incident kind, all landing in one database before one pipeline run.
DAYS = {"pesticide": "2026-11-24", "clenbuterol": "2026-11-25", "malachite_green": "2026-11-26"}


def foodtrace(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "foodtrace.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


class Office:
    """The emergency office, subscribed to every city's alert topics."""

    def __init__(self, url: str) -> None:
        self.settings = parse_mqtt_url(url)
        self.messages: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.client = make_client(self.settings, f"office-{uuid.uuid4().hex[:6]}")
        self.client.on_message = self._on_message
        self.subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: self.subscribed.set()

    def _on_message(self, client, userdata, msg) -> None:
        with self.lock:
            self.messages.append((msg.topic, msg.payload))

    def __enter__(self) -> Office:
        connect_and_wait(self.client, self.settings)
        self.client.subscribe("foodtrace/v1/alerts/#", qos=1)
        assert self.subscribed.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class PageText(HTMLParser):
    """The text a reader of the report sees (tags and styles left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self._skip += tag in ("style", "script")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("style", "script")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)

    def text(self) -> str:
        return " ".join(" ".join(self.parts).split())


def ids(entries: list) -> list[str]:
    return sorted(e if isinstance(e, str) else
                  (e.get("lot_code") or e.get("location_id") or e.get("city")) for e in entries)


@pytest.mark.slow
def test_incidents_to_alerts_story(fresh_db_url: str, own_broker: MosquittoBroker,
                                   tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FOODTRACE_")}
    env = {**base, "FOODTRACE_DATABASE_URL": fresh_db_url}

    # 1. An ingest worker, as it runs in production (its own MQTT user).
    ingest = subprocess.Popen(
        [sys.executable, "-m", "foodtrace.cli.main", "ingest", "--worker-id", "story", "--json"],
        env={**env, "FOODTRACE_MQTT_URL": own_broker.url("foodtrace-ingest")},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2.0)  # subscribed (the publisher would retry a PUBACK 0x10 anyway)

        # 2. Three days, published by the simulator; each writes its ground truth.
        truths, message_ids = {}, set()
        for incident, day in DAYS.items():
            truth_file = tmp_path / f"truth-{incident}.json"
            sim = foodtrace(
                "simulate", "--seed", str(SEED), "--date", day, "--scale", SCALE,
                "--incident", incident, "--truth-out", str(truth_file), "--messy", "--json",
                env={**env, "FOODTRACE_MQTT_URL": own_broker.url("foodtrace-simulator")})
            assert sim.returncode == 0, sim.stderr
            truths[incident] = json.loads(truth_file.read_text())
            # What should land: the day's distinct message ids (master data repeats daily
            # with the same ids, and must be stored once).
            day_sim = simulate_day(SEED, date.fromisoformat(day), scale=float(SCALE),
                                   incident=incident)
            message_ids |= {p["message_id"] for _, p in day_sim.messages()}
        expected = len(message_ids)

        # 3. Everything lands once.
        with psycopg.connect(fresh_db_url, autocommit=True) as conn:
            def landed() -> int:
                return sum(conn.execute(f"SELECT count(*) FROM landing.{t}").fetchone()[0]
                           for t in ("lab_results", "chain_events", "master_data"))
            wait_for(lambda: landed() >= expected, 60, f"{expected} landed messages")
            assert landed() == expected
            assert conn.execute("SELECT count(*) FROM landing.quarantine").fetchone()[0] == 0

        # 4. The pipeline (the Airflow DAGs) with the emergency office listening.
        with Office(own_broker.url("emergency-office")) as office:
            run = foodtrace("pipeline", "run", "--json", "--out", str(tmp_path / "pipeline"),
                            env={**env, "FOODTRACE_MQTT_URL": own_broker.url("foodtrace-pipeline")})
            assert run.returncode == 0, run.stderr[-3000:]
            report = json.loads(run.stdout)
            assert report["mode"] == "airflow"
            assert report["validate"]["promoted"] == expected
            cities = sum(len(t["affected_cities"]) for t in truths.values())
            wait_for(lambda: len(office.messages) >= 2 * cities, 20,
                     "alert messages for every affected city")
            heard = list(office.messages)
    finally:
        ingest.send_signal(signal.SIGTERM)
        _out, err = ingest.communicate(timeout=30)
    assert ingest.returncode == 0, err[-2000:]

    derived = 0
    for incident, truth in truths.items():
        derived += check_incident(incident, truth, heard, env, tmp_path)
    assert derived > 0  # some KDE the senders left out was filled in from the graph


def check_incident(incident: str, truth: dict, heard: list[tuple[str, bytes]],
                   env: dict[str, str], tmp_path: Path) -> int:
    # 5. The alert says exactly what the simulator knows.
    alerts = foodtrace("alerts", "list", "--lot", truth["lot_code"], "--json", env=env)
    assert alerts.returncode == 0, alerts.stderr
    [alert] = json.loads(alerts.stdout)
    assert alert["severity"] == "critical" and alert["status"] == "open", incident
    assert alert["analyte"] == truth["confirmatory_analyte"]
    for key in ("affected_lots", "affected_locations", "affected_cities", "source_lots",
                "source_locations"):
        assert ids(alert[key]) == sorted(truth[key]), (incident, key)

    # 6. The trace agrees with the ground truth too.
    trace = foodtrace("trace", truth["lot_code"], "--json", env=env)
    assert trace.returncode == 0, trace.stderr
    tj = json.loads(trace.stdout)
    assert sorted(e["lot_code"] for e in tj["downstream"]) == sorted(truth["downstream_lots"])
    assert sorted(e["lot_code"] for e in tj["upstream"]) == sorted(truth["upstream_lots"])
    # what the senders left out is flagged on the traced events, not dropped
    assert tj["findings"], incident
    traced = {e["message_id"] for e in tj["locations"]}
    assert {f["message_id"] for f in tj["findings"]} <= traced

    # 7. The office heard JSON and valid CAP 1.2 on each affected city's topics.
    mine = [(t, p) for t, p in heard if truth["lot_code"].encode() in p]
    topics = {t for t, _ in mine}
    for city in truth["affected_cities"]:
        assert f"foodtrace/v1/alerts/{city}" in topics, (incident, city)
        assert f"foodtrace/v1/alerts/{city}/cap" in topics, (incident, city)
    kinds: dict[str, list[str]] = {}
    for topic, payload in mine:
        if topic.endswith("/cap"):
            validate_cap(payload.decode())
            # Chinese first, English beside it; the city's GB/T 2260 code (docs/cap.md)
            xml = payload.decode()
            assert 0 < xml.index("<language>zh-CN</language>") < xml.index(
                "<language>en-US</language>"), (incident, topic)
            city = topic.split("/")[3]
            city_code = GB2260.get(city)
            assert city_code is None or f"<value>{city_code}</value>" in xml, (incident, topic)
            zh_block = xml[:xml.index("<language>en-US</language>")]
            assert cap_zh.city_name(city) in zh_block, (incident, topic)  # written in Chinese
            for tag in ("expires", "contact", "headline", "instruction"):
                assert f"<{tag}>" in zh_block, (incident, topic, tag)
        else:
            msg = json.loads(payload)
            assert msg["lot_code"] == truth["lot_code"]
            kinds.setdefault(msg["city"], []).append(msg["msg_type"])
    for city, seen in kinds.items():  # one Alert per city, then only Updates
        assert seen[0] == "Alert" and set(seen[1:]) <= {"Update"}, (incident, city, seen)

    # 8. The FDA sortable spreadsheet for the lot.
    export = foodtrace("export", "fsma", truth["lot_code"], "--out",
                       str(tmp_path / f"fsma-{incident}"), "--csv",
                       str(tmp_path / f"fsma-{incident}"), "--json", env=env)
    assert export.returncode == 0, export.stderr
    result = json.loads(export.stdout)
    files = [f for f in result["files"] if f["event_type"]]  # the CTE tabs
    assert len(result["files"]) == 13 and os.path.exists(result["xlsx"]), result
    rows = {f["event_type"]: f["rows"] for f in files}
    assert sum(rows.values()) >= 2 and rows["shipping"] >= 1, (incident, rows)
    derived = 0
    for f in files:
        with open(f["path"], encoding="utf-8-sig") as fh:
            derived += sum(1 for row in csv.DictReader(fh) if row["推导的关键数据元素 Derived KDEs"])
    check_workbook(incident, truth, result, tj)

    # 9. The incident report: one page with the alert, its lots and its cities.
    page = tmp_path / f"report-{incident}.html"
    rep = foodtrace("report", alert["alert_id"], "--html", str(page), "--json", env=env)
    assert rep.returncode == 0, rep.stderr
    summary = json.loads(rep.stdout)
    assert summary["alert_id"] == alert["alert_id"] and summary["cap_messages"] >= len(
        truth["affected_cities"]), (incident, summary)
    parser = PageText()
    parser.feed(page.read_text("utf-8"))
    text = parser.text()
    assert alert["alert_id"] in text and truth["lot_code"] in text, incident
    missing = [lot for lot in truth["affected_lots"] if lot not in text]
    assert not missing, (incident, missing[:5])
    for city in truth["affected_cities"]:
        assert cap_zh.city_name(city) in text, (incident, city)
    return derived


def check_workbook(incident: str, truth: dict, result: dict, trace: dict) -> None:
    """The xlsx as a reader opens it: the 13 tabs in order, headings Chinese first,
    the rows the export reported, and cells that agree with the trace."""
    from openpyxl import load_workbook

    book = load_workbook(result["xlsx"], read_only=True)
    try:
        assert book.sheetnames == [f["title"] for f in result["files"]], incident
        assert book.sheetnames[0].startswith("说明"), book.sheetnames
        traced_lots = ({truth["lot_code"]} | set(truth["downstream_lots"])
                       | set(truth["upstream_lots"]))
        sheets: dict[str, list[tuple]] = {}
        for f in result["files"]:
            if not f["event_type"]:
                continue
            rows = list(book[f["title"]].iter_rows(values_only=True))
            head, body = rows[0], rows[1:]
            assert len(body) == f["rows"], (incident, f["title"])
            assert head[0] == "事件编号 Event ID", (incident, head[:2])
            lot = head.index("可追溯批次代码 Traceability lot code (TLC)")
            sheets[f["event_type"]] = [(r[0], r[lot], r) for r in body]
            events_with_traced_lot = {e for e, lc, _ in sheets[f["event_type"]] if lc in traced_lots}
            # a transformation lists all its lines; any other tab only the traced lots
            assert {e for e, _, _ in sheets[f["event_type"]]} == events_with_traced_lot, (
                incident, f["title"])
            if f["event_type"] != "transformation":
                assert {lc for _, lc, _ in sheets[f["event_type"]]} <= traced_lots, incident
        # every place the trace knows from an event is a row of that event's tab, with
        # the event id, the lot and the place
        checked = 0
        for loc in trace["locations"]:
            rows = sheets.get(loc.get("event_type") or "")
            if rows is None:
                continue
            match = [r for e, lc, r in rows if e == loc["message_id"] and lc == loc["lot_code"]]
            assert match, (incident, loc)
            assert any(loc["location_id"] in r for r in match), (incident, loc)
            checked += 1
        assert checked > 0, incident
    finally:
        book.close()
