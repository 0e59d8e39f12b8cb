"""Incidents: a positive rapid test for a linked lot, published as the lab would,
and the emergency office's subscriber that times the alert it causes.

Also the baseline: the same three pipeline steps the lab-result lane runs, called
in this process, woken by the same PostgreSQL NOTIFY the lane's waiting validate
task listens to, with no Airflow at all; and the background load: simulated days
of chain events published at a steady rate while incidents are measured.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg

from foodtrace.config import MqttSettings

CST = timezone(timedelta(hours=8))
ALERT_TOPICS = "foodtrace/v1/alerts/#"


def positive_rapid_test(
    lot_code: str, location_id: str, lab_id: str, sample_no: int, run_tag: str
) -> dict[str, Any]:
    """A lab result valid per schemas/json/lab-result.v1.json: an enzyme-inhibition
    rapid test at 72 % (positive above 50 %), sampled and tested minutes ago."""
    now = datetime.now(CST).replace(microsecond=0)
    return {
        "schema": "foodtrace/lab-result/v1",
        "message_id": str(uuid.uuid4()),
        "lab_id": lab_id,
        "sample_id": f"BENCH-E2E-{run_tag}-{sample_no:04d}",
        "lot_code": lot_code,
        "sampled_at": (now - timedelta(minutes=12)).isoformat(),
        "sampled_location_id": location_id,
        "tested_at": (now - timedelta(minutes=2)).isoformat(),
        "test_kind": "rapid",
        "method": "GB/T 5009.199 enzyme inhibition",
        "analyte": "organophosphates_carbamates",
        "value": 72,
        "unit": "%",
        "result": "positive",
        "operator": "bench",
    }


def linked_lots(conn: psycopg.Connection) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(lot_code, a location holding it) for every linked lot held in a Pearl River
    Delta city and not yet tested positive: (produce, other foods). Enzyme
    inhibition tests vegetables and fruit, so incidents prefer produce."""
    rows = conn.execute(
        """
        SELECT DISTINCT ON (ll.lot_code) ll.lot_code, ll.location_id,
               (p.category ~* '(veg|fruit)') AS produce
        FROM core.lot_locations ll
        JOIN core.lots l ON l.lot_code = ll.lot_code
        JOIN core.products p ON p.product_code = l.product_code
        JOIN core.locations loc ON loc.location_id = ll.location_id
        WHERE loc.city <> 'other'
          AND NOT EXISTS (SELECT 1 FROM core.lab_results r WHERE r.lot_code = ll.lot_code
                          AND r.result = 'positive')
        ORDER BY ll.lot_code, ll.location_id
        """
    ).fetchall()
    produce = [(lot, loc) for lot, loc, is_produce in rows if is_produce]
    others = [(lot, loc) for lot, loc, is_produce in rows if not is_produce]
    return produce, others


def pick_lots(conn: psycopg.Connection, n: int, seed: int) -> list[tuple[str, str]]:
    """n distinct lots (one open alert per lot and analyte: each incident a new lot)."""
    produce, others = linked_lots(conn)
    pool = produce if len(produce) >= n else produce + others
    if len(pool) < n:
        raise RuntimeError(
            f"only {len(pool)} linked lots without a positive result; need {n}: raise --scale"
        )
    return random.Random(seed).sample(pool, n)


@dataclass
class AlertListener:
    """Subscribes as the emergency office; records when the first alert JSON for
    each lot arrives (time.time(), comparable with Airflow's UTC timestamps)."""

    settings: MqttSettings
    arrivals: dict[str, float] = field(default_factory=dict)
    payloads: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: int = 0
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _client: Any = None

    def __enter__(self) -> AlertListener:
        from foodtrace.ingest.mqtt_client import connect_and_wait, make_client

        subscribed = threading.Event()
        client = make_client(self.settings, f"bench-e2e-emergency-{uuid.uuid4().hex[:6]}")
        client.on_message = self._on_message
        client.on_subscribe = lambda *a, **k: subscribed.set()
        connect_and_wait(client, self.settings)
        client.subscribe(ALERT_TOPICS, qos=1)
        if not subscribed.wait(10):
            raise RuntimeError("no SUBACK for the alert subscription")
        self._client = client
        return self

    def __exit__(self, *exc: object) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()

    def _on_message(self, client, userdata, message) -> None:
        arrived = time.time()
        if message.topic.endswith("/cap"):
            return
        try:
            body = json.loads(message.payload)
        except ValueError:
            return
        lot = body.get("lot_code") if isinstance(body, dict) else None
        with self._cond:
            self.messages += 1
            if lot and lot not in self.arrivals:
                self.arrivals[lot] = arrived
                self.payloads[lot] = body
                self._cond.notify_all()

    def wait_for(self, lot_code: str, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while lot_code not in self.arrivals:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            return self.arrivals[lot_code]


class NotifyClock:
    """Hears the landing channel's NOTIFYs (sent by the ingest's commit) and keeps
    the arrival times of one kind's: when a landed lab result became visible."""

    def __init__(
        self, database_url: str, channel: str = "foodtrace_landing", kind: str = "lab_result"
    ) -> None:
        self.database_url = database_url
        self.channel = channel
        self.kind = kind
        self.times: list[float] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="notify-clock", daemon=True)

    def __enter__(self) -> NotifyClock:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("could not LISTEN on the landing channel")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _loop(self) -> None:
        from psycopg import sql

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
            self._ready.set()
            while not self._stop.is_set():
                for note in conn.notifies(timeout=0.5):
                    heard = time.time()
                    if _kind(note.payload) == self.kind:
                        self.times.append(heard)

    def first_after(self, t: float) -> float | None:
        return next((x for x in self.times if x >= t), None)


