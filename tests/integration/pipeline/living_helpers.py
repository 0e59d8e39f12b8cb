"""Helpers of test_living_alerts.py: the simulated day sent four ways, the real ingest
consumer and publisher on a real Mosquitto, one Airflow process running the real
DAGs (dag_server.py), and the emergency office listening on the alert topics."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import random
import selectors
import subprocess
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from foodtrace.alerts.cap import CAP_NS
from foodtrace.alerts.cap import validate as validate_cap
from foodtrace.config import parse_mqtt_url
from foodtrace.simulate import SimulatedDay

DAG_SERVER = Path(__file__).with_name("dag_server.py")
PIPELINE = ("foodtrace_validate", "foodtrace_link", "foodtrace_alert")
SCOPE_KEYS = (
    "affected_lots",
    "affected_locations",
    "affected_cities",
    "source_lots",
    "source_locations",
)
Message = tuple[str, dict[str, Any]]  # (kind, payload), as SimulatedDay.messages()


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.1)


# ---- the day, four ways -----------------------------------------------------------


def lot_codes(payload: dict[str, Any]) -> set[str]:
    lines = payload.get("lots", []) + payload.get("inputs", []) + payload.get("outputs", [])
    return {line["lot_code"] for line in lines}


def places(ev: dict[str, Any]) -> set[str]:
    """The locations a chain event puts its lots at: where it happened, where a
    shipment went, where a receipt came from."""
    named = {ev["location_id"], ev.get("destination_location_id")}
    if ev["event_type"] == "receiving":
        named.add(ev.get("source_location_id"))
    return named - {None}


# Lab-result fields the contract does not require (2.1), KDEs and all.
LAB_OPTIONAL = ("product_code", "operator", "instrument")


def without_optional_kdes(sim: SimulatedDay) -> tuple[list[Message], dict[str, int]]:
    """The clean day with every field the contract does not require left out: `kdes`,
    `reference_document`, `tlc_source_location_id` on shipping and receiving (2.2),
    and the lab results' product_code (and operator, instrument) (2.1)."""
    dropped: dict[str, int] = defaultdict(int)
    out: list[Message] = []
    for kind, payload in sim.messages():
        p = copy.deepcopy(payload)
        keys: tuple[str, ...] = ()
        if kind == "chain_event":
            keys = ("kdes", "reference_document")
            if p["event_type"] in ("shipping", "receiving"):
                keys += ("tlc_source_location_id",)
        elif kind == "lab_result":
            keys = LAB_OPTIONAL
        for key in keys:
            if p.pop(key, None) is not None:
                dropped[key] += 1
        out.append((kind, p))
    return out, dict(dropped)


def labs_first_then_shuffled(sim: SimulatedDay, seed: int) -> tuple[list[Message], list[Message]]:
    """(every lab result, everything else in a seeded random order)."""
    labs = [(k, p) for k, p in sim.messages() if k == "lab_result"]
    rest = [(k, p) for k, p in sim.messages() if k != "lab_result"]
    random.Random(seed).shuffle(rest)
    return labs, rest


@dataclass(frozen=True)
class LateCity:
    city: str
    locations: frozenset[str]  # the affected locations of that city
    held: frozenset[str]  # message ids of the events held back
    on_time: list[Message]
    late: list[Message]


def hold_back_city(sim: SimulatedDay) -> LateCity:
    """Hold back every event that places an affected lot at an affected location of
    one city (the shipments there, the receipts and sales there, the shipments on):
    a city reached only downstream, not the sampled place's nor a source's. Prefers a
    city whose affected places only receive and sell (nothing is made there)."""
    truth = sim.truth
    assert truth is not None
    city = {loc["location_id"]: loc["city"] for loc in sim.locations}
    affected = set(truth.affected_lots)
    touching = [ev for ev in sim.chain_events if lot_codes(ev) & affected]
    excluded = {city[truth.sampled_location_id], *(city[s] for s in truth.source_locations)}

    def candidate(c: str) -> tuple[bool, str]:
        at = {x for x in truth.affected_locations if city[x] == c}
        leaf = all(
            (ev["event_type"] in ("receiving", "sale") and ev["location_id"] in at)
            or (ev["event_type"] == "shipping" and ev["location_id"] not in at)
            for ev in touching
            if places(ev) & at
        )
        return (not leaf, c)

    cities = sorted(set(truth.affected_cities) - excluded, key=candidate)
    assert cities, f"no city of {truth.affected_cities} is reached only downstream"
    late_city = cities[0]
    at = frozenset(x for x in truth.affected_locations if city[x] == late_city)
    held = {ev["message_id"] for ev in touching if places(ev) & at}
    on_time = [(k, p) for k, p in sim.messages() if p["message_id"] not in held]
    late = [(k, p) for k, p in sim.messages() if p["message_id"] in held]
    return LateCity(late_city, at, frozenset(held), on_time, late)


