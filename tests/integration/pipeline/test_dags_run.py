"""The DAGs really run (dag.test(), in a subprocess) against the real PostgreSQL:
validate -> link -> alert over a simulated day with a pesticide incident; a second
pass finds nothing to do and emits no downstream asset events. The lanes (the
lab-result lane, the sweep) run their three steps in one DAG. Also: the
`foodtrace pipeline run` command in both modes, MQTT delivery of the alert, and the
LISTEN/NOTIFY event trigger that makes the batch path event-driven."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from pipeline_helpers import land_day, run_driver, simulated_day

from foodtrace.cli.main import main
from foodtrace.db import connect


@pytest.fixture(scope="module")
def sim():
    return simulated_day(scale=0.3, seed=7, incident="pesticide")


def test_dags_run_in_order_against_postgres(fresh_db_url: str, airflow_home: Path, sim) -> None:
    with connect(fresh_db_url) as conn:
        landed = land_day(conn, sim)
    runs = run_driver(
        airflow_home,
        "run",
        "foodtrace_validate",
        "foodtrace_link",
        "foodtrace_alert",
        "foodtrace_validate",
        "foodtrace_link",
        database_url=fresh_db_url,
    )
    validate, link, alert, validate2, link2 = runs
    assert [r["state"] for r in runs] == ["success"] * 5

    assert validate["tasks"] == {"validate": "success"}
    assert validate["asset_events"] == ["foodtrace_core_promoted"]
    v = validate["result"]
    assert (v["checked"], v["promoted"], v["quarantined"], v["findings"]) == (landed, landed, 0, 0)
    assert Path(v["report_path"]).exists()

    assert link["tasks"] == {"link": "success"}
    assert link["asset_events"] == ["foodtrace_lot_graph"]
    assert link["result"]["events"] == len(sim.chain_events)
    assert link["result"]["lab_results"] == len(sim.lab_results)

    assert alert["tasks"] == {"alert": "success"}
    assert alert["result"]["alerts"] and alert["result"]["delivered"] is None  # no MQTT URL

    # nothing new: the tasks succeed and announce nothing, so no DAG downstream runs
    assert validate2["result"]["promoted"] == 0
    assert validate2["tasks"] == {"validate": "success"} and validate2["asset_events"] == []
    assert link2["tasks"] == {"link": "success"} and link2["asset_events"] == []

    with connect(fresh_db_url) as conn:
        alerts = conn.execute("SELECT lot_code, status FROM core.alerts").fetchall()
        assert (sim.truth.lot_code, "open") in alerts
        assert conn.execute("SELECT count(*) FROM core.events").fetchone()[0] == len(
            sim.chain_events
        )
        assert conn.execute("SELECT count(*) FROM core.lot_edges").fetchone()[0] > 0
        assert conn.execute("SELECT count(*) FROM landing.validation_queue").fetchone()[0] == 0


def test_cli_runs_the_dags_by_default(fresh_db_url: str, pipeline_out: Path) -> None:
    small = simulated_day(scale=0.3, seed=11, incident=None)
    with connect(fresh_db_url) as conn:
        landed = land_day(conn, small)
    env = {**os.environ, "FOODTRACE_DATABASE_URL": fresh_db_url}
    env.pop("FOODTRACE_MQTT_URL", None)
    env.pop("FOODTRACE_REPORT_DIR", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "foodtrace.cli.main",
            "pipeline",
            "run",
            "--json",
            "--out",
            str(pipeline_out),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)  # JSON alone on stdout
    assert report["mode"] == "airflow"
    assert report["validate"]["promoted"] == landed
    assert report["link"]["events"] == len(small.chain_events)
    assert report["report_path"].startswith(str(pipeline_out / "validation-reports"))
    assert Path(report["report_path"]).exists()


class _Subscriber:
    def __init__(self, url_user: str, broker) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4()}")
        self.client.username_pw_set(url_user, broker.users[url_user])
        self.client.on_connect = lambda c, *_: c.subscribe("foodtrace/v1/alerts/#", qos=1)
        self.client.on_subscribe = lambda *_: self.ready.set()
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload))
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        assert self.ready.wait(10)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_cli_direct_mode_publishes_alerts(
    fresh_db_url: str, broker, sim, tmp_path: Path, monkeypatch, capsys
) -> None:
    with connect(fresh_db_url) as conn:
        landed = land_day(conn, sim)
    monkeypatch.setenv("FOODTRACE_DATABASE_URL", fresh_db_url)
    monkeypatch.setenv("FOODTRACE_MQTT_URL", broker.url("foodtrace-pipeline"))
    office = _Subscriber("emergency-office", broker)
    try:
        assert main(["pipeline", "run", "--direct", "--json", "--out", str(tmp_path)]) == 0
        report: dict[str, Any] = json.loads(capsys.readouterr().out)
        assert report["mode"] == "direct"
        assert report["validate"]["promoted"] == landed
        assert report["alert"]["delivered"] >= 2  # JSON + CAP per affected city
        deadline = time.monotonic() + 10
        while len(office.messages) < report["alert"]["delivered"] and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        office.close()
    topics = {t for t, _ in office.messages}
    assert any(t.endswith("/cap") for t in topics)
    assert any(sim.truth.lot_code in p.decode() for _, p in office.messages)


def test_cli_text_summary_and_errors(
    fresh_db_url: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("FOODTRACE_DATABASE_URL", fresh_db_url)
    monkeypatch.delenv("FOODTRACE_MQTT_URL", raising=False)
    assert main(["pipeline", "run", "--direct", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "pipeline run (direct):" in out and "validation report: (nothing was validated)" in out
    monkeypatch.setenv("FOODTRACE_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    assert main(["pipeline", "run", "--direct"]) == 2
    assert "cannot reach the database" in capsys.readouterr().err
    monkeypatch.delenv("FOODTRACE_DATABASE_URL")
    assert main(["pipeline", "run", "--direct"]) == 2
    assert "FOODTRACE_DATABASE_URL is not set" in capsys.readouterr().err


def test_landing_notify_trigger_fires_within_seconds(fresh_db_url: str, airflow_home: Path) -> None:
    got = run_driver(airflow_home, "trigger", database_url=fresh_db_url)
    assert got["classpath"] == "foodtrace.pipeline.triggers.LandingNotifyTrigger"
    assert "postgres" not in json.dumps(got["kwargs"])  # no connection secrets serialised
    assert got["event"]["kinds"] == ["lab_result"]
    assert got["event"]["rows"] >= 1
    assert got["latency_s"] < 3.0
    # the burst of three commits is one event (the debounce), or at most two
    total = got["event"]["notifications"] + (got["second_event"] or {}).get("notifications", 0)
    assert total == 3
