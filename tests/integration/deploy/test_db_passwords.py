"""Role passwords with scram-sha-256 on a private cluster whose pg_hba.conf has no
`trust` line at all (the machine's shared PostgreSQL trusts everyone, so it cannot show
this): the superuser migrates over the Unix socket by peer authentication, the
deployment's bootstrap (deploy/db/bootstrap.py, what compose's db-init runs) gives
every role's login its password from the environment, and then, over TCP with
scram-sha-256:

- each login connects with its own password; a wrong password, no password, and the
  superuser (which has no password) are refused;
- the passwords are stored as SCRAM-SHA-256 verifiers, never md5;
- least privilege holds over those very connections: ingest inserts into landing but
  reads neither landing nor core; the reader reads core but writes nothing and cannot
  read quarantined raw bytes (0011's column grant); the pipeline reads landing and
  writes core; the EPCIS API login reads events but not alerts.

A private cluster starts in about 1-2 s (initdb + pg_ctl)."""

from __future__ import annotations

import getpass
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from devservices import PostgresCluster  # tests/devservices.py

from foodtrace.db import connect, migrate

REPO = Path(__file__).resolve().parents[3]

# Peer authentication for the superuser on the socket only (the OS accounts that may
# act as it are mapped in pg_ident.conf); passwords (SCRAM) for everything else.
PG_HBA = """\
# TYPE  DATABASE  USER      ADDRESS        METHOD
local   all       postgres                 peer map=admins
local   all       all                      scram-sha-256
host    all       all       127.0.0.1/32   scram-sha-256
host    all       all       ::1/128        scram-sha-256
"""


class ScramCluster(PostgresCluster):
    """PostgresCluster with a real pg_hba.conf instead of initdb's `-A trust`."""

    INITDB_AUTH = ("--auth-local=peer", "--auth-host=scram-sha-256")

    def init(self) -> None:
        super().init()
        os_users = sorted({"postgres", getpass.getuser()})
        ident = "".join(f"admins  {user}  postgres\n" for user in os_users)
        for name, text in (("pg_hba.conf", PG_HBA), ("pg_ident.conf", ident)):
            path = self.datadir / name
            path.write_text(text)
            if os.geteuid() == 0:
                shutil.chown(path, "postgres")

    @property
    def socket_url(self) -> str:
        """The superuser over the Unix socket (peer authentication)."""
        return psycopg.conninfo.make_conninfo(
            host=str(self.workdir), port=self.port, user="postgres", dbname="foodtrace"
        )

    def tcp(self, user: str, password: str | None, **extra: str) -> psycopg.Connection:
        """A TCP connection that only the given password can authenticate: no
        PGPASSWORD, and a password file that does not exist."""
        params = {"password": password} if password is not None else {}
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=user,
            dbname="foodtrace",
            passfile=os.devnull,
            sslmode="disable",
            connect_timeout=10,
            **params,
            **extra,
        )


def _bootstrap_module():
    name = "foodtrace_deploy_bootstrap"  # a script, not a package module: load it by path
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "deploy/db/bootstrap.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cluster() -> Iterator[ScramCluster]:
    workdir = Path(tempfile.mkdtemp(prefix="ft-scram-pg-"))
    workdir.chmod(0o755)
    pg = ScramCluster(workdir / "pg")
    saved = os.environ.pop("PGPASSWORD", None)
    try:
        pg.start()
        with psycopg.connect(
            psycopg.conninfo.make_conninfo(pg.socket_url, dbname="postgres"), autocommit=True
        ) as admin:
            admin.execute("CREATE DATABASE foodtrace")
        yield pg
    finally:
        pg.stop("immediate")
        shutil.rmtree(pg.workdir, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)
        if saved is not None:
            os.environ["PGPASSWORD"] = saved


PASSWORDS = {
    "FOODTRACE_INGEST_DB_PASSWORD": uuid.uuid4().hex,
    "FOODTRACE_PIPELINE_DB_PASSWORD": uuid.uuid4().hex,
    "FOODTRACE_READER_DB_PASSWORD": 'it\'s "quoted" & spaced ' + uuid.uuid4().hex[:8],
    "FOODTRACE_API_DB_PASSWORD": uuid.uuid4().hex,
}
LOGINS = {  # the bootstrap's default user names
    "ingest_worker": "FOODTRACE_INGEST_DB_PASSWORD",
    "pipeline_worker": "FOODTRACE_PIPELINE_DB_PASSWORD",
    "grafana_reader": "FOODTRACE_READER_DB_PASSWORD",
    "epcis_api": "FOODTRACE_API_DB_PASSWORD",
}