# ---- MQTT: the ingest edge and the senders ------------------------------------------


LANDING_TABLES = ("lab_results", "chain_events", "master_data")


class Ingest:
    """The real ingest consumer (IngestConsumer, as `foodtrace ingest` and the demo
    run it) landing into one database, and the real publisher sending as the
    simulator account. One fixed worker id for the whole module: a stopped worker's
    persistent session stays in the shared group, so every test restarts the same
    worker (as the consumer's docs tell operators to) instead of adding members."""

    WORKER_ID = "living-alerts"

    def __init__(self, broker, database_url: str) -> None:
        from foodtrace.ingest.consumer import ConsumerConfig, IngestConsumer

        self.broker = broker
        self.database_url = database_url
        self.config = ConsumerConfig(
            database_url=database_url,
            mqtt=parse_mqtt_url(broker.url("foodtrace-ingest")),
            worker_id=self.WORKER_ID,
            batch_ms=50,
        )
        self.consumer = IngestConsumer(self.config)
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.sent: set[str] = set()

    def __enter__(self) -> Ingest:
        self.thread = self.consumer.start_in_thread(self.stop_event)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        assert self.thread is not None
        self.thread.join(20)
        assert not self.thread.is_alive(), "the ingest consumer did not stop"
        if self.consumer.error is not None and exc[0] is None:
            raise self.consumer.error

    def send(self, messages: Iterable[Message]) -> int:
        """Publish in this order (one MQTT message each) and wait until all landed."""
        from foodtrace.ingest.publish import Publisher, plan

        messages = list(messages)
        with Publisher(parse_mqtt_url(self.broker.url("foodtrace-simulator"))) as pub:
            stats = pub.publish(plan(messages, batch=1))
        assert stats.to_json()["published"] == len(messages), stats.to_json()
        self.sent |= {p["message_id"] for _, p in messages}
        with psycopg.connect(self.database_url, autocommit=True) as conn:

            def landed() -> int:
                return sum(
                    conn.execute(f"SELECT count(*) FROM landing.{t}").fetchone()[0]
                    for t in LANDING_TABLES
                )

            wait_for(
                lambda: landed() >= len(self.sent),
                60,
                f"{len(self.sent)} messages landed (have {landed()})",
            )
            assert landed() == len(self.sent)
            quarantined = conn.execute(
                "SELECT topic, reasons::text FROM landing.quarantine"
            ).fetchall()
            assert quarantined == [], quarantined[:3]
        return len(messages)


# ---- the pipeline: the real DAGs in one Airflow process ------------------------------


