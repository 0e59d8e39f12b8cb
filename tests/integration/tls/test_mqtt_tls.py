"""Every MQTT hop over TLS, on the shipped listeners (deploy/mosquitto/mosquitto.conf:
8883 with passwords, 8884 with client certificates) and a PKI made by the test: a lab
publishes with a certificate (`foodtrace publish`) to the real `foodtrace ingest`
over `mqtts://`, the alert and notice outboxes deliver over `mqtts://`; the
certificate's CN is the sender id and the ACLs hold for it; a wrong CA, a missing or
foreign client certificate are refused with errors that say what to fix."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest
from alerts_helpers import Chain, run_pipeline
from devservices import MosquittoBroker
from foodtrace.ingest.mqtt_client import MqttConnectError
from ingest_helpers import (
    ConsumerProcess,
    Publisher,
    as_ingest_role,
    lab_result,
    scalar,
    wait_until,
)
from tls_helpers import Pki
from wd_helpers import live_notices

from foodtrace.alerts import outbox
from foodtrace.cli.main import main
from foodtrace.config import parse_mqtt_url
from foodtrace.withdrawals import deliver as notices

CA, CERT, KEY, URL = (
    "FOODTRACE_MQTT_CA_FILE",
    "FOODTRACE_MQTT_CERT_FILE",
    "FOODTRACE_MQTT_KEY_FILE",
    "FOODTRACE_MQTT_URL",
)


def _consumer(db_url: str, mqtt_url: str, ca_file: Path, worker_id: str) -> ConsumerProcess:
    """`foodtrace ingest` as its own process, over TLS with a password, as compose
    would run it outside the internal network."""
    env = {k: v for k, v in os.environ.items() if k not in (CERT, KEY)}
    env |= {
        "FOODTRACE_DATABASE_URL": as_ingest_role(db_url),
        URL: mqtt_url,
        CA: str(ca_file),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("FOODTRACE_INGEST_WORKER_ID", None)
    return ConsumerProcess(env, ["--worker-id", worker_id])


def _results(path: Path, lab_id: str, count: int) -> Path:
    path.write_text("\n".join(json.dumps(lab_result(lab_id)) for _ in range(count)))
    return path


def _publish_as(
    monkeypatch: pytest.MonkeyPatch, url: str, cert: tuple[Path, Path] | None, *args: str
) -> int:
    """`foodtrace publish ...` with this URL and client certificate (or none)."""
    monkeypatch.setenv(URL, url)
    if cert is None:
        monkeypatch.delenv(CERT, raising=False)
        monkeypatch.delenv(KEY, raising=False)
    else:
        monkeypatch.setenv(CERT, str(cert[0]))
        monkeypatch.setenv(KEY, str(cert[1]))
    return main(["publish", *args])


def _count(db_url: str, sql: str, *params: object) -> int:
    return scalar(db_url, sql, params)


def test_a_lab_certificate_reaches_the_consumer_as_that_lab_and_no_other(
    tls_broker: MosquittoBroker,
    trusted: Pki,
    fresh_db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    consumer = _consumer(
        fresh_db_url, tls_broker.url("foodtrace-ingest", tls=True), trusted.server_ca, "tls-1"
    )
    try:
        consumer.wait_ready(20)
        lab = trusted.client_pair("lab-gz-01")  # CN = the lab's id; no password anywhere
        assert "@" not in tls_broker.certificate_url
        own = _results(tmp_path / "own.jsonl", "lab-gz-01", 3)
        assert _publish_as(monkeypatch, tls_broker.certificate_url, lab,
                           "lab-result", str(own), "--json") == 0
        assert json.loads(capsys.readouterr().out)["published"] == 3
        by_lab = "SELECT count(*) FROM landing.lab_results WHERE lab_id = %s"
        consumer.wait_until(lambda: _count(fresh_db_url, by_lab, "lab-gz-01") == 3, 20)
        # the broker took the certificate's CN for the user name
        assert re.search(r"as foodtrace-publish-\S+ \(p5, c1, k\d+, u'lab-gz-01'\)",
                         tls_broker.log)

        # The same certificate speaking for another lab: refused by the ACL (PUBACK
        # 0x87), nothing of it reaches the consumer, not even into quarantine.
        foreign = _results(tmp_path / "foreign.jsonl", "lab-sz-02", 1)
        assert _publish_as(monkeypatch, tls_broker.certificate_url, lab,
                           "lab-result", str(foreign)) == 1
        err = capsys.readouterr().err
        assert "Not authorized" in err and "foodtrace/v1/labs/lab-sz-02/results" in err
        assert "client certificate's CN" in err  # the user is the certificate's, not a URL's
        # a later message of its own lands: the consumer has read past the refusal
        later = _results(tmp_path / "later.jsonl", "lab-gz-01", 1)
        assert _publish_as(monkeypatch, tls_broker.certificate_url, lab,
                           "lab-result", str(later)) == 0
        consumer.wait_until(lambda: _count(fresh_db_url, by_lab, "lab-gz-01") == 4, 20)
        assert _count(fresh_db_url, by_lab, "lab-sz-02") == 0
        assert _count(fresh_db_url, "SELECT count(*) FROM landing.quarantine") == 0

        consumer.proc.send_signal(signal.SIGTERM)
        code, summary = consumer.finish()
    finally:
        consumer.kill()
    assert code == 0, consumer.stderr
    assert summary is not None and summary["stored"] == 4
    assert "mqtts://foodtrace-ingest:***@127.0.0.1" in consumer.stderr  # connected over TLS


def test_the_certificate_listener_refuses_no_certificate_and_a_foreign_one(
    tls_broker: MosquittoBroker,
    trusted: Pki,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = _results(tmp_path / "r.jsonl", "lab-gz-01", 1)
    assert _publish_as(monkeypatch, tls_broker.certificate_url, None,
                       "lab-result", str(path)) == 1
    err = capsys.readouterr().err
    assert "requires a client certificate" in err and CERT in err and KEY in err

    # CN lab-gz-01, but signed by a CA the broker does not trust for clients
    forged = trusted.client_pair("lab-gz-01", ca=trusted.stranger_ca)
    assert _publish_as(monkeypatch, tls_broker.certificate_url, forged,
                       "lab-result", str(path)) == 1
    err = capsys.readouterr().err
    assert str(forged[0]) in err or "does not trust the CA" in err, err
    assert "u'lab-gz-01'" not in tls_broker.log  # neither got in as the lab
    assert "peer did not return a certificate" in tls_broker.log
    assert "certificate verify failed" in tls_broker.log

    # a certificate is no password: on the password listener it does not log in
    lab = trusted.client_pair("lab-gz-01")
    assert _publish_as(monkeypatch, f"mqtts://127.0.0.1:{tls_broker.tls.port}", lab,
                       "lab-result", str(path)) == 1
    assert "refused the connection" in capsys.readouterr().err


def test_a_broker_certificate_from_an_unknown_ca_is_refused_by_every_client(
    tls_broker: MosquittoBroker,
    pki: Pki,
    chain: Chain,
    fresh_db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = _results(tmp_path / "r.jsonl", "lab-gz-01", 1)
    pipeline_url = tls_broker.url("foodtrace-pipeline", tls=True)
    # the publisher: with the system CAs only, then with the wrong CA file
    monkeypatch.delenv(CA, raising=False)
    assert _publish_as(monkeypatch, pipeline_url, None, "lab-result", str(path)) == 1
    err = capsys.readouterr().err
    assert "does not trust" in err and CA in err
    monkeypatch.setenv(CA, str(pki.untrusted_ca))
    assert _publish_as(monkeypatch, pipeline_url, None, "lab-result", str(path)) == 1
    err = capsys.readouterr().err
    assert "does not trust" in err and CA in err
    assert tls_broker.users["foodtrace-pipeline"] not in err  # never print the password

    # the consumer: exits at once with the same advice instead of retrying forever
    consumer = _consumer(
        fresh_db_url, tls_broker.url("foodtrace-ingest", tls=True), pki.untrusted_ca, "tls-2"
    )
    try:
        code, _ = consumer.finish(timeout=30)
    finally:
        consumer.kill()
    assert code == 2, consumer.stderr
    assert "does not trust" in consumer.stderr and CA in consumer.stderr

    # the alert outbox: nothing sent, the alert stays pending for the next run
    c = chain
    c.lab_result("A", kind="rapid", analyte="organophosphates_carbamates", minutes=400,
                 value=62.5, unit="%", result="positive")
    run_pipeline(c.conn)
    c.conn.commit()
    with pytest.raises(MqttConnectError, match="does not trust"):
        outbox.deliver(c.conn, parse_mqtt_url(pipeline_url))
    c.conn.rollback()
    pending = c.conn.execute("SELECT count(*) FROM core.alert_outbox WHERE sent_at IS NULL")
    assert pending.fetchone()[0] > 0


def test_alerts_and_withdrawal_notices_leave_over_tls_and_reach_only_their_business(
    tls_broker: MosquittoBroker,
    trusted: Pki,
    chain: Chain,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    c = chain
    c.lab_result("A", kind="rapid", analyte="organophosphates_carbamates", minutes=400,
                 value=62.5, unit="%", result="positive")
    [alert_id] = run_pipeline(c.conn)
    held = live_notices(c.conn, alert_id)
    market = c.code("market")
    assert market in held and len(held) > 1

    office = Publisher(tls_broker.url("emergency-office", tls=True))  # TLS and a password
    cert, key = trusted.client_pair(market)  # the market business, by certificate
    monkeypatch.setenv(CERT, str(cert))
    monkeypatch.setenv(KEY, str(key))
    business = Publisher(tls_broker.certificate_url)
    monkeypatch.delenv(CERT)
    monkeypatch.delenv(KEY)
    try:
        office.listen("foodtrace/v1/alerts/#")
        business.listen("foodtrace/v1/notices/#")  # granted; the ACL filters per message
        pipeline = parse_mqtt_url(tls_broker.url("foodtrace-pipeline", tls=True))
        cities = 4  # foshan, guangzhou, shenzhen, zhaoqing (alerts_helpers' chain)
        assert outbox.deliver(c.conn, pipeline) == cities
        assert notices.deliver(c.conn, pipeline) == len(held)
        wait_until(lambda: len(office.messages()) >= 2 * cities)
        wait_until(lambda: business.messages())
        time.sleep(0.5)  # the other businesses' notices would have arrived by now
    finally:
        office.close()
        business.close()
    assert sorted({m.topic for m in office.messages()}) == sorted(
        [f"foodtrace/v1/alerts/{city}" for city in ("foshan", "guangzhou", "shenzhen", "zhaoqing")]
        + [f"foodtrace/v1/alerts/{city}/cap"
           for city in ("foshan", "guangzhou", "shenzhen", "zhaoqing")]
    )
    got = business.messages()
    assert {m.topic for m in got} == {f"foodtrace/v1/notices/{market}"}
    assert {json.loads(m.payload)["notice_id"] for m in got} == {str(held[market]["notice_id"])}