@pytest.fixture(scope="module")
def deployed(cluster: ScramCluster) -> ScramCluster:
    """Migrated as the superuser over the socket, then the bootstrap as compose runs
    it: a subprocess with the passwords in its environment."""
    with connect(cluster.socket_url) as conn:
        migrate(conn)
    env = {
        "PATH": os.environ["PATH"],
        "FOODTRACE_DATABASE_URL": cluster.socket_url,
        **PASSWORDS,
    }
    result = subprocess.run(
        [sys.executable, str(REPO / "deploy/db/bootstrap.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {name: "created" for name in LOGINS}
    return cluster


def test_pg_hba_has_no_trust_and_passwords_are_scram(deployed: ScramCluster) -> None:
    with psycopg.connect(deployed.socket_url) as admin:
        rules = admin.execute(
            "SELECT type, user_name, auth_method, error FROM pg_hba_file_rules"
        ).fetchall()
        verifiers = dict(
            admin.execute(
                "SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY(%s)",
                ([*LOGINS, "postgres"],),
            ).fetchall()
        )
    assert [r[3] for r in rules] == [None] * len(rules)  # the server parsed every line
    assert {r[2] for r in rules} == {"peer", "scram-sha-256"}
    assert [r[:3] for r in rules if r[2] == "peer"] == [("local", ["postgres"], "peer")]
    assert verifiers.pop("postgres") is None  # the superuser has no password at all
    assert set(verifiers) == set(LOGINS)
    assert all(v.startswith("SCRAM-SHA-256$4096:") for v in verifiers.values()), verifiers


@pytest.mark.parametrize("user", sorted(LOGINS))
def test_each_login_connects_with_its_password_only(deployed: ScramCluster, user: str) -> None:
    password = PASSWORDS[LOGINS[user]]
    with deployed.tcp(user, password) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (user,)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        deployed.tcp(user, password + "x")
    with pytest.raises(psycopg.OperationalError, match="no password supplied"):
        deployed.tcp(user, None)
    other = next(PASSWORDS[env] for name, env in LOGINS.items() if name != user)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        deployed.tcp(user, other)  # another role's password


def test_superuser_and_group_roles_cannot_log_in_over_tcp(deployed: ScramCluster) -> None:
    for user in ("postgres", "foodtrace_reader", "foodtrace_ingest"):
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            deployed.tcp(user, "anything")
        with pytest.raises(psycopg.OperationalError, match="no password supplied"):
            deployed.tcp(user, None)


def _refused(conn: psycopg.Connection, query: str, params: tuple = ()) -> bool:
    try:
        conn.execute(query, params)
    except psycopg.errors.InsufficientPrivilege:
        conn.rollback()
        return True
    conn.rollback()
    return False


def test_least_privilege_over_password_connections(deployed: ScramCluster) -> None:
    lab = (str(uuid.uuid4()), "lab-gz-01", "foodtrace/v1/labs/lab-gz-01/results", "{}")
    insert_lab = (
        "INSERT INTO landing.lab_results (message_id, lab_id, topic, payload)"
        " VALUES (%s, %s, %s, %s)"
    )
    with deployed.tcp("ingest_worker", PASSWORDS["FOODTRACE_INGEST_DB_PASSWORD"]) as ingest:
        ingest.execute(insert_lab, lab)
        ingest.commit()
        assert _refused(ingest, "SELECT count(*) FROM landing.lab_results")
        assert _refused(ingest, "SELECT count(*) FROM core.events")
        assert _refused(ingest, "SELECT count(*) FROM core.alerts")
        assert _refused(ingest, "DELETE FROM landing.lab_results")

    with deployed.tcp("pipeline_worker", PASSWORDS["FOODTRACE_PIPELINE_DB_PASSWORD"]) as pipe:
        assert pipe.execute(
            "SELECT count(*) FROM landing.lab_results WHERE message_id = %s", (lab[0],)
        ).fetchone() == (1,)
        pipe.execute("SELECT raw FROM landing.quarantine LIMIT 1").fetchall()
        pipe.execute(
            "INSERT INTO core.products (product_code, name, category)"
            " VALUES ('P-scram', 'spinach', 'leafy_vegetables')"
        )
        pipe.rollback()
        assert _refused(pipe, insert_lab, (str(uuid.uuid4()), *lab[1:]))  # landing is ingest's
        assert _refused(pipe, "DROP TABLE core.alerts")

    reader_pw = PASSWORDS["FOODTRACE_READER_DB_PASSWORD"]
    with deployed.tcp("grafana_reader", reader_pw) as reader:
        reader.execute("SELECT count(*) FROM core.alerts").fetchone()
        reader.execute(
            "SELECT quarantine_id, stage, sender_id, reasons FROM landing.quarantine"
        ).fetchall()
        assert _refused(reader, "SELECT raw FROM landing.quarantine")
        assert _refused(reader, "SELECT * FROM landing.quarantine")
        assert _refused(reader, "SELECT count(*) FROM landing.lab_results")
        assert _refused(reader, "DELETE FROM core.alerts")
        assert _refused(reader, "UPDATE core.alerts SET status = 'closed'")
        assert _refused(
            reader,
            "INSERT INTO core.products (product_code, name, category) VALUES ('x', 'x', 'x')",
        )
        assert _refused(reader, insert_lab, (str(uuid.uuid4()), *lab[1:]))

    with deployed.tcp("epcis_api", PASSWORDS["FOODTRACE_API_DB_PASSWORD"]) as api:
        api.execute("SELECT count(*) FROM core.events").fetchone()
        assert _refused(api, "SELECT count(*) FROM core.alerts")
        assert _refused(api, "SELECT raw FROM landing.quarantine")
        assert _refused(api, "DELETE FROM core.events")


def test_rotation_takes_effect_at_the_next_login(deployed: ScramCluster) -> None:
    bootstrap = _bootstrap_module()
    old = PASSWORDS["FOODTRACE_READER_DB_PASSWORD"]
    new = uuid.uuid4().hex
    env = {**PASSWORDS, "FOODTRACE_READER_DB_PASSWORD": new}
    done = bootstrap.bootstrap(deployed.socket_url, env)
    assert done["grafana_reader"] == "updated"
    try:
        with deployed.tcp("grafana_reader", new) as conn:
            conn.execute("SELECT 1").fetchone()
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            deployed.tcp("grafana_reader", old)
    finally:
        bootstrap.bootstrap(deployed.socket_url, PASSWORDS)  # other tests use the old one
