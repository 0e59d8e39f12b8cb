"""The lanes: the lab-result lane validates lab results only, then links and
alerts, in one task (which waits for the next lab result, except in a manual run
or a retry); the sweep runs everything as validate >> link >> alert >> withdrawals (dag.test(), in a subprocess, against the
real PostgreSQL). Also the pieces the lanes rely on: wait_for_landing wakes for
its kinds only, and alert delivery waits for another deliverer instead of leaving
a fresh alert in the outbox."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from pipeline_helpers import land_day, run_driver, simulated_day

from foodtrace.db import connect
from foodtrace.pipeline import steps
from foodtrace.pipeline.steps import wait_for_landing


def _count(url: str, sql: str) -> int:
    with connect(url) as conn:
        return conn.execute(sql).fetchone()[0]


def test_lab_lane_then_sweep(fresh_db_url: str, airflow_home: Path) -> None:
    sim = simulated_day(scale=0.3, seed=5, incident="pesticide")
    with connect(fresh_db_url) as conn:
        land_day(conn, sim)
    started = time.monotonic()
    (lane,) = run_driver(airflow_home, "run", "foodtrace_lab_results", database_url=fresh_db_url)
    assert time.monotonic() - started < 120  # a manual run does not wait for work
    assert lane["state"] == "success"
    assert lane["tasks"] == {"lab_result_to_alert": "success"}
    assert lane["asset_events"] == []
    report = lane["result"]
    assert report["validate"]["kinds"] == ["lab_result"]
    assert report["validate"]["promoted"] == len(sim.lab_results)
    assert report["validate"]["waited_s"] is None  # a manual run
    assert report["link"]["lab_results"] == len(sim.lab_results)
    assert report["alert"]["alerts"]  # raised from the lab results alone
    steps_in_order = [report[s]["started_at"] for s in ("validate", "link", "alert")]
    assert steps_in_order == sorted(steps_in_order)
    # the lane validated lab results only; the chain events wait for the batch path
    assert _count(fresh_db_url, "SELECT count(*) FROM core.lab_results") == len(sim.lab_results)
    assert _count(fresh_db_url, "SELECT count(*) FROM core.events") == 0
    queued = _count(
        fresh_db_url,
        "SELECT count(*) FROM landing.validation_queue WHERE kind <> 'lab_result'",
    )
    assert queued == len(sim.chain_events) + len(sim.locations) + len(sim.products)

    sweep, lane2 = run_driver(
        airflow_home, "run", "foodtrace_sweep", "foodtrace_lab_results", database_url=fresh_db_url
    )
    assert sweep["tasks"] == {
        "validate": "success", "link": "success", "alert": "success", "withdrawals": "success"
    }
    assert sweep["result"]["rescoped"]  # the late chain events widened the alert
    assert _count(fresh_db_url, "SELECT count(*) FROM core.events") == len(sim.chain_events)
    assert _count(fresh_db_url, "SELECT count(*) FROM landing.validation_queue") == 0
    # nothing left: the lane's manual run goes through at once, changing nothing
    assert lane2["state"] == "success" and lane2["result"]["alert"]["alerts"] == []


def _land(url: str, table: str, sender_column: str, topic: str) -> None:
    with connect(url) as conn:
        conn.execute(
            f"INSERT INTO landing.{table} (message_id, {sender_column}, topic, payload) "
            "VALUES (gen_random_uuid(), 'x', %s, '{}'::jsonb)",
            (topic,),
        )
        conn.commit()


def land_chain(url: str) -> None:
    _land(url, "chain_events", "actor_id", "foodtrace/v1/chain/x/events")


def land_lab(url: str) -> None:
    _land(url, "lab_results", "lab_id", "foodtrace/v1/labs/x/results")


def test_wait_for_landing_wakes_for_its_kinds_only(fresh_db_url: str) -> None:
    assert wait_for_landing(["lab_result"], 0.3, fresh_db_url) is None

    def later(fn, delay: float) -> threading.Timer:
        t = threading.Timer(delay, fn)
        t.start()
        return t

    # a chain event does not wake a lab-result wait; a lab result does
    t1 = later(lambda: land_chain(fresh_db_url), 0.2)
    t2 = later(lambda: land_lab(fresh_db_url), 1.0)
    started = time.monotonic()
    waited = wait_for_landing(["lab_result"], 10, fresh_db_url)
    took = time.monotonic() - started
    t1.join()
    t2.join()
    assert waited is not None and 0.9 <= took < 5, (waited, took)
    # queued already: at once
    assert wait_for_landing(["lab_result"], 10, fresh_db_url) == 0.0
    assert wait_for_landing(None, 10, fresh_db_url) == 0.0


def test_alert_delivery_waits_for_another_deliverer(monkeypatch: pytest.MonkeyPatch) -> None:
    """outbox.deliver() returns 0 while another deliverer holds its lock; the step
    tries again until nothing is pending."""
    import foodtrace.alerts.outbox as outbox

    calls: list[int] = []
    pending = {"rows": 2}

    def deliver(conn, settings):
        calls.append(1)
        if len(calls) < 3:  # the other deliverer still holds the lock
            return 0
        sent, pending["rows"] = pending["rows"], 0
        return sent

    monkeypatch.setattr(outbox, "deliver", deliver)
    monkeypatch.setattr(steps, "_outbox_pending", lambda conn: pending["rows"] > 0)
    assert steps._deliver_alerts(object(), object(), wait_s=5) == 2
    assert len(calls) == 3
    pending["rows"] = 1
    calls.clear()
    monkeypatch.setattr(outbox, "deliver", lambda conn, settings: 0)
    started = time.monotonic()
    assert steps._deliver_alerts(object(), object(), wait_s=0.3) == 0  # gives up in time
    assert time.monotonic() - started < 2
