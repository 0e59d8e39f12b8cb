"""The real deployment, on one machine, for the end-to-end benchmark.

Throwaway databases (foodtrace, migrated; Airflow metadata) on the PostgreSQL
server at FOODTRACE_TEST_PG_URL, a Mosquitto with the project's configuration, one
`foodtrace ingest` worker, and Airflow 3's own processes (api-server, scheduler with
LocalExecutor, dag-processor, triggerer) running the packaged DAGs (dags/). The
scheduler starts as docker-compose starts it: `python -m foodtrace.pipeline.preload
scheduler` (the pipeline's code imported before the LocalExecutor forks its
workers; `preload="off"` runs plain `airflow scheduler`). Every process runs in its
own process group, which `Stack.close()` ends (SIGTERM, then SIGKILL after a grace
period) before dropping the databases.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from foodtrace.config import parse_mqtt_url
from foodtrace.db import connect, migrate
from foodtrace.embedded import free_port
from foodtrace.pipeline.airflow_run import dags_folder
from foodtrace.pipeline.steps import WAIT_APPLICATION_NAME

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))  # test helpers
from devservices import MosquittoBroker  # tests/devservices.py

ADMIN_URL = os.environ.get("FOODTRACE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
VENV_BIN = Path(sys.executable).parent
LANE_DAG = "foodtrace_lab_results"
BATCH_DAGS = ("foodtrace_validate", "foodtrace_link", "foodtrace_alert")
DAG_IDS = (LANE_DAG, *BATCH_DAGS, "foodtrace_sweep")

LAB_USERS = ("lab-gz-01", "lab-gz-02", "lab-sz-01")
BROKER_USERS = (
    "foodtrace-ingest",
    "foodtrace-pipeline",
    "foodtrace-registry",
    "foodtrace-simulator",
    "emergency-office",
    *LAB_USERS,
)

# Airflow settings of this benchmark, beyond what docker-compose.yml already sets
# (LocalExecutor, dags folder, examples off, DAGs unpaused at creation). Keys are
# AIRFLOW__SECTION__KEY without the prefix; docker-compose.yml sets the same
# latency values (bench/e2e/README.md says why). `--airflow-setting` overrides any.
LATENCY_SETTINGS: dict[str, str] = {
    # The scheduler sleeps this long after a loop that found nothing to do (default
    # 1 s). A finished upstream task waits for the next loop to get its downstream
    # queued; on the lab-result lane it bounds how soon the next run's task waits
    # again after one ends (the lane's turnover, bench/e2e/README.md).
    "SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
}
RESOURCE_SETTINGS: dict[str, str] = {
    # New DAG files are looked for every 300 s by default; only start-up and DAG
    # deployments care. 30 s keeps a dev loop short; no effect on alert latency.
    "DAG_PROCESSOR__REFRESH_INTERVAL": "30",
}
# Deliberately NOT lowered: [core] parallelism (default 32). A LocalExecutor worker
# stays busy ~5 s after its task ended (measured before; bench/e2e/README.md), the
# lab-result lane holds one for its waiting task and the batch path and
# the sweep run tasks at the same time: keep well above what runs at once.


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def db_url(dbname: str, driver: str = "") -> str:
    url = psycopg.conninfo.make_conninfo(ADMIN_URL, dbname=dbname)
    parts = psycopg.conninfo.conninfo_to_dict(url)
    user = parts.get("user", "postgres")
    host = parts.get("host", "127.0.0.1")
    port = parts.get("port", "5432")
    scheme = f"postgresql+{driver}" if driver else "postgresql"
    return f"{scheme}://{user}@{host}:{port}/{dbname}"


def create_database(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')  # name is ours: ft_bench_e2e_<hex>


def drop_database(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log_path: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Stack:
    workdir: Path
    airflow_overrides: Mapping[str, str] = field(default_factory=dict)
    keep: bool = False
    preload: str = "gx"  # FOODTRACE_AIRFLOW_PRELOAD of the scheduler; "off": `airflow scheduler`
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    procs: list[Proc] = field(default_factory=list)
    databases: list[str] = field(default_factory=list)
    broker: MosquittoBroker | None = None
    api_port: int = 0

    @property
    def foodtrace_db(self) -> str:
        return f"ft_bench_e2e_{self.tag}"

    @property
    def airflow_db(self) -> str:
        return f"ft_bench_e2e_airflow_{self.tag}"

    @property
    def database_url(self) -> str:
        return db_url(self.foodtrace_db)

    @property
    def airflow_database_url(self) -> str:
        return db_url(self.airflow_db)

    def airflow_settings(self) -> dict[str, str]:
        return {**LATENCY_SETTINGS, **RESOURCE_SETTINGS, **self.airflow_overrides}

    # ---- start ---------------------------------------------------------------

    def start_databases(self) -> None:
        for name in (self.foodtrace_db, self.airflow_db):
            create_database(name)
            self.databases.append(name)
        with connect(self.database_url) as conn:
            migrate(conn)
        log(f"databases {self.foodtrace_db} (migrated) and {self.airflow_db} created")

    def start_broker(self) -> MosquittoBroker:
        users = {u: secrets.token_hex(12) for u in BROKER_USERS}
        self.broker = MosquittoBroker(self.workdir / "mosquitto", users).start()
        log(f"mosquitto on 127.0.0.1:{self.broker.port} (deploy/mosquitto config)")
        return self.broker

    def mqtt(self, user: str):
        assert self.broker is not None
        return parse_mqtt_url(self.broker.url(user))

    def _spawn(self, name: str, cmd: list[str], env: Mapping[str, str]) -> Proc:
        logs = self.workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log_path = logs / f"{name}.log"
        out = log_path.open("ab")
        popen = subprocess.Popen(
            cmd,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=str(self.workdir),
            start_new_session=True,  # own process group: we end it whole
        )
        out.close()
        proc = Proc(name, popen, log_path)
        self.procs.append(proc)
        return proc

    def base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "FOODTRACE_"))}
        env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '/usr/bin:/bin')}"
        env["FOODTRACE_DATABASE_URL"] = self.database_url
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def start_ingest(self) -> Proc:
        assert self.broker is not None
        env = self.base_env()
        env["FOODTRACE_MQTT_URL"] = self.broker.url("foodtrace-ingest")
        return self._spawn(
            "ingest",
            [
                str(VENV_BIN / "foodtrace"),
                "ingest",
                "--worker-id",
                f"bench-e2e-{self.tag}",
                "--log-level",
                "WARNING",
            ],
            env,
        )

    def airflow_env(self) -> dict[str, str]:
        assert self.broker is not None
        home = self.workdir / "airflow"
        home.mkdir(parents=True, exist_ok=True)
        env = self.base_env()
        env.update(
            {
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder()),  # the packaged DAGs
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url(self.airflow_db, "psycopg2"),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.api_port}/execution/",
                "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
                "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                # the tasks publish alerts as the pipeline's MQTT user
                "FOODTRACE_MQTT_URL": self.broker.url("foodtrace-pipeline"),
                "FOODTRACE_REPORT_DIR": str(self.workdir / "validation-reports"),
            }
        )
        env.update({f"AIRFLOW__{k}": v for k, v in self.airflow_settings().items()})
        return env

    def start_airflow(self) -> None:
        self.api_port = free_port()
        env = self.airflow_env()
        (self.workdir / "airflow-env.json").write_text(
            json.dumps(
                {
                    k: v
                    for k, v in env.items()
                    if k.startswith("AIRFLOW") and not k.endswith(("KEY", "SECRET"))
                },
                indent=2,
            )
        )
        started = time.monotonic()
        migrated = subprocess.run(
            [str(VENV_BIN / "airflow"), "db", "migrate"],
            env=env,
            capture_output=True,
            text=True,
            cwd=str(self.workdir),
        )
        if migrated.returncode:
            raise RuntimeError(
                f"airflow db migrate failed:\n{migrated.stdout[-3000:]}\n{migrated.stderr[-3000:]}"
            )
        log(f"airflow db migrate: {time.monotonic() - started:.1f} s")
        airflow = str(VENV_BIN / "airflow")
        self._spawn(
            "api-server",
            [airflow, "api-server", "--host", "127.0.0.1", "--port", str(self.api_port)],
            env,
        )
        if self.preload == "off":
            self._spawn("scheduler", [airflow, "scheduler"], env)
        else:
            self._spawn(
                "scheduler",
                [str(VENV_BIN / "python"), "-m", "foodtrace.pipeline.preload", "scheduler"],
                {**env, "FOODTRACE_AIRFLOW_PRELOAD": self.preload},
            )
        self._spawn("dag-processor", [airflow, "dag-processor"], env)
        self._spawn("triggerer", [airflow, "triggerer"], env)

    # ---- health --------------------------------------------------------------

    def check_alive(self) -> None:
        for p in self.procs:
            if not p.alive():
                raise RuntimeError(
                    f"{p.name} exited with {p.popen.returncode}; its log "
                    f"({p.log_path}) ends:\n{p.tail()}"
                )

    def api_health(self) -> dict:
        url = f"http://127.0.0.1:{self.api_port}/api/v2/monitor/health"
        with urllib.request.urlopen(url, timeout=3) as resp:
            return json.load(resp)

    def wait_airflow_ready(self, timeout: float = 300.0) -> float:
        """Until the api-server reports every component healthy, the three DAGs are
        parsed, unpaused and error-free, and the triggerer runs the landing watcher."""
        started = time.monotonic()
        deadline = started + timeout
        state = "nothing yet"
        while time.monotonic() < deadline:
            self.check_alive()
            with contextlib.suppress(OSError, ValueError):
                health = self.api_health()
                unhealthy = [
                    k
                    for k, v in health.items()
                    if isinstance(v, dict) and v.get("status") != "healthy"
                ]
                state = f"unhealthy: {', '.join(unhealthy)}" if unhealthy else "healthy"
                if not unhealthy:
                    problem = self._dags_problem()
                    if problem is None:
                        return time.monotonic() - started
                    state = problem
            time.sleep(1.0)
        raise TimeoutError(
            f"Airflow not ready after {timeout:.0f} s ({state}); logs in {self.workdir / 'logs'}"
        )

    def _dags_problem(self) -> str | None:
        with psycopg.connect(self.airflow_database_url, autocommit=True) as conn:
            errors = conn.execute("SELECT filename, stacktrace FROM import_error").fetchall()
            if errors:
                raise RuntimeError(
                    "DAG import errors: "
                    + "; ".join(f"{f}: {s.strip().splitlines()[-1]}" for f, s in errors)
                )
            rows = dict(
                conn.execute(
                    "SELECT dag_id, is_paused FROM dag WHERE dag_id = ANY(%s) AND is_stale = false",
                    (list(DAG_IDS),),
                ).fetchall()
            )
            missing = [d for d in DAG_IDS if d not in rows]
            if missing:
                return f"DAGs not parsed yet: {', '.join(missing)}"
            paused = [d for d, p in rows.items() if p]
            if paused:
                raise RuntimeError(
                    f"DAGs paused despite DAGS_ARE_PAUSED_AT_CREATION=False: {paused}"
                )
            watcher = conn.execute(
                "SELECT t.triggerer_id FROM trigger t WHERE t.classpath LIKE %s",
                ("%LandingNotifyTrigger",),
            ).fetchall()
            if not watcher:
                return "the landing asset watcher's trigger is not registered yet"
            if all(r[0] is None for r in watcher):
                return "the landing watcher is not assigned to a triggerer yet"
            if not self.lane_waiting():
                return f"{LANE_DAG} has no task waiting yet"
        return None

    def lane_waiting(self) -> bool:
        """The lab-result lane is idle and ready: its task is waiting for a lab result
        (its LISTEN connection, steps.WAIT_APPLICATION_NAME, is open)."""
        with psycopg.connect(self.database_url, autocommit=True) as ft:
            row = ft.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = %s",
                (WAIT_APPLICATION_NAME,),
            ).fetchone()
        return bool(row and row[0])

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) so far of each process and its descendants."""
        import psutil

        out: dict[str, float] = {}
        for p in self.procs:
            total = 0.0
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(p.popen.pid)
                for proc in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        t = proc.cpu_times()
                        total += t.user + t.system
            out[p.name] = total
        return out

    def set_paused(self, paused: bool, dag_ids: Sequence[str] = DAG_IDS) -> None:
        with psycopg.connect(self.airflow_database_url, autocommit=True) as conn:
            conn.execute(
                "UPDATE dag SET is_paused = %s WHERE dag_id = ANY(%s)", (paused, list(dag_ids))
            )

    # ---- stop ----------------------------------------------------------------

    def _task_runners(self) -> list[int]:
        """Process groups of our processes' descendants that lead a group of their
        own: Airflow 3.3's supervisor starts each task runner in one (its PGID is its
        pid), which killing the leader's group does not reach."""
        import psutil

        groups = {p.popen.pid for p in self.procs}
        found = []
        for p in self.procs:
            with contextlib.suppress(psutil.Error):
                for child in psutil.Process(p.popen.pid).children(recursive=True):
                    with contextlib.suppress(psutil.Error, OSError):
                        if os.getpgid(child.pid) == child.pid and child.pid not in groups:
                            found.append(child.pid)
        return found

    def close(self) -> None:
        # SIGTERM to each leader: Airflow's processes stop their own workers in order;
        # whatever is left in a process group after the grace period is killed.
        task_runners = self._task_runners()
        for p in reversed(self.procs):
            if p.alive():
                with contextlib.suppress(ProcessLookupError):
                    p.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for p in reversed(self.procs):
            try:
                p.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"{p.name} did not stop within 20 s of SIGTERM: killing its process group")
            # the group may hold children (task processes, workers) after the leader exits
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.popen.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.popen.wait(5)
        for runner in task_runners:  # orphaned when their supervisor was killed
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(runner, signal.SIGKILL)
        if self.broker is not None:
            self.broker.stop()
        if self.keep:
            log(f"kept databases {', '.join(self.databases)} and {self.workdir}")
            return
        shutil.rmtree(self.workdir, ignore_errors=True)
        for name in self.databases:
            try:
                drop_database(name)
            except psycopg.Error as exc:
                log(f"could not drop database {name}: {exc}")
