"""Land a simulated day into landing.* (as the ingest edge would) for pipeline tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg

from foodtrace.simulate import SimulatedDay, default_day, simulate_day

DRIVER = Path(__file__).with_name("airflow_driver.py")


def simulated_day(scale: float = 0.3, seed: int = 7, incident: str | None = "pesticide"):
    return simulate_day(seed, default_day(), scale=scale, incident=incident)


def land_day(conn: psycopg.Connection, sim: SimulatedDay) -> int:
    n = 0
    with conn.cursor() as cur:
        for kind, p in sim.messages():
            body = json.dumps(p)
            if kind in ("location", "product"):
                key = p["location_id"] if kind == "location" else p["product_code"]
                cur.execute(
                    "INSERT INTO landing.master_data (message_id, kind, natural_key, topic, "
                    "payload) VALUES (%s, %s, %s, %s, %s)",
                    (p["message_id"], kind, key, f"foodtrace/v1/registry/{kind}s", body),
                )
            elif kind == "chain_event":
                cur.execute(
                    "INSERT INTO landing.chain_events (message_id, actor_id, topic, payload) "
                    "VALUES (%s, %s, %s, %s)",
                    (
                        p["message_id"],
                        p["actor_id"],
                        f"foodtrace/v1/chain/{p['actor_id']}/events",
                        body,
                    ),
                )
            else:
                cur.execute(
                    "INSERT INTO landing.lab_results (message_id, lab_id, topic, payload) "
                    "VALUES (%s, %s, %s, %s)",
                    (
                        p["message_id"],
                        p["lab_id"],
                        f"foodtrace/v1/labs/{p['lab_id']}/results",
                        body,
                    ),
                )
            n += 1
    conn.commit()
    return n


def run_driver(
    home: Path, *args: str, database_url: str | None = None, timeout: float = 240
) -> Any:
    env = dict(os.environ)
    if database_url:
        env["FOODTRACE_DATABASE_URL"] = database_url
    env.pop("FOODTRACE_MQTT_URL", None)
    proc = subprocess.run(
        [sys.executable, str(DRIVER), str(home), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)