def _kind(payload: str) -> str | None:
    try:
        return str(json.loads(payload).get("kind"))
    except (ValueError, AttributeError):
        return None


class DirectPipeline:
    """The baseline: LISTEN on the landing channel, and on a lab result's NOTIFY run
    the lab-result lane's steps (validate lab results -> link -> alert) in this
    process, as the lane's waiting task does (no debounce; `debounce_s`
    adds one). Step modules stay imported between runs (a warm worker)."""

    def __init__(
        self,
        database_url: str,
        mqtt: MqttSettings,
        debounce_s: float = 0.0,
        channel: str = "foodtrace_landing",
        kinds: tuple[str, ...] = ("lab_result",),
    ) -> None:
        self.database_url = database_url
        self.mqtt = mqtt
        self.debounce_s = debounce_s
        self.channel = channel
        self.kinds = kinds
        self.runs: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._listening = threading.Event()

    def warm_up(self) -> float:
        """Import what the steps import and build the great_expectations suites once,
        as a long-lived worker would have; returns the seconds that took (what every
        Airflow validate task pays again, in its fresh process)."""
        from foodtrace.pipeline import run_once
        from foodtrace.validate.rules import SUITES
        from foodtrace.validate.suites import warm

        started = time.perf_counter()
        warm(SUITES)
        run_once(self.database_url, mqtt=self.mqtt)
        return time.perf_counter() - started

    def __enter__(self) -> DirectPipeline:
        self._thread = threading.Thread(target=self._loop, name="direct-pipeline", daemon=True)
        self._thread.start()
        if not self._listening.wait(10):
            raise RuntimeError("the baseline listener did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        if self._error is not None and exc[0] is None:
            raise RuntimeError("the baseline pipeline failed") from self._error

    def _loop(self) -> None:
        from psycopg import sql

        from foodtrace.pipeline import alert_step, link_step, validate_step

        try:
            with psycopg.connect(self.database_url, autocommit=True) as conn:
                conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                self._listening.set()
                while not self._stop.is_set():
                    first = list(conn.notifies(timeout=0.5, stop_after=1))
                    if not first or _kind(first[0].payload) not in self.kinds:
                        continue
                    woke = time.time()
                    if self.debounce_s:
                        list(conn.notifies(timeout=self.debounce_s))
                    run: dict[str, Any] = {"woke": woke, "debounced": time.time()}
                    v = validate_step(self.database_url, kinds=self.kinds)
                    run["validate_end"] = time.time()
                    lk = link_step(self.database_url)
                    run["link_end"] = time.time()
                    a = alert_step(self.database_url, mqtt=self.mqtt)
                    run["alert_end"] = time.time()
                    run["work"] = {"validate": v.seconds, "link": lk.seconds, "alert": a.seconds}
                    self.runs.append(run)
        except BaseException as exc:  # reported by __exit__
            self._error = exc
            self._listening.set()

    def run_covering(self, t: float) -> dict[str, Any] | None:
        """The run that was woken after t (the first one)."""
        return next((r for r in self.runs if r["woke"] >= t), None)


class BackgroundDays:
    """Publishes the chain events of simulated days (one day after another, each
    the day before the last: new lots and message ids, the same network) at `rate`
    events a second, `batch` events per MQTT message, as the simulator's account,
    until stopped. `active_between(t0, t1)`: whether it was publishing all along."""

    def __init__(
        self,
        mqtt: MqttSettings,
        seed: int,
        last_day: Any,
        scale: float,
        rate: float,
        batch: int = 5,
    ) -> None:
        self.mqtt = mqtt
        self.seed = seed
        self.last_day = last_day
        self.scale = scale
        self.rate = rate
        self.batch = batch
        self.published = 0
        self.days = 0
        self.started: float | None = None
        self.stopped: float | None = None
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="background", daemon=True)

    def _days(self):
        from foodtrace.simulate import simulate_day

        k = 1
        while True:
            yield simulate_day(self.seed, self.last_day - timedelta(days=k), scale=self.scale)
            k += 1

    def _loop(self) -> None:
        from foodtrace.ingest.publish import Publisher, plan

        try:
            with Publisher(self.mqtt) as pub:
                self.started = time.time()
                interval = self.batch / self.rate
                next_at = time.monotonic()
                for sim in self._days():
                    self.days += 1
                    events = sim.chain_events
                    for i in range(0, len(events), self.batch):
                        if self._stop.is_set():
                            return
                        chunk = events[i : i + self.batch]
                        pub.publish(
                            list(plan([("chain_event", e) for e in chunk], batch=len(chunk)))
                        )
                        self.published += len(chunk)
                        next_at += interval
                        self._stop.wait(max(0.0, next_at - time.monotonic()))
        except BaseException as exc:  # reported by stop()
            self._error = exc
        finally:
            self.stopped = time.time()

    def start(self) -> BackgroundDays:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        if self._error is not None:
            raise RuntimeError("the background publisher failed") from self._error

    def active_between(self, t0: float, t1: float) -> bool:
        if self.started is None or t0 < self.started:
            return False
        return self.stopped is None or t1 <= self.stopped


def utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
