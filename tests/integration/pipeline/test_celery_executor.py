"""The packaged DAGs, unchanged, on Airflow's CeleryExecutor: Redis (the machine's,
127.0.0.1:6379) as Celery's broker and two `airflow celery worker` processes.

Runs bench/celery/run.py as a subprocess (Airflow configures global state when
imported, so never in the pytest process): a private Airflow (api-server,
scheduler, dag-processor, triggerer; metadata in a new PostgreSQL database), a
simulated day through the batch path, then a positive rapid test published as a
lab would, whose alert must reach the emergency office's subscription. The task
instances' hostnames (each worker records its own name) must all be the two
workers', and each worker must have run tasks. About 1-2 minutes.

Redis: the machine's at FOODTRACE_BENCH_REDIS_URL (default redis://127.0.0.1:6379/0);
if none answers there, the test starts a private `redis-server` on a free port.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "bench" / "celery" / "run.py"
LANE_DAG = "foodtrace_lab_results"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("airflow.providers.celery") is None,
        reason="apache-airflow-providers-celery is not installed (pip install -e '.[celery]')",
    ),
]


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("FOODTRACE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    if _redis_answers(url):
        yield url
        return
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail(f"no Redis answers at {url} and redis-server is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    private = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while not _redis_answers(private):
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("the private redis-server did not start")
            time.sleep(0.1)
        yield private
    finally:
        proc.terminate()
        proc.wait(10)


def test_incident_alerts_through_two_celery_workers(tmp_path: Path, redis_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--incidents", "2", "--scale", "0.2", "--json",
         "--redis-url", redis_url],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=600,
    )
    assert done.returncode in (0, 1), f"bench/celery/run.py failed:\n{done.stderr[-4000:]}"
    result = json.loads(done.stdout)
    summary = result["summary"]
    workers = summary["workers"]
    assert len(workers) == 2

    # every incident's alert arrived, and it was a Celery worker's lane task that raised it
    assert summary["timeouts"] == [], done.stderr[-3000:]
    assert len(summary["incidents"]) == 2
    for incident in summary["incidents"]:
        assert incident["latency_s"] is not None and incident["latency_s"] < 120
        assert incident["lane_worker"] in workers, incident

    # tasks ran on both workers and nowhere else (no LocalExecutor, no other host)
    by_worker = summary["tasks_by_worker"]
    assert set(by_worker) == set(workers), by_worker
    assert all(sum(counts.values()) > 0 for counts in by_worker.values())
    ran = {task for counts in by_worker.values() for task in counts}
    assert f"{LANE_DAG}.lab_result_to_alert" in ran
    assert {"foodtrace_validate.validate", "foodtrace_link.link"} <= ran, ran
    assert summary["task_states"].get("failed", 0) == 0, summary["task_states"]
    assert done.returncode == 0
