"""`foodtrace demo`: the whole story on the embedded default, no services needed.

Uses FOODTRACE_DATABASE_URL / FOODTRACE_MQTT_URL when they are set; otherwise an
embedded PostgreSQL (data under the output folder) and an in-process MQTT broker.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import psycopg

from foodtrace.config import DATABASE_URL_ENV, MqttSettings, mqtt_settings

DEMO_DATABASE = "foodtrace_demo"


@dataclass
class DemoServices:
    database_url: str
    mqtt: MqttSettings
    embedded: list[str] = field(default_factory=list)  # what was started for the demo


@contextlib.contextmanager
def demo_services(workdir: Path) -> Iterator[DemoServices]:
    """The configured services, or embedded ones for what is not configured."""
    from foodtrace.embedded import EmbeddedBroker, embedded_postgres

    with contextlib.ExitStack() as stack:
        embedded = []
        url = os.environ.get(DATABASE_URL_ENV)
        if not url:
            admin_url = stack.enter_context(embedded_postgres(workdir / "pgdata"))
            url = _recreate_database(admin_url, DEMO_DATABASE)
            embedded.append("PostgreSQL (embedded)")
        settings = mqtt_settings(required=False)
        if settings is None:
            broker = EmbeddedBroker().start()
            stack.callback(broker.stop)
            settings = broker.settings
            embedded.append("MQTT broker (embedded, MQTT 3.1.1)")
        yield DemoServices(url, settings, embedded)


def _recreate_database(admin_url: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return psycopg.conninfo.make_conninfo(admin_url, dbname=name)


def bad_messages(sim: Any) -> list[tuple[str, bytes, str]]:
    """A few messages a real edge sees: (topic, payload, what is wrong with it)."""
    good = dict(sim.lab_results[0])
    lab = good["lab_id"]
    topic = f"foodtrace/v1/labs/{lab}/results"
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


def publish_day(settings: MqttSettings, sim: Any, quiet: bool) -> int:
    """Publish the simulated day (and the bad messages); return MQTT messages sent."""
    from foodtrace.ingest.publish import Outgoing, Publisher, plan, progress_bar

    outgoing = list(plan(sim.messages()))
    outgoing += [Outgoing(t, p, 1) for t, p, _ in bad_messages(sim)]
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
    return outcome["result"].as_dict()


def landing_summary(conn: psycopg.Connection) -> dict[str, Any]:
    counts = {}
    for table in ("lab_results", "chain_events", "master_data", "epcis_documents"):
        counts[table] = conn.execute(f"SELECT count(*) FROM landing.{table}").fetchone()[0]
    quarantined = [
        {"topic": topic, "sender_id": sender, "reasons": reasons}
        for topic, sender, reasons in conn.execute(
            "SELECT topic, sender_id, reasons FROM landing.quarantine ORDER BY quarantine_id")
    ]
    return {"landed": counts, "quarantined": quarantined}


def run_demo(out_dir: Path, *, seed: int, day: date, scale: float, incident: str,
             as_json: bool, quiet: bool) -> int:
    from foodtrace.db import connect, migrate
    from foodtrace.simulate import simulate_day

    out_dir.mkdir(parents=True, exist_ok=True)
    say = (lambda *a: print(*a, file=sys.stderr)) if as_json else print
    report: dict[str, Any] = {}
    with demo_services(out_dir) as services:
        if services.embedded:
            say(f"started: {', '.join(services.embedded)}")
        with connect(services.database_url) as conn:
            migrate(conn)
        say("1. schema migrated")

        sim = simulate_day(seed, day, scale=scale, incident=incident)
        counts = sim.counts()
        say(f"2. simulated {day} (seed {seed}): " + ", ".join(f"{n} {k}" for k, n in counts.items())
            + f"; incident: {incident} on lot {sim.truth.lot_code if sim.truth else '-'}")

        started = time.monotonic()
        expected = len(list(sim.messages())) + len(bad_messages(sim))
        totals = ingest_while(services, expected,
                              lambda: publish_day(services.mqtt, sim, quiet))
        with connect(services.database_url) as conn:
            landed = landing_summary(conn)
        report["ingest"] = {**totals, **landed, "seconds": round(time.monotonic() - started, 2)}
        say(f"3. ingested {totals['received']} messages in {report['ingest']['seconds']} s: "
            + ", ".join(f"{n} {t}" for t, n in landed["landed"].items()))
        say(f"   quarantined {len(landed['quarantined'])} (each with its raw bytes):")
        for q in landed["quarantined"]:
            first = q["reasons"][0]
            say(f"   - {q['topic']}: [{first['code']}] {first['message'][:110]}")
    if as_json:
        from foodtrace.cli.output import print_json

        print_json(report)
    return 0
