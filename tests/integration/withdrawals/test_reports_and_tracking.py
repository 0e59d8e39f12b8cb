"""Notices out through the outbox (exactly once), reports in through the ingest
edge (real Mosquitto, the in-process consumer as foodtrace_ingest), linked by the
withdrawal step; rejections, findings, overdue escalation with a controlled clock,
the inspector's check and the CLI."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import timedelta

import paho.mqtt.client as mqtt
import pytest
from alerts_helpers import Chain, run_pipeline
from ingest_helpers import Publisher, RunningConsumer, as_ingest_role, wait_until
from paho.mqtt.enums import CallbackAPIVersion
from wd_helpers import live_notices, report

from foodtrace.alerts import cap
from foodtrace.config import parse_mqtt_url
from foodtrace.pipeline.steps import withdrawal_step
from foodtrace.withdrawals.deliver import deliver


class Listener:
    def __init__(self, broker, user: str, topic: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        ready = threading.Event()
        s = parse_mqtt_url(broker.url(user))
        self.client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                                  client_id=f"wd-test-{uuid.uuid4().hex[:6]}",
                                  protocol=mqtt.MQTTv5)
        self.client.username_pw_set(s.username, s.password)
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload))
        self.client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        self.client.connect(s.host, s.port)
        self.client.loop_start()
        assert ready.wait(10)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _alert(c: Chain):
    c.lab_result("A", kind="rapid", analyte="organophosphates_carbamates", minutes=400,
                 value=62.5, unit="%", result="positive")
    [alert_id] = run_pipeline(c.conn)
    return alert_id


def test_each_notice_delivered_once_on_its_business_topic(chain: Chain, broker) -> None:
    c = chain
    alert_id = _alert(c)
    notices = live_notices(c.conn, alert_id)
    office = Listener(broker, "foodtrace-simulator", "foodtrace/v1/notices/#")
    pipeline = parse_mqtt_url(broker.url("foodtrace-pipeline"))
    try:
        assert deliver(c.conn, pipeline) == len(notices)
        assert deliver(c.conn, pipeline) == 0  # nothing pending: nothing again
        wait_until(lambda: len(office.messages) >= len(notices))
        time.sleep(0.3)
    finally:
        office.stop()
    got = sorted((t, json.loads(p)["notice_id"]) for t, p in office.messages)
    assert got == sorted((f"foodtrace/v1/notices/{a}", str(n["notice_id"]))
                         for a, n in notices.items())
    body = json.loads(office.messages[0][1])
    for key in ("notice_id", "alert_id", "alert_version", "location_id", "lots", "action",
                "deadline", "issued_at"):
        assert key in body


@pytest.fixture
def consumer(own_broker, fresh_db_url):
    from foodtrace.ingest.consumer import ConsumerConfig

    rc = RunningConsumer(ConsumerConfig(
        database_url=as_ingest_role(fresh_db_url),
        mqtt=parse_mqtt_url(own_broker.url("foodtrace-ingest")),
        worker_id=f"t{uuid.uuid4().hex[:8]}", batch_ms=50)).start()
    yield rc
    rc.stop()


def _count(conn, sql, params=()):
    conn.commit()
    v = conn.execute(sql, params).fetchone()[0]
    conn.commit()
    return v


def test_reports_of_every_status_rejections_findings_overdue_and_verify(
    chain: Chain, own_broker, consumer, fresh_db_url, capsys
) -> None:
    c = chain
    alert_id = _alert(c)
    n = live_notices(c.conn, alert_id)
    shop, market, plant, farm = (c.code(x) for x in ("shop", "market", "plant", "farm"))
    pub = Publisher(own_broker.url("foodtrace-simulator"))
    sent: dict[str, dict] = {
        "ack": report(market, n[market]["notice_id"], "acknowledged"),
        "withdrawn": report(shop, n[shop]["notice_id"], "withdrawn", [(c.code("X"), 95)],
                            "destroyed"),
        "over": report(plant, n[plant]["notice_id"], "withdrawn",
                       [(c.code("A"), 50), (c.code("X"), 500)], "returned"),
        "not_held_ok": report(farm, n[farm]["notice_id"], "not_held"),
        "unknown": report(shop, uuid.uuid4(), "acknowledged"),
        "wrong_recipient": report(shop, n[market]["notice_id"], "acknowledged"),
    }
    try:
        for body in sent.values():
            pub.send(f"foodtrace/v1/chain/{body['actor_id']}/withdrawals", body)
        # wrong sender: the shop's topic, the market's payload (edge: sender_mismatch)
        spoof = report(market, n[market]["notice_id"], "withdrawn", [(c.code("A"), 1)], "other")
        pub.send(f"foodtrace/v1/chain/{shop}/withdrawals", spoof)
        wait_until(lambda: _count(c.conn, "SELECT count(*) FROM landing.withdrawal_reports")
                   == len(sent)
                   and _count(c.conn, "SELECT count(*) FROM landing.quarantine") >= 1)
    finally:
        pub.close()
    reasons = c.conn.execute("SELECT reasons FROM landing.quarantine WHERE stage = 'edge'"
                             ).fetchone()[0]
    assert [r["code"] for r in reasons] == ["sender_mismatch"]
    c.conn.commit()

    now = n[shop]["issued_at"] + timedelta(hours=1)
    out = withdrawal_step(fresh_db_url, now=now)
    assert (out.linked, out.rejected) == (4, 2)
    assert out.overdue == 0 and out.escalations == []
    states = {a: v["state"] for a, v in live_notices(c.conn, alert_id).items()}
    assert states == {market: "acknowledged", shop: "withdrawn", plant: "withdrawn",
                      farm: "withdrawn"}
    # rejected after the edge: quarantined with the bytes, the sender told why
    q = dict(c.conn.execute(
        "SELECT message_id::text, reasons->0->>'code' FROM landing.quarantine "
        "WHERE stage = 'validation'").fetchall())
    assert q == {sent["unknown"]["message_id"]: "unknown_notice",
                 sent["wrong_recipient"]["message_id"]: "wrong_recipient"}
    raw = c.conn.execute("SELECT raw FROM landing.quarantine WHERE message_id = %s",
                         (sent["unknown"]["message_id"],)).fetchone()[0]
    assert json.loads(bytes(raw))["notice_id"] == sent["unknown"]["notice_id"]
    told = c.conn.execute("SELECT message_id::text, stored FROM core.sender_notices "
                          "WHERE stage = 'withdrawal'").fetchall()
    assert dict(told) == {sent["unknown"]["message_id"]: False,
                          sent["wrong_recipient"]["message_id"]: False,
                          sent["over"]["message_id"]: True}
    findings = c.conn.execute("SELECT message_id::text, rule, detail FROM core.findings "
                              "WHERE kind = 'withdrawal_report'").fetchall()
    assert [(f[0], f[1]) for f in findings] == [(sent["over"]["message_id"], "over_withdrawal")]
    assert findings[0][2] == {"lot_code": c.code("X"), "withdrawn": "500", "held": "120"}
    c.conn.commit()

    # a second run changes nothing
    again = withdrawal_step(fresh_db_url, now=now)
    assert (again.linked, again.rejected, again.overdue) == (0, 0, 0)

    # 49 h later the market (acknowledged, nothing withdrawn) is overdue
    late = n[shop]["issued_at"] + timedelta(hours=49)
    out = withdrawal_step(fresh_db_url, now=late)
    assert out.overdue == 1 and len(out.escalations) == 1
    assert live_notices(c.conn, alert_id)[market]["state"] == "overdue"
    city, xml, ids = c.conn.execute("SELECT city, cap_xml, notice_ids FROM "
                                    "core.withdrawal_escalations").fetchone()
    c.conn.commit()
    assert city == "guangzhou" and [str(i) for i in ids] == [str(n[market]["notice_id"])]
    cap.validate(xml)
    assert "<msgType>Update</msgType>" in xml and market in xml
    assert xml.index("zh-CN") < xml.index("en-US")
    assert f"foodtrace-{alert_id}-v1-guangzhou" in xml  # references the city's alert
    assert withdrawal_step(fresh_db_url, now=late + timedelta(minutes=5)).escalations == []

    # not_held where the graph says it holds: a finding, the notice stays overdue
    late_report = report(market, n[market]["notice_id"], "not_held")
    c.conn.execute("INSERT INTO landing.withdrawal_reports (message_id, actor_id, topic, "
                   "received_at, payload) VALUES (%s, %s, %s, now(), %s)",
                   (late_report["message_id"], market,
                    f"foodtrace/v1/chain/{market}/withdrawals", json.dumps(late_report)))
    c.conn.commit()
    withdrawal_step(fresh_db_url, now=late + timedelta(minutes=10))
    assert _count(c.conn, "SELECT count(*) FROM core.findings WHERE rule = "
                  "'not_held_contradicts_graph'") == 1
    assert live_notices(c.conn, alert_id)[market]["state"] == "overdue"
    assert out.escalations  # (the earlier escalation; no new one for the same notice)
    assert _count(c.conn, "SELECT count(*) FROM core.withdrawal_escalations") == 1

    # the CLI: progress per city, the overdue filter, the inspector's check
    import os

    from foodtrace.cli.main import main

    os.environ["FOODTRACE_DATABASE_URL"] = fresh_db_url
    try:
        capsys.readouterr()
        assert main(["withdrawals", str(alert_id), "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        [a] = data["alerts"]
        p = a["progress"]
        assert (p["notices"], p["answered"], p["overdue"]) == (4, 3, 1)
        # held: market 300 + plant 170 + shop 95 (+ farm 0); withdrawn: shop 95,
        # plant 50 of A and 120 (of 500 reported) of X
        assert p["units"]["kg"]["held"] == 565
        assert p["units"]["kg"]["withdrawn_or_accounted"] == 265
        assert set(a["cities"]) == {"guangzhou", "foshan", "shenzhen", "zhaoqing"}
        assert main(["withdrawals", "verify", str(n[market]["notice_id"]), "--by", "Li Wei",
                     "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["state"] == "verified"
        assert main(["withdrawals", "verify", str(n[market]["notice_id"]), "--by", "Li"]) == 4
        assert main(["withdrawals", "verify", str(uuid.uuid4()), "--by", "Li"]) == 3
        capsys.readouterr()
        assert main(["withdrawals", "--city", "guangzhou"]) == 0
        text = capsys.readouterr().out
        assert text.index("预警") < text.index("alert ") and market in text
        assert main(["withdrawals", "--overdue", "--json"]) == 0
        assert json.loads(capsys.readouterr().out) == {"alerts": []}
    finally:
        os.environ.pop("FOODTRACE_DATABASE_URL", None)
    assert live_notices(c.conn, alert_id)[market]["state"] == "verified"
