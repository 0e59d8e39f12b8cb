"""The packaged DAGs, unchanged, on Airflow's CeleryExecutor with Redis and two
Celery workers: an incident from a lab's publish to the emergency office's alert.

    .venv/bin/python bench/celery/run.py                 # 3 incidents, scale 0.2
    .venv/bin/python bench/celery/run.py --incidents 5 --json > celery.json
    .venv/bin/python bench/celery/run.py --worker-preload off   # plain `airflow celery worker`

Needs the celery extra (`pip install -e '.[celery]'`), Redis at --redis-url
(default FOODTRACE_BENCH_REDIS_URL or redis://127.0.0.1:6379/0), the PostgreSQL
server at FOODTRACE_TEST_PG_URL and the `mosquitto` binary.

The deployment is bench/e2e/stack.py's (throwaway foodtrace and Airflow metadata
databases, temp AIRFLOW_HOME, Mosquitto with the project's configuration, one
`foodtrace ingest` worker, api-server, scheduler, dag-processor, triggerer) with
three changes, all configuration: `[core] executor = CeleryExecutor`, Celery's
broker on Redis and its result backend in the Airflow metadata database, and two
`airflow celery worker` processes (distinct Celery hostnames, a queue of this run
only, so other runs on the same Redis never take its tasks). Each worker records
its own name as its task instances' hostname (worker_identity.py): that is how
the report says which worker ran which task.

Then: a small simulated day (master data and chain events) through the batch path,
and one at a time a positive rapid test for a linked lot, timed from the publish
to the first alert JSON for that lot on foodtrace/v1/alerts/#. Exit 1 when an
alert did not arrive, or when one worker ran no task at all.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

HERE = Path(__file__).resolve().parent
E2E = HERE.parent / "e2e"
sys.path.insert(0, str(E2E))  # bench/e2e's stack and incidents are reused as they are
from foodtrace.ingest.publish import Publisher  # noqa: E402
from incidents import AlertListener, pick_lots  # noqa: E402
from stack import LAB_USERS, LANE_DAG, VENV_BIN, Stack, db_url, log  # noqa: E402

from foodtrace.embedded import free_port  # noqa: E402
from foodtrace.simulate import default_day, simulate_day  # noqa: E402


def _load_e2e_run() -> Any:
    """bench/e2e/run.py under another module name (this file is run.py too)."""
    spec = importlib.util.spec_from_file_location("bench_e2e_run", E2E / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


e2e = _load_e2e_run()

DEFAULT_REDIS_URL = os.environ.get("FOODTRACE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass
class CeleryStack(Stack):
    """bench/e2e's Stack with the CeleryExecutor and `workers` Celery workers."""

    redis_url: str = DEFAULT_REDIS_URL
    workers: int = 2
    concurrency: int = 4
    preload: str = "off"  # the scheduler's: it forks LocalExecutor workers, not Celery's
    # FOODTRACE_AIRFLOW_PRELOAD of each Celery worker (foodtrace.pipeline.preload):
    # its pool processes, and the task processes they fork, start with the pipeline
    # imported; "off": plain `airflow celery worker`.
    worker_preload: str = "gx"
    _env: dict[str, str] | None = field(default=None, repr=False)

    @property
    def foodtrace_db(self) -> str:
        return f"ft_bench_celery_{self.tag}"

    @property
    def airflow_db(self) -> str:
        return f"ft_bench_celery_airflow_{self.tag}"

    @property
    def queue(self) -> str:
        return f"foodtrace-bench-{self.tag}"

    def worker_names(self) -> list[str]:
        return [f"celery-{chr(ord('a') + i)}-{self.tag}" for i in range(self.workers)]

    def airflow_env(self) -> dict[str, str]:
        # Built once: the base generates the shared secrets (Fernet, JWT), which the
        # workers must share with the api-server and the scheduler.
        if self._env is None:
            env = super().airflow_env()
            env.update(
                {
                    "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                    "AIRFLOW__CELERY__BROKER_URL": self.redis_url,
                    "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + db_url(self.airflow_db, "psycopg2"),
                    "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.concurrency),
                    "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
                }
            )
            self._env = env
        return dict(self._env)

    def start_airflow(self) -> None:
        super().start_airflow()  # api-server, scheduler (CeleryExecutor), dag-processor, triggerer
        env = self.airflow_env()
        pythonpath = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH", "")) if p)
        for name in self.worker_names():
            worker_env = {
                **env,
                "FOODTRACE_CELERY_WORKER_NAME": name,
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "worker_identity.hostname",
                "PYTHONPATH": pythonpath,
                # each worker serves its task logs on a port of its own
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            }
            worker_args = [
                "celery",
                "worker",
                "--celery-hostname",
                f"{name}@%h",
                "--queues",
                self.queue,
                "--concurrency",
                str(self.concurrency),
            ]
            if self.worker_preload == "off":
                command = [str(VENV_BIN / "airflow"), *worker_args]
            else:
                command = [str(VENV_BIN / "python"), "-m", "foodtrace.pipeline.preload", *worker_args]
                worker_env["FOODTRACE_AIRFLOW_PRELOAD"] = self.worker_preload
            self._spawn(name, command, worker_env)
        log(
            f"{self.workers} Celery workers on queue {self.queue} via {self.redis_url} "
            f"(worker preload: {self.worker_preload})"
        )

    def pause_all(self) -> None:
        """Pause the DAGs before stopping, so no new run starts while workers stop."""
        with contextlib.suppress(psycopg.Error):
            if self.airflow_db in self.databases:
                self.set_paused(True)

    def close(self) -> None:
        # A Celery worker's warm shutdown (SIGTERM) waits for its running tasks, and
        # the lab-result lane's task is always running (waiting for the next result):
        # end the workers' process groups at once; the base class stops the rest.
        names = set(self.worker_names())
        for proc in self.procs:
            if proc.name in names and proc.alive():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.popen.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.popen.wait(10)
        super().close()
        with contextlib.suppress(Exception):  # best effort: what the run left on Redis
            import redis

            client = redis.Redis.from_url(self.redis_url)
            client.delete(self.queue, f"_kombu.binding.{self.queue}")
            forget_unacked(client, self.queue)


