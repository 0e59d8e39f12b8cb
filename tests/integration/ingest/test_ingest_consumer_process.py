"""`foodtrace ingest` as a real process: killed with SIGKILL mid-batch, stopped with
SIGTERM, cut off from its database, and run as two workers. Nothing lost, nothing
doubled: every test ends with exactly N distinct landed rows."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from devservices import PostgresCluster
from ingest_helpers import as_ingest_role, lab_result, landed, scalar, wait_until

from foodtrace.db import connect, migrate

LAB_TOPIC = "foodtrace/v1/labs/lab-gz-01/results"


def _publish_labs(pub, n: int, lab_id: str = "lab-gz-01") -> list[str]:
    ids = []
    for _ in range(n):
        msg = lab_result(lab_id)
        pub.send(f"foodtrace/v1/labs/{lab_id}/results", msg)
        ids.append(msg["message_id"])
    return ids


def _stored_ids(db_url: str) -> list[str]:
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as c:
        return [r[0] for r in c.execute("SELECT message_id::text FROM landing.lab_results")]


def test_sigkill_mid_batch_loses_nothing_and_doubles_nothing(
    own_broker, fresh_db_url, publisher, consumer_process
) -> None:
    worker = f"k{uuid.uuid4().hex[:6]}"
    db, mqtt_url = as_ingest_role(fresh_db_url), own_broker.url("foodtrace-ingest")
    # A batch that only a full 1000 or a minute would close: it is open when we kill.
    args = [
        "--worker-id",
        worker,
        "--batch-size",
        "1000",
        "--batch-ms",
        "60000",
        "--log-level",
        "DEBUG",
    ]
    first = consumer_process(db, mqtt_url, *args).wait_ready()
    sent = _publish_labs(publisher("lab-gz-01"), 300)
    first.wait_log("took message", count=300)  # all 300 are in the consumer's open batch
    first.kill()
    assert first.proc.returncode == -signal.SIGKILL
    assert landed(fresh_db_url) == 0  # nothing was committed, so nothing was acked

    # The same worker id resumes the session: exactly the 300 unacknowledged come back.
    second = consumer_process(
        db, mqtt_url, "--worker-id", worker, "--batch-ms", "50", "--max-messages", "300"
    )
    code, summary = second.finish(timeout=20)
    assert code == 0, second.stderr
    stored = _stored_ids(fresh_db_url)
    assert sorted(stored) == sorted(sent)  # exactly the N, each once
    assert summary["stored"] == 300 and summary["duplicates"] == 0
    assert summary["stopped_because"] == "max messages"


def test_sigkill_while_streaming_between_commits(
    own_broker, fresh_db_url, publisher, consumer_process
) -> None:
    """Killed while batches commit and acks fly: some messages are committed but
    not yet acknowledged, so the broker redelivers them; they are stored once."""
    worker = f"s{uuid.uuid4().hex[:6]}"
    db, mqtt_url = as_ingest_role(fresh_db_url), own_broker.url("foodtrace-ingest")
    args = ["--worker-id", worker, "--batch-size", "20", "--batch-ms", "10"]
    first = consumer_process(db, mqtt_url, *args).wait_ready()
    pub = publisher("lab-gz-01")
    sent: list[str] = []
    sender = threading.Thread(target=lambda: sent.extend(_publish_labs(pub, 1500)))
    sender.start()
    wait_until(lambda: landed(fresh_db_url) >= 300, timeout=15)
    first.kill()
    sender.join(30)
    assert len(sent) == 1500

    second = consumer_process(
        db, mqtt_url, "--worker-id", worker, "--batch-ms", "50", "--idle-exit", "2"
    )
    code, _ = second.finish(timeout=25)
    assert code == 0, second.stderr
    stored = _stored_ids(fresh_db_url)
    assert len(stored) == len(set(stored)) == 1500 and set(stored) == set(sent)
    assert scalar(fresh_db_url, "SELECT sum(stored) FROM ops.ingest_stats") == 1500


def test_sigterm_commits_the_open_batch_acks_it_and_exits_0(
    own_broker, fresh_db_url, publisher, consumer_process
) -> None:
    worker = f"t{uuid.uuid4().hex[:6]}"
    db, mqtt_url = as_ingest_role(fresh_db_url), own_broker.url("foodtrace-ingest")
    proc = consumer_process(
        db,
        mqtt_url,
        "--worker-id",
        worker,
        "--batch-size",
        "1000",
        "--batch-ms",
        "60000",
        "--log-level",
        "DEBUG",
    ).wait_ready()
    sent = _publish_labs(publisher("lab-gz-01"), 50)
    proc.wait_log("took message", count=50)
    assert landed(fresh_db_url) == 0
    proc.proc.send_signal(signal.SIGTERM)
    code, summary = proc.finish()
    assert code == 0, proc.stderr
    assert summary["stored"] == 50 and summary["uncommitted"] == 0
    assert sorted(_stored_ids(fresh_db_url)) == sorted(sent)

    # Acknowledged before disconnecting: the same session has nothing left to redeliver.
    again = consumer_process(db, mqtt_url, "--worker-id", worker, "--idle-exit", "1.5")
    code, summary = again.finish()
    assert code == 0 and summary["messages"] == 0, again.stderr


@pytest.fixture
def private_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL of the test's own that it may stop and start. Not under pytest's
    tmp_path: that is private to root, and the server runs as the postgres account."""
    workdir = Path(tempfile.mkdtemp(prefix="ft-ingest-pg-"))
    workdir.chmod(0o755)
    cluster = PostgresCluster(workdir / "pg")
    try:
        yield cluster.start()
    finally:
        cluster.stop("immediate")
        shutil.rmtree(workdir, ignore_errors=True)


