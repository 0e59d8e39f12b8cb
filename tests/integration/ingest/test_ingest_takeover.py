"""A worker gone for good: a survivor takes over its MQTT session (ingest/takeover.py).

Real `foodtrace ingest` processes on one shared subscription of a real Mosquitto
(the project's configuration), a short takeover limit (3 s) so the tests stay short.
Mosquitto keeps dispatching the dead worker's share to its session; every test
checks that everything published lands, each message once, and that the takeover
is on record."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from foodtrace.ingest.consumer import ConsumerConfig
from foodtrace.ingest.workers import TAKEOVER_ENV, takeover_after_from_env
from ingest_helpers import as_ingest_role, lab_result, scalar, wait_until

from foodtrace.config import ConfigError

LIMIT_S = 3.0
ARGS = ["--batch-size", "20", "--batch-ms", "20"]


@pytest.fixture(autouse=True)
def _short_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TAKEOVER_ENV, f"{LIMIT_S:g}")  # the worker processes inherit it


class Stream(threading.Thread):
    """Publishes `n` lab results at about `rate` per second, noting when each went out."""

    def __init__(self, pub, n: int, rate: float, lab_id: str = "lab-gz-01") -> None:
        super().__init__(daemon=True)
        self.pub, self.n, self.rate, self.lab_id = pub, n, rate, lab_id
        self.sent: dict[str, datetime] = {}

    def run(self) -> None:
        start = time.monotonic()
        for i in range(self.n):
            msg = lab_result(self.lab_id)
            self.pub.send(f"foodtrace/v1/labs/{self.lab_id}/results", msg)
            self.sent[msg["message_id"]] = datetime.now(UTC)
            time.sleep(max(0.0, start + (i + 1) / self.rate - time.monotonic()))


def _publish(pub, n: int, lab_id: str = "lab-gz-01") -> list[str]:
    stream = Stream(pub, n, rate=10_000, lab_id=lab_id)
    stream.run()
    return list(stream.sent)


def _landed(db: str) -> dict[str, datetime]:
    with psycopg.connect(db, autocommit=True) as c:
        rows = c.execute("SELECT message_id::text, received_at FROM landing.lab_results").fetchall()
    assert len(rows) == len({r[0] for r in rows})  # the primary key says so; count anyway
    return dict(rows)


def _takeovers(db: str) -> list[tuple]:
    with psycopg.connect(db, autocommit=True) as c:
        return c.execute(
            "SELECT worker_id, by_worker_id, outcome, session_present, messages, stored,"
            " duplicates, started_at, finished_at FROM ops.ingest_takeovers ORDER BY takeover_id"
        ).fetchall()


def _state(db: str, worker_id: str) -> str | None:
    return scalar(
        db, "SELECT (SELECT state FROM ops.ingest_workers WHERE worker_id = %s)", (worker_id,)
    )


def _two_workers(consumer_process, db: str, mqtt_url: str):
    a, b = (f"{n}-{uuid.uuid4().hex[:6]}" for n in ("dies", "lives"))
    dies = consumer_process(db, mqtt_url, "--worker-id", a, *ARGS).wait_ready()
    lives = consumer_process(db, mqtt_url, "--worker-id", b, *ARGS).wait_ready()
    return a, dies, b, lives


def test_sigkilled_worker_is_taken_over_and_every_result_lands_once(
    own_broker, fresh_db_url, publisher, consumer_process
) -> None:
    db, mqtt_url = as_ingest_role(fresh_db_url), own_broker.url("foodtrace-ingest")
    a, dies, b, lives = _two_workers(consumer_process, db, mqtt_url)

    stream = Stream(publisher("lab-gz-01"), n=800, rate=200)  # 4 s of lab results
    stream.start()
    wait_until(lambda: len(_landed(fresh_db_url)) >= 200, timeout=10)
    dies.kill()  # SIGKILL, and it is never restarted
    killed_at = datetime.now(UTC)
    stream.join(20)
    assert len(stream.sent) == 800

    lives.wait_until(lambda: len(_landed(fresh_db_url)) == 800, timeout=LIMIT_S + 15)
    done_at = datetime.now(UTC)
    landed = _landed(fresh_db_url)
    assert set(landed) == set(stream.sent)  # every result, each once (800 rows, 800 ids)
    assert scalar(fresh_db_url, "SELECT sum(stored) FROM ops.ingest_stats") == 800

    # Within the limit plus a few seconds: from the kill to the last result landed, and
    # for every result published after the kill, from its publish to its landing.
    after_kill = [landed[m] - t for m, t in stream.sent.items() if t >= killed_at]
    worst_wait = max(d.total_seconds() for d in after_kill)
    kill_to_done = (done_at - killed_at).total_seconds()
    last_landed = (max(landed.values()) - killed_at).total_seconds()
    print(
        f"\nkill -> all landed {kill_to_done:.2f}s (last row received {last_landed:.2f}s after "
        f"the kill); {len(after_kill)} published after the kill, longest wait {worst_wait:.2f}s"
    )
    assert kill_to_done <= LIMIT_S + 6 and worst_wait <= LIMIT_S + 5

    lives.wait_until(lambda: _takeovers(fresh_db_url), timeout=10)
    [(whose, by, outcome, present, messages, stored, _, started, _)] = _takeovers(fresh_db_url)
    assert (whose, by, outcome, present) == (a, b, "drained", True)
    assert messages > 0 and stored > 0  # the dead worker's parked share, rescued
    assert (started - killed_at).total_seconds() >= LIMIT_S - 1  # not before its silence
    assert _state(fresh_db_url, a) == "taken_over"
    lives.wait_log(f"took over worker {a}'s session")

    lives.proc.send_signal(signal.SIGTERM)
    code, summary = lives.finish()
    assert code == 0, lives.stderr
    assert (summary["takeovers"], summary["takeover_messages"]) == (1, messages)
    print(f"takeover: {messages} messages from {a}'s session ({stored} stored)")


def test_worker_back_under_a_taken_over_id_starts_fresh_and_nothing_doubles(
    own_broker, fresh_db_url, publisher, consumer_process
) -> None:
    db, mqtt_url = as_ingest_role(fresh_db_url), own_broker.url("foodtrace-ingest")
    a, dies, b, lives = _two_workers(consumer_process, db, mqtt_url)
    dies.kill()
    sim = publisher("foodtrace-simulator")
    sent = _publish(sim, 60)  # about half of it parks in the dead worker's session
    lives.wait_until(lambda: _state(fresh_db_url, a) == "taken_over", timeout=LIMIT_S + 10)
    assert set(_landed(fresh_db_url)) == set(sent)

    back = consumer_process(db, mqtt_url, "--worker-id", a, *ARGS).wait_ready()
    back.wait_log("session present: False")  # the takeover ended the old session
    back.wait_log("previous session was taken over")
    assert _state(fresh_db_url, a) == "running"
    more = _publish(sim, 100, "lab-gz-01") + _publish(sim, 100, "lab-sz-02")
    lives.wait_until(lambda: len(_landed(fresh_db_url)) == 260, timeout=15)

    summaries = {}
    for name, proc in (("back", back), ("lives", lives)):
        proc.proc.send_signal(signal.SIGTERM)
        code, summaries[name] = proc.finish()
        assert code == 0, proc.stderr
    assert set(_landed(fresh_db_url)) == set(sent + more)
    # Back in the group (it took a share) with nothing redelivered from before.
    assert summaries["back"]["stored"] > 0 and summaries["back"]["duplicates"] == 0
    [(whose, by, outcome, _, parked, *_)] = _takeovers(fresh_db_url)  # once, not again
    assert (whose, by, outcome) == (a, b, "drained")
    assert summaries["lives"]["takeover_messages"] == parked > 0
    assert summaries["back"]["stored"] + summaries["lives"]["stored"] + parked == 260


def test_startup_warns_of_silent_sessions_and_takes_them_over_one_at_a_time(
    own_broker, fresh_db_url, publisher, consumer_process
) -> None:
    """A worker stopped cleanly still holds a session that gets a share (a developer's
    worker started once under another id), and a worker known only from the ingest
    counters (before heartbeats existed) may too: both are taken over."""
    db, mqtt_url = as_ingest_role(fresh_db_url), own_broker.url("foodtrace-ingest")
    old = f"old-{uuid.uuid4().hex[:6]}"
    first = consumer_process(db, mqtt_url, "--worker-id", old, *ARGS).wait_ready()
    first.proc.send_signal(signal.SIGTERM)
    assert first.finish()[0] == 0 and _state(fresh_db_url, old) == "stopped"
    with psycopg.connect(fresh_db_url, autocommit=True) as c:
        c.execute(
            "UPDATE ops.ingest_workers SET last_heartbeat = now() - interval '1 hour'"
            " WHERE worker_id = %s",
            (old,),
        )
        c.execute(
            "INSERT INTO ops.ingest_workers (worker_id, client_id, state, last_heartbeat)"
            " VALUES ('legacy-1', 'foodtrace-ingest-legacy-1', 'seen', now() - interval '2 days')"
        )

    new = f"new-{uuid.uuid4().hex[:6]}"
    worker = consumer_process(db, mqtt_url, "--worker-id", new, *ARGS).wait_ready()
    worker.wait_log("holds the sessions of 2 worker(s) not seen")
    assert old in worker.stderr and "legacy-1" in worker.stderr
    sent = _publish(publisher("lab-gz-01"), 40)  # half of it for the stopped worker
    worker.wait_until(lambda: len(_takeovers(fresh_db_url)) == 2, timeout=LIMIT_S + 15)
    assert set(_landed(fresh_db_url)) == set(sent)

    rows = _takeovers(fresh_db_url)
    assert [r[:4] for r in rows] == [
        ("legacy-1", new, "drained", False),  # oldest first; no session at the broker
        (old, new, "drained", True),
    ]
    assert rows[0][4] == 0 and rows[1][4] > 0
    assert rows[1][7] >= rows[0][8]  # one at a time: the second began after the first
    assert {_state(fresh_db_url, w) for w in (old, "legacy-1")} == {"taken_over"}
    worker.proc.send_signal(signal.SIGTERM)
    code, summary = worker.finish()
    assert code == 0 and summary["takeovers"] == 2, worker.stderr


def test_takeover_limit_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TAKEOVER_ENV, raising=False)
    assert takeover_after_from_env() == 30.0
    monkeypatch.setenv(TAKEOVER_ENV, "0")
    assert takeover_after_from_env() == 0.0
    for bad in ("soon", "-1", "0.5"):
        monkeypatch.setenv(TAKEOVER_ENV, bad)
        with pytest.raises(ConfigError, match=TAKEOVER_ENV):
            takeover_after_from_env()
    from foodtrace.config import MqttSettings

    cfg = ConsumerConfig("postgresql://x", MqttSettings("h", 1883), "w1", takeover_after_s=3)
    assert cfg.heartbeat_s == pytest.approx(0.6) and cfg.takeovers_on
    assert ConsumerConfig("postgresql://x", MqttSettings("h", 1883), "w1").heartbeat_s == 5.0
    with pytest.raises(ValueError, match="takeover_after_s"):
        ConsumerConfig("postgresql://x", MqttSettings("h", 1883), "w1", takeover_after_s=0.2)


def test_a_worker_restarting_waits_for_the_takeover_of_its_session(
    own_broker, fresh_db_url, consumer_process
) -> None:
    """The id's advisory lock (held by a takeover or --retire) keeps a worker from
    connecting with the same client id meanwhile: the two would throw each other off."""
    from foodtrace.ingest.workers import _WORKER_LOCK_CLASS

    db, mqtt_url = as_ingest_role(fresh_db_url), own_broker.url("foodtrace-ingest")
    worker = f"w-{uuid.uuid4().hex[:6]}"
    with psycopg.connect(fresh_db_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (_WORKER_LOCK_CLASS, worker))
        proc = consumer_process(db, mqtt_url, "--worker-id", worker, *ARGS)
        proc.wait_log("waiting until it has finished")
        time.sleep(0.5)
        assert "connected to" not in proc.stderr and _state(fresh_db_url, worker) is None
    proc.wait_ready()  # the lock went with the holder's connection
    assert _state(fresh_db_url, worker) == "running"


def test_takeover_stops_when_the_session_is_taken_back_and_tries_again_later(
    own_broker, fresh_db_url, publisher, consumer_process
) -> None:
    """Something connects with the silent worker's client id during the drain (a worker
    of an older version, which does not wait for the lock): the takeover does not fight
    it for the session, says so, and takes the session over again after the limit."""
    from foodtrace.ingest.mqtt_client import connect_and_wait, make_client

    from foodtrace.config import parse_mqtt_url

    db, mqtt_url = as_ingest_role(fresh_db_url), own_broker.url("foodtrace-ingest")
    a, dies, b, lives = _two_workers(consumer_process, db, mqtt_url)
    dies.kill()
    sent = _publish(publisher("lab-gz-01"), 60)
    lives.wait_log(f"{b} taking over worker {a}: left the shared group", timeout=LIMIT_S + 10)
    settings = parse_mqtt_url(mqtt_url)
    intruder = make_client(settings, f"foodtrace-ingest-{a}", clean_start=False, session_expiry=60)
    connect_and_wait(intruder, settings)  # within the drain's 2 s of quiet
    lives.wait_log(f"takeover of worker {a}'s session: connection lost")
    intruder.disconnect()
    intruder.loop_stop()

    lives.wait_until(lambda: len(_takeovers(fresh_db_url)) == 2, timeout=LIMIT_S + 10)
    rows = _takeovers(fresh_db_url)
    assert [(r[0], r[2]) for r in rows] == [(a, "interrupted"), (a, "drained")]
    assert rows[1][3] is True  # the session the intruder left behind, ended now
    assert set(_landed(fresh_db_url)) == set(sent)  # all of it, once
    assert _state(fresh_db_url, a) == "taken_over"