def forget_unacked(client: Any, queue: str) -> int:
    """Drop the killed workers' unacknowledged deliveries of `queue` from kombu's
    shared `unacked` hash (Airflow's Celery tasks ack late), so that no later Celery
    worker on this Redis restores them; entries of other queues are left alone."""
    dropped = 0
    for tag, raw in client.hgetall("unacked").items():
        with contextlib.suppress(ValueError, IndexError, TypeError):
            if json.loads(raw)[2] == queue:
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)
                dropped += 1
    return dropped


def redis_reachable(url: str) -> str | None:
    """None when Redis answers PING, else why not."""
    try:
        import redis
    except ImportError:
        return "the redis client is not installed: pip install -e '.[celery]'"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        return f"Redis at {url} does not answer: {exc}"
    return None


def celery_provider_missing() -> str | None:
    if importlib.util.find_spec("airflow.providers.celery") is None:
        return "apache-airflow-providers-celery is not installed: pip install -e '.[celery]'"
    return None


def task_hosts(stack: CeleryStack) -> list[dict[str, Any]]:
    """Every task instance of the run's DAGs: who ran it (hostname) and how it ended."""
    with psycopg.connect(stack.airflow_database_url, autocommit=True) as af:
        rows = af.execute(
            """SELECT dag_id, task_id, run_id, state, hostname, queue, start_date, end_date
               FROM task_instance ORDER BY start_date NULLS LAST"""
        ).fetchall()
    return [
        {
            "dag_id": r[0],
            "task_id": r[1],
            "run_id": r[2],
            "state": r[3],
            "hostname": r[4],
            "queue": r[5],
            "start": r[6].timestamp() if r[6] else None,
            "end": r[7].timestamp() if r[7] else None,
        }
        for r in rows
    ]


def lane_task_for(tasks: list[dict[str, Any]], t0: float, arrival: float) -> dict[str, Any] | None:
    """The lab-result lane's task that was waiting when the result was published and
    running when its alert arrived: the one that turned it into the alert."""
    for t in tasks:
        if t["dag_id"] != LANE_DAG or t["start"] is None or t["start"] > t0:
            continue
        if t["end"] is None or t["end"] >= arrival:
            return t
    return None


def summarize(stack: CeleryStack, incidents: list[dict[str, Any]]) -> dict[str, Any]:
    tasks = task_hosts(stack)
    by_worker: dict[str, Counter] = {}
    for t in tasks:
        if t["hostname"]:
            by_worker.setdefault(t["hostname"], Counter())[f"{t['dag_id']}.{t['task_id']}"] += 1
    for inc in incidents:
        if inc["arrival"] is not None:
            lane = lane_task_for(tasks, inc["t0"], inc["arrival"])
            inc["lane_worker"] = lane["hostname"] if lane else None
            inc["lane_run_id"] = lane["run_id"] if lane else None
    latencies = sorted(i["latency_s"] for i in incidents if i["latency_s"] is not None)
    return {
        "workers": stack.worker_names(),
        "queue": stack.queue,
        "tasks_by_worker": {w: dict(c) for w, c in sorted(by_worker.items())},
        "task_states": dict(Counter(t["state"] for t in tasks)),
        "foreign_hosts": sorted(set(by_worker) - set(stack.worker_names())),
        "idle_workers": [w for w in stack.worker_names() if w not in by_worker],
        "incidents": [{k: v for k, v in i.items() if k not in ("t0", "arrival")} for i in incidents],
        "timeouts": [i["lot_code"] for i in incidents if i["latency_s"] is None],
        "latency_s": {
            "min": round(latencies[0], 3) if latencies else None,
            "max": round(latencies[-1], 3) if latencies else None,
        },
    }