def test_database_outage_loses_nothing(
    private_cluster, own_broker, publisher, consumer_process
) -> None:
    cluster = private_cluster
    with connect(cluster.url) as conn:
        migrate(conn)
    db = as_ingest_role(cluster.url)
    proc = consumer_process(
        db,
        own_broker.url("foodtrace-ingest"),
        "--worker-id",
        f"d{uuid.uuid4().hex[:6]}",
        "--batch-size",
        "100",
        "--batch-ms",
        "50",
    ).wait_ready()
    pub = publisher("lab-gz-01")
    before = _publish_labs(pub, 20)
    wait_until(lambda: landed(cluster.url) == 20)

    cluster.stop()
    during = _publish_labs(pub, 400)  # more than a batch: the rest waits at the broker
    proc.wait_log("keeping", timeout=10)  # retrying, not dropping
    assert proc.proc.poll() is None
    cluster.start()

    wait_until(lambda: _safe_landed(cluster.url) == 420, timeout=20)
    proc.proc.send_signal(signal.SIGTERM)
    code, summary = proc.finish()
    assert code == 0, proc.stderr
    assert sorted(_stored_ids(cluster.url)) == sorted(before + during)
    assert summary["stored"] == 420


def _safe_landed(url: str) -> int:
    try:
        return landed(url)
    except Exception:
        return -1


