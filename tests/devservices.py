"""Start real Mosquitto and PostgreSQL processes for tests and benchmarks.

Test infrastructure, kept out of the installed package: tests import it as
`devservices` (tests/ is on sys.path under pytest, as for epcis_gs1), the bench
scripts put tests/ on sys.path first. The broker runs with the project's shipped
configuration (deploy/mosquitto), only its paths and port rewritten, so the
settings under test are the ones that ship. `free_port` lives with the embedded
demo services (foodtrace.embedded), which need it in production too.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from foodtrace.embedded import free_port

__all__ = [
    "MOSQUITTO_CONFIG_DIR",
    "REPO_ROOT",
    "MosquittoBroker",
    "PostgresCluster",
    "free_port",
    "running",
    "wait_for_port",
]

REPO_ROOT = Path(__file__).resolve().parents[1]  # the checkout: tests/ is not installed
MOSQUITTO_CONFIG_DIR = REPO_ROOT / "deploy" / "mosquitto"


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class MosquittoBroker:
    """A mosquitto process with foodtrace's config, its own users, on a free port."""

    def __init__(
        self,
        workdir: Path,
        users: Mapping[str, str],
        port: int | None = None,
        overrides: Mapping[str, str] | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.users = dict(users)
        self.port = port or free_port()
        self.overrides = dict(overrides or {})
        self.proc: subprocess.Popen | None = None

    def url(self, user: str) -> str:
        return f"mqtt://{user}:{self.users[user]}@127.0.0.1:{self.port}"

    def _write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "data").mkdir(exist_ok=True)
        passwd = self.workdir / "passwd"
        passwd.write_text("")
        for user, password in self.users.items():
            subprocess.run(
                ["mosquitto_passwd", "-b", str(passwd), user, password],
                check=True,
                capture_output=True,
            )
        os.chmod(passwd, 0o600)
        shutil.copy(MOSQUITTO_CONFIG_DIR / "acl", self.workdir / "acl")
        os.chmod(self.workdir / "acl", 0o600)
        replaced = {
            "password_file": str(passwd),
            "acl_file": str(self.workdir / "acl"),
            "persistence_location": str(self.workdir / "data") + "/",
            "listener": f"{self.port} 127.0.0.1",
            # as root, mosquitto would switch to its own account and lose the files
            **({"user": "root"} if os.geteuid() == 0 else {}),
            **self.overrides,
        }
        lines = []
        for line in (MOSQUITTO_CONFIG_DIR / "mosquitto.conf").read_text().splitlines():
            key = line.split(" ", 1)[0]
            lines.append(f"{key} {replaced.pop(key)}" if key in replaced else line)
        lines += [f"{k} {v}" for k, v in replaced.items()]
        lines.append(f"log_dest file {self.workdir / 'mosquitto.log'}")
        conf = self.workdir / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def start(self) -> MosquittoBroker:
        conf = self._write_config() if self.proc is None else self.workdir / "mosquitto.conf"
        self.proc = subprocess.Popen(
            ["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def log(self) -> str:
        path = self.workdir / "mosquitto.log"
        return path.read_text() if path.exists() else ""


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for bindir in versions:
        if (bindir / name).exists():
            return str(bindir / name)
    raise FileNotFoundError(f"{name} not found: install PostgreSQL server binaries")


class PostgresCluster:
    """A private PostgreSQL cluster (initdb + pg_ctl) that a test may stop and start."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = Path(workdir)
        if os.geteuid() == 0:
            # The server runs as `postgres`, which cannot enter root's private temp
            # folders (pytest's tmp_path): give it a folder of its own.
            self.workdir = Path(tempfile.mkdtemp(prefix="foodtrace-pg-"))
        self.port = port or free_port()
        self.datadir = self.workdir / "pgdata"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres_user(self, cmd: list[str]) -> list[str]:
        # initdb refuses to run as root; use the system's postgres account then.
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *cmd]
        return cmd

    def init(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres")
        subprocess.run(
            self._as_postgres_user(
                [
                    _pg_bin("initdb"),
                    "-D",
                    str(self.datadir),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
        )

    def start(self) -> PostgresCluster:
        if not self.datadir.exists():
            self.init()
        opts = f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            self._as_postgres_user(
                [
                    _pg_bin("pg_ctl"),
                    "-D",
                    str(self.datadir),
                    "-l",
                    str(self.workdir / "pg.log"),
                    "-o",
                    opts,
                    "-w",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )
        return self

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            self._as_postgres_user(
                [_pg_bin("pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"]
            ),
            check=False,
            capture_output=True,
        )


@contextlib.contextmanager
def running(service: MosquittoBroker | PostgresCluster) -> Iterator:
    service.start()
    try:
        yield service
    finally:
        service.stop()