def print_report(result: dict[str, Any]) -> None:
    s = result["summary"]
    print(
        f"CeleryExecutor, Redis {result['redis_url']}, queue {s['queue']}, "
        f"{len(s['workers'])} workers: {', '.join(s['workers'])} "
        f"(worker preload: {result['worker_preload']})"
    )
    print(f"Airflow ready in {result['airflow_ready_s']} s; base day: {result['base_day']}")
    print("\n谁运行了哪个任务 / which worker ran which task (task instances' hostname):")
    for worker, counts in s["tasks_by_worker"].items():
        total = sum(counts.values())
        print(f"  {worker}: {total} task instances")
        for task, n in sorted(counts.items()):
            print(f"      {n:4d}  {task}")
    print(f"  task states: {s['task_states']}")
    print("\n事件 / incidents (publish -> alert JSON at the emergency office):")
    for inc in s["incidents"]:
        lat = "NO ALERT" if inc["latency_s"] is None else f"{inc['latency_s']:.2f} s"
        print(
            f"  #{inc['no']} {inc['lot_code']} by {inc['lab_id']}: {lat}, "
            f"lane task on {inc.get('lane_worker')}"
        )
    if s["idle_workers"]:
        print(f"  workers that ran no task: {s['idle_workers']}")
    if s["timeouts"]:
        print(f"  no alert within the timeout for: {s['timeouts']}")


def _run(stack: CeleryStack, args: argparse.Namespace, result: dict[str, Any]) -> None:
    stack.start_databases()
    stack.start_broker()
    stack.start_ingest()
    stack.start_airflow()
    ready = stack.wait_airflow_ready(timeout=args.ready_timeout)
    log(f"Airflow (Celery) healthy, DAGs parsed, lane waiting after {ready:.1f} s")
    result["airflow_ready_s"] = round(ready, 1)

    sim = simulate_day(args.seed, default_day(), scale=args.scale)
    e2e.wait_ingest_subscribed(stack, sim)
    result["base_day"] = e2e.load_base_day(stack, sim)

    with psycopg.connect(stack.database_url, autocommit=True) as ft:
        lots = pick_lots(ft, args.incidents, args.seed)
    incidents: list[dict[str, Any]] = []
    with contextlib.ExitStack() as running:
        listener = running.enter_context(AlertListener(stack.mqtt("emergency-office")))
        publishers = {lab: running.enter_context(Publisher(stack.mqtt(lab))) for lab in LAB_USERS}
        for no, lot in enumerate(lots):
            if not e2e.wait_idle(stack, timeout=120.0):
                log("the pipeline did not go idle within 120 s; publishing anyway")
            inc = e2e.run_incident(
                stack, listener, publishers, lot, no, stack.tag.upper(), args.timeout
            )
            lat = inc["latency_s"]
            log(f"incident {no}: {inc['lot_code']} -> " + ("NO ALERT" if lat is None else f"{lat:.2f} s"))
            incidents.append(inc)
    time.sleep(2.0)  # the lane's task ends and records its hostname
    result["summary"] = summarize(stack, incidents)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--incidents", type=int, default=3, help="positive rapid tests (default 3)")
    p.add_argument("--scale", type=float, default=0.2, help="simulated base day (default 0.2)")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--workers", type=int, default=2, help="Celery workers (default 2)")
    p.add_argument("--concurrency", type=int, default=4, help="task slots per worker (default 4)")
    p.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    p.add_argument(
        "--worker-preload",
        choices=("gx", "steps", "none", "off"),
        default="gx",
        help="what each Celery worker imports before forking its pool (default gx; "
        "off: plain `airflow celery worker`)",
    )
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for an alert")
    p.add_argument("--ready-timeout", type=float, default=300.0)
    p.add_argument("--keep", action="store_true", help="keep the databases and the logs")
    p.add_argument("--json", action="store_true", help="the result as JSON on stdout")
    return p.parse_args(argv)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def preconditions(redis_url: str) -> str | None:
    """None when the provider is installed and Redis answers, else what is missing."""
    return celery_provider_missing() or redis_reachable(redis_url)


def execute(args: argparse.Namespace) -> dict[str, Any]:
    """Start the Celery deployment, run the incidents, stop and drop everything;
    the result with its summary (summarize)."""
    workdir = Path(tempfile.mkdtemp(prefix="ft-bench-celery-"))
    stack = CeleryStack(
        workdir,
        keep=args.keep,
        redis_url=args.redis_url,
        workers=args.workers,
        concurrency=args.concurrency,
        worker_preload=args.worker_preload,
    )
    result: dict[str, Any] = {
        "command": " ".join(sys.argv),
        "redis_url": args.redis_url,
        "worker_preload": args.worker_preload,
    }
    log(f"work folder {workdir}")
    try:
        _run(stack, args, result)
    finally:
        stack.pause_all()
        stack.close()
        log("stopped all processes" + ("" if args.keep else ", dropped the databases"))
    return result


def passed(summary: dict[str, Any]) -> bool:
    """Every incident alerted, every worker ran tasks, no task ran anywhere else."""
    return not summary["timeouts"] and not summary["idle_workers"] and not summary["foreign_hosts"]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    missing = preconditions(args.redis_url)
    if missing:
        print(f"无法运行 / cannot run: {missing}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        result = execute(args)
    except KeyboardInterrupt:
        log("interrupted: stopped everything")
        return 130
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print_report(result)
    return 0 if passed(result["summary"]) else 1


if __name__ == "__main__":
    sys.exit(main())