def test_two_workers_share_the_load(own_broker, fresh_db_url, publisher, consumer_process) -> None:
    db, mqtt_url = as_ingest_role(fresh_db_url), own_broker.url("foodtrace-ingest")
    workers = [
        consumer_process(
            db,
            mqtt_url,
            "--worker-id",
            f"w{i}-{uuid.uuid4().hex[:6]}",
            "--batch-size",
            "50",
            "--batch-ms",
            "20",
        ).wait_ready()
        for i in range(2)
    ]
    sim = publisher("foodtrace-simulator")  # may publish for every lab
    sent = _publish_labs(sim, 200, "lab-gz-01") + _publish_labs(sim, 200, "lab-sz-02")
    wait_until(lambda: landed(fresh_db_url) == 400, timeout=15)
    summaries = []
    for w in workers:
        w.proc.send_signal(signal.SIGTERM)
        code, summary = w.finish()
        assert code == 0, w.stderr
        summaries.append(summary)
    assert all(s["stored"] > 0 for s in summaries), summaries  # both took a share
    assert sum(s["stored"] for s in summaries) == 400
    assert sum(s["duplicates"] for s in summaries) == 0
    assert sorted(_stored_ids(fresh_db_url)) == sorted(sent)
    per_worker = scalar(
        fresh_db_url, "SELECT count(DISTINCT worker_id) FROM ops.ingest_stats WHERE stored > 0"
    )
    assert per_worker == 2


