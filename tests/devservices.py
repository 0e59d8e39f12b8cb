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
import datetime as dt
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from foodtrace.db import connect, migrate
from foodtrace.embedded import free_port

__all__ = [
    "MOSQUITTO_CONFIG_DIR",
    "REPO_ROOT",
    "BrokerTls",
    "CertificateAuthority",
    "MosquittoBroker",
    "PostgresCluster",
    "free_port",
    "running",
    "shipped_mosquitto_config",
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


# Where the shipped config expects the certificates (the entrypoint copies them there).
SHIPPED_CERTS_DIR = "/mosquitto/config/certs/"
PLAIN_LISTENER, TLS_LISTENER, CERTIFICATE_LISTENER = 1883, 8883, 8884


def shipped_mosquitto_config(
    settings: Mapping[str, str],
    ports: Mapping[int, int],
    certs_dir: Path | None = None,
) -> str:
    """deploy/mosquitto/mosquitto.conf with only paths and ports moved.

    `settings` replace the first line of that name (password_file, ...) or are added
    at the end; `ports` maps a shipped listener (1883, 8883, 8884) to a port on
    127.0.0.1, and a listener it does not name is left out with its options; the
    certificate paths of the TLS listeners point into `certs_dir`."""
    replaced = dict(settings)
    lines: list[str] = []
    keep = True  # the global section, then whether the current listener is kept
    for line in (MOSQUITTO_CONFIG_DIR / "mosquitto.conf").read_text().splitlines():
        key = line.split(" ", 1)[0]
        if key == "listener":
            shipped = int(line.split()[1])
            keep = shipped in ports
            if keep:
                lines.append(f"listener {ports[shipped]} 127.0.0.1")
            continue
        if not keep:
            continue
        if SHIPPED_CERTS_DIR in line:
            if certs_dir is None:
                raise ValueError(f"a TLS listener is kept but no certs_dir is given: {line}")
            line = line.replace(SHIPPED_CERTS_DIR, f"{certs_dir}/")
        lines.append(f"{key} {replaced.pop(key)}" if key in replaced else line)
    lines += [f"{k} {v}" for k, v in replaced.items()]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class BrokerTls:
    """The shipped TLS listeners on free ports: `port` (8883 in production: TLS, user
    and password) and `certificate_port` (8884: a client certificate, CN = user).
    `certs_dir` holds server.crt, server.key and clients-ca.crt, the names the
    entrypoint gives the mounted secrets (`CertificateAuthority.write_broker_certs`)."""

    certs_dir: Path
    port: int = field(default_factory=free_port)
    certificate_port: int = field(default_factory=free_port)


class MosquittoBroker:
    """A mosquitto process with foodtrace's config, its own users, on a free port;
    with `tls`, also the shipped TLS listeners (else those are left out)."""

    def __init__(
        self,
        workdir: Path,
        users: Mapping[str, str],
        port: int | None = None,
        overrides: Mapping[str, str] | None = None,
        tls: BrokerTls | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.users = dict(users)
        self.port = port or free_port()
        self.overrides = dict(overrides or {})
        self.tls = tls
        self.proc: subprocess.Popen | None = None

    def url(self, user: str, *, tls: bool = False) -> str:
        """The user's URL on the plain listener, or with `tls` on the TLS one."""
        if not tls:
            return f"mqtt://{user}:{self.users[user]}@127.0.0.1:{self.port}"
        assert self.tls is not None, "this broker was started without TLS listeners"
        return f"mqtts://{user}:{self.users[user]}@127.0.0.1:{self.tls.port}"

    @property
    def certificate_url(self) -> str:
        """The client-certificate listener: no user or password in the URL."""
        assert self.tls is not None, "this broker was started without TLS listeners"
        return f"mqtts://127.0.0.1:{self.tls.certificate_port}"

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
        settings = {
            "password_file": str(passwd),
            "acl_file": str(self.workdir / "acl"),
            "persistence_location": str(self.workdir / "data") + "/",
            # as root, mosquitto would switch to its own account and lose the files
            **({"user": "root"} if os.geteuid() == 0 else {}),
            **self.overrides,
        }
        ports = {PLAIN_LISTENER: self.port}
        if self.tls is not None:
            ports |= {TLS_LISTENER: self.tls.port, CERTIFICATE_LISTENER: self.tls.certificate_port}
        text = shipped_mosquitto_config(
            settings, ports, self.tls.certs_dir if self.tls is not None else None
        )
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(text + f"log_dest file {self.workdir / 'mosquitto.log'}\n")
        return conf

    def start(self) -> MosquittoBroker:
        conf = self._write_config() if self.proc is None else self.workdir / "mosquitto.conf"
        self.proc = subprocess.Popen(
            ["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port(self.port)
        if self.tls is not None:
            wait_for_port(self.tls.port)
            wait_for_port(self.tls.certificate_port)
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


class CertificateAuthority:
    """A throw-away CA for tests (the `cryptography` package): signs a broker's server
    certificate and clients' certificates whose CN is their MQTT user (sender id)."""

    def __init__(self, name: str, days: int = 2) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.name = name
        self._days = days
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, key_cert_sign=True, crl_sign=True,
                    content_commitment=False, key_encipherment=False, data_encipherment=False,
                    key_agreement=False, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )

    @property
    def pem(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import Encoding

        return self.certificate.public_bytes(Encoding.PEM)

    def issue(self, common_name: str, server_names: Sequence[str] = ()) -> tuple[bytes, bytes]:
        """(certificate PEM, unencrypted key PEM); with `server_names` (IP addresses or
        DNS names) a server certificate, else a client one."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server_names else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=self._days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if server_names:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([_general_name(n) for n in server_names]),
                critical=False,
            )
        cert = builder.sign(self._key, hashes.SHA256())
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return cert.public_bytes(serialization.Encoding.PEM), key_pem

    def write(self, path: Path) -> Path:
        path.write_bytes(self.pem)
        return path

    def write_pair(self, folder: Path, name: str, common_name: str) -> tuple[Path, Path]:
        """A client certificate and key as folder/name.crt and folder/name.key (0600)."""
        cert, key = self.issue(common_name)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.crt").write_bytes(cert)
        (folder / f"{name}.key").write_bytes(key)
        os.chmod(folder / f"{name}.key", 0o600)
        return folder / f"{name}.crt", folder / f"{name}.key"

    def write_broker_certs(self, certs_dir: Path, clients_ca: CertificateAuthority) -> Path:
        """server.crt/server.key for 127.0.0.1 and localhost, signed by this CA, and
        clients-ca.crt (`clients_ca`, which signs the clients' certificates)."""
        certs_dir.mkdir(parents=True, exist_ok=True)
        cert, key = self.issue("127.0.0.1", ["127.0.0.1", "localhost"])
        (certs_dir / "server.crt").write_bytes(cert)
        (certs_dir / "server.key").write_bytes(key)
        os.chmod(certs_dir / "server.key", 0o600)
        clients_ca.write(certs_dir / "clients-ca.crt")
        return certs_dir


def _general_name(name: str):  # -> x509.GeneralName
    from cryptography import x509

    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


# -- throwaway databases on the shared test server --------------------------------

ADMIN_URL = os.environ.get("FOODTRACE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def create_database(prefix: str = "ft_test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def drop_database(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@contextlib.contextmanager
def migrated_database(prefix: str = "ft_test") -> Iterator[str]:
    """A new database with the whole schema; dropped afterwards."""
    name = create_database(prefix)
    url = psycopg.conninfo.make_conninfo(ADMIN_URL, dbname=name)
    try:
        with connect(url) as conn:
            migrate(conn)
        yield url
    finally:
        drop_database(name)


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

    INITDB_AUTH: tuple[str, ...] = ("-A", "trust")  # subclasses harden it

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
                    *self.INITDB_AUTH,
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