class DagSession:
    """dag_server.py, started once; `run()` runs validate -> link -> alert."""

    def __init__(self, home: Path, log: Path, start_timeout: float = 300) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FOODTRACE_")}
        self.log_path = log
        self.log = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, str(DAG_SERVER), str(home)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
            cwd=DAG_SERVER.parent,
        )
        self.selector = selectors.DefaultSelector()
        assert self.proc.stdout is not None
        self.selector.register(self.proc.stdout, selectors.EVENT_READ)
        ready = self._answer(start_timeout)
        assert set(PIPELINE) <= set(ready.get("ready", ())), ready

    def _answer(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        if not self.selector.select(timeout):
            raise AssertionError(
                f"the DAG server did not answer within {timeout:g}s\n{self.log_tail()}"
            )
        line = self.proc.stdout.readline()
        assert line, f"the DAG server ended (rc {self.proc.poll()})\n{self.log_tail()}"
        return json.loads(line)

    def log_tail(self, chars: int = 4000) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def run(
        self, database_url: str, *, mqtt_url: str | None, report_dir: Path, timeout: float = 240
    ) -> dict[str, dict[str, Any]]:
        """{dag_id: result} of one pass of the three DAGs, each of which succeeded."""
        assert self.proc.stdin is not None
        request = {
            "database_url": database_url,
            "mqtt_url": mqtt_url,
            "report_dir": str(report_dir),
            "dags": list(PIPELINE),
        }
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        answer = self._answer(timeout)
        assert "error" not in answer, answer["error"] + "\n" + self.log_tail()
        runs = answer["runs"]
        assert [(r["dag_id"], r["state"]) for r in runs] == [(d, "success") for d in PIPELINE], (
            runs,
            self.log_tail(),
        )
        return {r["dag_id"]: r["result"] for r in runs}

    def close(self) -> None:
        with contextlib.suppress(Exception):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:  # idle: it may end at once (Airflow's exit handlers take seconds)
            self.proc.wait(2)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


# ---- the emergency office -------------------------------------------------------------


@dataclass(frozen=True)
class Heard:
    """One message on foodtrace/v1/alerts/{city}[/cap], in the order it arrived."""

    n: int
    topic: str
    city: str
    cap: bool
    alert_id: str
    msg_type: str
    version: int
    identifier: str | None = None  # CAP
    references: tuple[str, ...] = ()  # CAP: the identifiers <references> names
    payload: dict[str, Any] = field(default_factory=dict, repr=False)  # JSON


def _text(root: ET.Element, tag: str) -> str | None:
    el = root.find(f"{{{CAP_NS}}}{tag}")
    return None if el is None or el.text is None else el.text.strip()


def parse_heard(n: int, topic: str, body: bytes) -> Heard:
    parts = topic.split("/")
    assert parts[:3] == ["foodtrace", "v1", "alerts"] and len(parts) in (4, 5), topic
    city = parts[3]
    if len(parts) == 5:
        assert parts[4] == "cap", topic
        xml = body.decode()
        validate_cap(xml)  # CAP 1.2 schema
        root = ET.fromstring(xml)
        ident = _text(root, "identifier")
        assert ident is not None and ident.endswith(f"-{city}"), (topic, ident)
        refs = tuple(r.split(",")[1] for r in (_text(root, "references") or "").split())
        version = int(ident.rsplit("-v", 1)[1].split("-", 1)[0])
        return Heard(
            n,
            topic,
            city,
            True,
            _text(root, "incidents") or "",
            _text(root, "msgType") or "",
            version,
            ident,
            refs,
        )
    doc = json.loads(body)
    assert doc["city"] == city, (topic, doc["city"])
    return Heard(
        n,
        topic,
        city,
        False,
        doc["alert_id"],
        doc["msg_type"],
        doc["version"],
        doc.get("cap_identifier"),
        payload=doc,
    )


class Office:
    """The emergency office, subscribed to every city's CAP and JSON alert topics."""

    TOPICS = ("foodtrace/v1/alerts/+/cap", "foodtrace/v1/alerts/+")

    def __init__(self, url: str) -> None:
        from foodtrace.ingest.mqtt_client import connect_and_wait, make_client

        self.settings = parse_mqtt_url(url)
        self._raw: list[tuple[str, bytes]] = []
        self._parsed: list[Heard] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = make_client(self.settings, f"office-{uuid.uuid4().hex[:6]}")
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        connect_and_wait(self.client, self.settings)
        self.client.subscribe([(t, 1) for t in self.TOPICS])
        assert self._subscribed.wait(10), "the office could not subscribe"

    def _on_message(self, client, userdata, msg) -> None:
        with self._lock:
            self._raw.append((msg.topic, msg.payload))

    def heard(self, alert_id: str) -> list[Heard]:
        """What the office heard of this alert, in arrival order (each message is
        parsed, and its CAP checked against the schema, once)."""
        with self._lock:
            new = self._raw[len(self._parsed) :]
        start = len(self._parsed)
        self._parsed += [parse_heard(start + i, t, b) for i, (t, b) in enumerate(new)]
        return [h for h in self._parsed if h.alert_id == alert_id]

    def wait_all_sent(self, conn: psycopg.Connection, alert_id: str) -> list[Heard]:
        """Every outbox row of the alert was sent, and the office heard both of its
        messages (JSON and CAP); returns what it heard of this alert."""
        rows = conn.execute(
            "SELECT count(*), count(sent_at) FROM core.alert_outbox WHERE alert_id = %s",
            (alert_id,),
        ).fetchone()
        assert rows[0] == rows[1], f"{rows[0] - rows[1]} alert messages still in the outbox"
        wait_for(
            lambda: len(self.heard(alert_id)) >= 2 * rows[0],
            20,
            f"the office to hear {2 * rows[0]} messages of alert {alert_id}",
        )
        heard = self.heard(alert_id)
        assert len(heard) == 2 * rows[0], (len(heard), rows[0])
        return heard

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def by_city(heard: Iterable[Heard], *, cap: bool) -> dict[str, list[Heard]]:
    out: dict[str, list[Heard]] = defaultdict(list)
    for h in sorted(heard, key=lambda h: h.n):
        if h.cap == cap:
            out[h.city].append(h)
    return dict(out)


def check_alert_then_updates(heard: list[Heard], cities: Iterable[str]) -> dict[str, list[str]]:
    """Each city heard, on CAP and on JSON: exactly one Alert, first, then only Updates,
    versions rising; every CAP Update's <references> names only that city's earlier
    messages and at least its Alert. Returns city -> the CAP msgTypes it heard."""
    cities = set(cities)
    seen: dict[str, list[str]] = {}
    for cap in (True, False):
        grouped = by_city(heard, cap=cap)
        assert set(grouped) == cities, (cap, sorted(grouped), sorted(cities))
        for city, msgs in grouped.items():
            types = [m.msg_type for m in msgs]
            assert types[0] == "Alert" and types.count("Alert") == 1, (city, cap, types)
            assert set(types[1:]) <= {"Update"}, (city, cap, types)
            versions = [m.version for m in msgs]
            assert versions == sorted(set(versions)), (city, cap, versions)
            if cap:
                earlier: list[str] = []
                for m in msgs:
                    if m.msg_type == "Update":
                        assert m.references, (city, m.identifier)
                        assert msgs[0].identifier in m.references, (city, m.references)
                        assert set(m.references) <= set(earlier), (city, m.references, earlier)
                    else:
                        assert m.references == (), (city, m.references)
                    earlier.append(m.identifier or "")
                seen[city] = types
    return seen


# ---- what the database says -----------------------------------------------------------


def ids(entries: list[Any]) -> set[str]:
    return {
        e if isinstance(e, str) else (e.get("lot_code") or e.get("location_id")) for e in entries
    }


def scope(payload: dict[str, Any]) -> dict[str, set[str]]:
    return {key: ids(payload.get(key) or []) for key in SCOPE_KEYS}


def truth_scope(truth) -> dict[str, set[str]]:
    return {key: set(getattr(truth, key)) for key in SCOPE_KEYS}


def the_alert(conn: psycopg.Connection, lot_code: str) -> dict[str, Any]:
    rows = conn.execute(
        "SELECT payload FROM core.alerts WHERE lot_code = %s", (lot_code,)
    ).fetchall()
    assert len(rows) == 1, f"{len(rows)} alerts on {lot_code}"
    return rows[0][0]


def history(conn: psycopg.Connection, alert_id: str) -> list[tuple[str, int, dict]]:
    return conn.execute(
        "SELECT action, version, detail FROM core.alert_history WHERE alert_id = %s "
        "ORDER BY history_id",
        (alert_id,),
    ).fetchall()


def caused_by(rows: Iterable[tuple[str, int, dict]]) -> dict[str, set[str]]:
    """kind -> ids named by the 'rescoped' history rows."""
    out: dict[str, set[str]] = defaultdict(set)
    for action, _, detail in rows:
        if action == "rescoped":
            for cause in detail.get("caused_by", []):
                out[cause["kind"]].add(cause["id"])
    return dict(out)


@contextlib.contextmanager
def connection(url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(url, autocommit=True) as conn:
        yield conn


ADMIN_URL = os.environ.get("FOODTRACE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextlib.contextmanager
def scratch_database() -> Iterator[str]:
    """A migrated database of its own (as tests/conftest.py's fresh_db_url), for a
    module-scoped fixture; dropped afterwards."""
    from foodtrace.db import connect, migrate

    name = f"ft_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = psycopg.conninfo.make_conninfo(ADMIN_URL, dbname=name)
    try:
        with connect(url) as conn:
            migrate(conn)
        yield url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