@pytest.mark.parametrize(
    "bad_env",
    [
        {"FOODTRACE_DATABASE_URL": ""},
        {"FOODTRACE_MAX_MESSAGE_BYTES": "lots"},
        {"FOODTRACE_MQTT_URL": "http://broker"},
    ],
)
def test_missing_or_bad_settings_say_what_to_do(own_broker, bad_env) -> None:
    env = {
        **os.environ,
        "FOODTRACE_DATABASE_URL": "postgresql://x@127.0.0.1/x",
        "FOODTRACE_MQTT_URL": own_broker.url("foodtrace-ingest"),
        **bad_env,
    }
    out = subprocess.run(
        [sys.executable, "-m", "foodtrace.cli.main", "ingest"],
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert out.returncode == 2
    assert next(iter(bad_env)) in out.stderr and out.stdout == ""


def test_broker_restart_resumes_the_persistent_session(
    own_broker, fresh_db_url, publisher, consumer_process
) -> None:
    """Messages in the consumer's open batch when the broker restarts are committed,
    not acknowledged on the new connection (their packet ids belong to the old one),
    redelivered by the resumed session, and stored once."""
    worker = f"b{uuid.uuid4().hex[:6]}"
    db, mqtt_url = as_ingest_role(fresh_db_url), own_broker.url("foodtrace-ingest")
    proc = consumer_process(
        db,
        mqtt_url,
        "--worker-id",
        worker,
        "--batch-size",
        "1000",
        "--batch-ms",
        "3000",
        "--log-level",
        "DEBUG",
    ).wait_ready()
    pub = publisher("lab-gz-01")
    sent = _publish_labs(pub, 100)
    proc.wait_log("took message", count=100)
    pub.close()
    own_broker.restart()
    proc.wait_log("subscribed:", count=2, timeout=15)  # paho reconnected by itself
    # Mosquitto 2.0 does not restore shared subscriptions from its persistence file:
    # until the workers resubscribe, publishes get "No matching subscribers" (the
    # publisher must retry those). After it, nothing is lost.
    sent += _publish_labs(publisher("lab-gz-01"), 100)
    proc.wait_until(lambda: landed(fresh_db_url) == 200, timeout=15)
    proc.wait_log("came on an earlier connection")
    proc.wait_until(
        lambda: scalar(fresh_db_url, "SELECT sum(received) FROM ops.ingest_stats") == 300
    )  # the 100 came twice, once on each connection
    proc.proc.send_signal(signal.SIGTERM)
    code, summary = proc.finish()
    assert code == 0, proc.stderr
    assert sorted(_stored_ids(fresh_db_url)) == sorted(sent)
    assert (summary["stored"], summary["duplicates"]) == (200, 100)

    again = consumer_process(db, mqtt_url, "--worker-id", worker, "--idle-exit", "1.5")
    code, summary = again.finish()
    assert code == 0 and summary["messages"] == 0, again.stderr  # all acknowledged


def test_refused_login_fails_fast_with_what_to_fix(own_broker, fresh_db_url) -> None:
    # (Mosquitto grants any SUBACK and applies read ACLs per message, so a user who may
    # not read the inbound topics cannot be told apart from a quiet day.)
    env = {
        **os.environ,
        "FOODTRACE_DATABASE_URL": as_ingest_role(fresh_db_url),
        "FOODTRACE_MQTT_URL": f"mqtt://foodtrace-ingest:wrong@127.0.0.1:{own_broker.port}",
    }
    out = subprocess.run(
        [sys.executable, "-m", "foodtrace.cli.main", "ingest", "--worker-id", "refused"],
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert out.returncode == 2, out.stderr
    assert "FOODTRACE_MQTT_URL" in out.stderr and out.stdout == ""


def test_retiring_a_worker_drains_its_share_and_leaves_the_group(
    own_broker, fresh_db_url, publisher, consumer_process
) -> None:
    db, mqtt_url = as_ingest_role(fresh_db_url), own_broker.url("foodtrace-ingest")
    stays, leaves = (f"{n}-{uuid.uuid4().hex[:6]}" for n in ("stays", "leaves"))
    args = ["--batch-size", "50", "--batch-ms", "20"]
    keeper = consumer_process(db, mqtt_url, "--worker-id", stays, *args).wait_ready()
    leaver = consumer_process(db, mqtt_url, "--worker-id", leaves, *args).wait_ready()
    leaver.proc.send_signal(signal.SIGTERM)
    assert leaver.finish()[0] == 0

    pub = publisher("lab-gz-01")
    sent = _publish_labs(pub, 100)
    # Mosquitto still queues a share for the stopped worker's session: not all land.
    keeper.wait_until(lambda: landed(fresh_db_url) >= 30)
    assert landed(fresh_db_url) < 100

    retire = consumer_process(
        db, mqtt_url, "--worker-id", leaves, "--retire", "--idle-exit", "1", *args
    )
    code, summary = retire.finish(timeout=20)
    assert code == 0, retire.stderr
    assert summary["stored"] > 0 and "its session is closed" in retire.stderr
    # ended on purpose: no survivor is to take that session over
    states = "SELECT state FROM ops.ingest_workers WHERE worker_id = %s"
    assert scalar(fresh_db_url, states, (leaves,)) == "retired"
    assert scalar(fresh_db_url, states, (stays,)) == "running"
    keeper.wait_until(lambda: landed(fresh_db_url) == 100)

    sent += _publish_labs(pub, 50)  # now all of it goes to the worker that stays
    keeper.wait_until(lambda: landed(fresh_db_url) == 150)
    keeper.proc.send_signal(signal.SIGTERM)
    assert keeper.finish()[0] == 0
    assert sorted(_stored_ids(fresh_db_url)) == sorted(sent)


def test_sigterm_while_the_database_is_down_leaves_the_batch_at_the_broker(
    private_cluster, own_broker, publisher, consumer_process
) -> None:
    with connect(private_cluster.url) as conn:
        migrate(conn)
    db, mqtt_url = as_ingest_role(private_cluster.url), own_broker.url("foodtrace-ingest")
    worker = f"g{uuid.uuid4().hex[:6]}"
    proc = consumer_process(
        db, mqtt_url, "--worker-id", worker, "--batch-ms", "20", "--shutdown-grace", "1"
    ).wait_ready()
    private_cluster.stop()
    sent = _publish_labs(publisher("lab-gz-01"), 30)
    proc.wait_log("keeping")
    proc.proc.send_signal(signal.SIGTERM)
    code, summary = proc.finish()
    assert code == 1 and summary["uncommitted"] == 30, proc.stderr  # said so, and exit 1
    assert "not acknowledged" in proc.stderr

    private_cluster.start()
    again = consumer_process(db, mqtt_url, "--worker-id", worker, "--idle-exit", "1.5")
    code, summary = again.finish()
    assert code == 0 and summary["stored"] == 30, again.stderr
    assert sorted(_stored_ids(private_cluster.url)) == sorted(sent)
