"""The scripts docker-compose runs, run here for real: the Mosquitto entrypoint (with
certificates from make-certs.sh) against a real mosquitto with the repository's
config, and the database bootstrap against the real PostgreSQL."""

from __future__ import annotations

import importlib.util
import os
import shutil
import ssl
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from devservices import free_port, shipped_mosquitto_config, wait_for_port
from paho.mqtt.enums import CallbackAPIVersion

REPO = Path(__file__).resolve().parents[3]
ENTRYPOINT = REPO / "deploy" / "mosquitto" / "entrypoint.sh"
MAKE_CERTS = REPO / "deploy" / "mosquitto" / "make-certs.sh"
SERVICE_PASSWORDS = {
    "FOODTRACE_MQTT_INGEST_PASSWORD": uuid.uuid4().hex,
    "FOODTRACE_MQTT_PIPELINE_PASSWORD": uuid.uuid4().hex,
    "FOODTRACE_MQTT_REGISTRY_PASSWORD": uuid.uuid4().hex,
    "FOODTRACE_MQTT_EMERGENCY_PASSWORD": uuid.uuid4().hex,
}


def _prepare(config_dir: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sh", str(ENTRYPOINT)],
        env={
            "PATH": os.environ["PATH"],
            "MOSQUITTO_CONFIG_DIR": str(config_dir),
            "FOODTRACE_ACL_SOURCE": str(REPO / "deploy" / "mosquitto" / "acl"),
            "FOODTRACE_MQTT_PREPARE_ONLY": "1",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def _make_certs(certs: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sh", str(MAKE_CERTS), *args],
        env={"PATH": os.environ["PATH"], "FOODTRACE_MQTT_TLS_DIR": str(certs)},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def tls_secrets(tmp_path: Path) -> Path:
    """make-certs.sh's files, and a folder holding them as compose mounts its secrets
    (docker-compose.yml: targets mqtt-server.crt, mqtt-server.key, mqtt-clients-ca.crt)."""
    certs = tmp_path / "certs"
    for args in (("ca",), ("server", "127.0.0.1"), ("client", "lab-gz-01")):
        made = _make_certs(certs, *args)
        assert made.returncode == 0, made.stderr
    secrets = tmp_path / "run-secrets"
    secrets.mkdir()
    for source, target in (("server.crt", "mqtt-server.crt"), ("server.key", "mqtt-server.key"),
                           ("clients-ca.crt", "mqtt-clients-ca.crt")):
        shutil.copy(certs / source, secrets / target)
    return secrets


def test_entrypoint_refuses_to_start_without_passwords(tmp_path: Path) -> None:
    result = _prepare(tmp_path / "config")
    assert result.returncode != 0
    assert "FOODTRACE_MQTT_INGEST_PASSWORD is not set" in result.stderr


def test_entrypoint_refuses_to_start_without_the_tls_secrets(tmp_path: Path) -> None:
    result = _prepare(tmp_path / "config", **SERVICE_PASSWORDS,
                      FOODTRACE_MQTT_TLS_SOURCE=str(tmp_path / "nothing-here"))
    assert result.returncode == 2
    assert "mqtt-server.crt is missing" in result.stderr and "make-certs.sh" in result.stderr
    assert not (tmp_path / "config" / "passwd").exists()


def test_make_certs_will_not_sign_a_service_users_name(tmp_path: Path) -> None:
    assert _make_certs(tmp_path / "certs", "ca").returncode == 0
    for service in ("foodtrace-ingest", "foodtrace-simulator", "emergency-office"):
        refused = _make_certs(tmp_path / "certs", "client", service)
        assert refused.returncode == 2 and "service user" in refused.stderr
    assert not (tmp_path / "certs" / "clients").exists()
    again = _make_certs(tmp_path / "certs", "ca")  # never replaces a CA
    assert again.returncode == 2 and "not replacing a CA" in again.stderr


def test_entrypoint_users_log_in_to_mosquitto_with_the_shipped_config(
    tmp_path: Path, tls_secrets: Path
) -> None:
    config_dir = tmp_path / "config"
    sender_password = uuid.uuid4().hex
    result = _prepare(
        config_dir,
        **SERVICE_PASSWORDS,
        FOODTRACE_MQTT_SENDERS=f"lab-gz-01:{sender_password}",
        FOODTRACE_MQTT_TLS_SOURCE=str(tls_secrets),
    )
    assert result.returncode == 0, result.stderr
    assert (config_dir / "passwd").stat().st_mode & 0o077 == 0
    assert sorted(p.name for p in (config_dir / "certs").iterdir()) == [
        "clients-ca.crt", "server.crt", "server.key"]
    assert all(p.stat().st_mode & 0o077 == 0 for p in (config_dir / "certs").iterdir())
    assert (config_dir / "acl").read_text() == (REPO / "deploy/mosquitto/acl").read_text()
    users = [line.split(":")[0] for line in (config_dir / "passwd").read_text().splitlines()]
    assert users == [
        "foodtrace-ingest",
        "foodtrace-pipeline",
        "foodtrace-registry",
        "emergency-office",
        "lab-gz-01",
    ]  # no simulator user

    port, tls_port, cert_port = free_port(), free_port(), free_port()
    conf = _shipped_config_for(tmp_path, config_dir, {1883: port, 8883: tls_port, 8884: cert_port})
    broker = subprocess.Popen(["mosquitto", "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        for p in (port, tls_port, cert_port):
            wait_for_port(p)
        ingest_password = SERVICE_PASSWORDS["FOODTRACE_MQTT_INGEST_PASSWORD"]
        assert _connect(port, "foodtrace-ingest", ingest_password) == 0
        assert _connect(port, "lab-gz-01", sender_password) == 0
        assert _connect(port, "foodtrace-ingest", "wrong") != 0
        assert _connect(port, "foodtrace-simulator", "anything") != 0
        # the TLS listeners with make-certs.sh's certificates, as the entrypoint put them
        certs = tmp_path / "certs"
        trusting = ssl.create_default_context(cafile=str(certs / "ca.crt"))
        assert _connect(tls_port, "foodtrace-ingest", ingest_password, trusting) == 0
        assert _connect(tls_port, "foodtrace-ingest", "wrong", trusting) != 0
        lab = ssl.create_default_context(cafile=str(certs / "ca.crt"))
        lab.load_cert_chain(certs / "clients" / "lab-gz-01.crt", certs / "clients" / "lab-gz-01.key")
        assert _connect(cert_port, None, None, lab) == 0
    finally:
        broker.terminate()
        broker.wait(10)


def _shipped_config_for(tmp_path: Path, config_dir: Path, ports: dict[int, int]) -> Path:
    """deploy/mosquitto/mosquitto.conf with only its paths and ports moved here."""
    (tmp_path / "data").mkdir()
    moved = {
        "password_file": str(config_dir / "passwd"),
        "acl_file": str(config_dir / "acl"),
        "persistence_location": f"{tmp_path / 'data'}/",
        **({"user": "root"} if os.geteuid() == 0 else {}),
    }
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(shipped_mosquitto_config(moved, ports, config_dir / "certs"))
    return conf


def _connect(
    port: int, user: str | None, password: str | None, tls: ssl.SSLContext | None = None
) -> int:
    """The CONNACK reason code (0 = accepted)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    if user is not None:
        client.username_pw_set(user, password)
    if tls is not None:
        client.tls_set_context(tls)
    codes: list[int] = []
    answered = threading.Event()

    def on_connect(_client, _userdata, _flags, reason, _props) -> None:
        codes.append(reason.value)
        answered.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert answered.wait(10), "no CONNACK"
    finally:
        client.disconnect()
        client.loop_stop()
    return codes[0]


def _bootstrap_module():
    name = "foodtrace_deploy_bootstrap"  # a script, not a package module: load it by path
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "deploy/db/bootstrap.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def login_names() -> list[str]:
    names = [
        f"ft_{kind}_{uuid.uuid4().hex[:8]}" for kind in ("ingest", "pipeline", "reader", "airflow")
    ]
    yield names
    with psycopg.connect("postgresql://postgres@127.0.0.1/postgres", autocommit=True) as admin:
        for name in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}_db" WITH (FORCE)')
            admin.execute(f'DROP ROLE IF EXISTS "{name}"')


def test_bootstrap_creates_one_login_per_role(fresh_db_url: str, login_names: list[str]) -> None:
    bootstrap = _bootstrap_module()
    ingest, pipeline, reader, airflow = login_names
    env = {
        "FOODTRACE_INGEST_DB_USER": ingest,
        "FOODTRACE_INGEST_DB_PASSWORD": "p1",
        "FOODTRACE_PIPELINE_DB_USER": pipeline,
        "FOODTRACE_PIPELINE_DB_PASSWORD": "p2",
        "FOODTRACE_READER_DB_USER": reader,
        "FOODTRACE_READER_DB_PASSWORD": 'it\'s "quoted"',
        "AIRFLOW_DB_USER": airflow,
        "AIRFLOW_DB_NAME": f"{airflow}_db",
        "AIRFLOW_DB_PASSWORD": "p4",
    }
    first = bootstrap.bootstrap(fresh_db_url, env)
    assert set(first.values()) == {"created"}
    again = bootstrap.bootstrap(fresh_db_url, env)  # rotation: passwords set anew
    assert again[reader] == "updated" and again[f"database {airflow}_db"] == "exists"

    with psycopg.connect(fresh_db_url) as conn:
        rows = conn.execute(
            "SELECT r.rolname, r.rolcanlogin, r.rolsuper, array_agg(g.rolname ORDER BY g.rolname)"
            " FROM pg_roles r LEFT JOIN pg_auth_members m ON m.member = r.oid"
            " LEFT JOIN pg_roles g ON g.oid = m.roleid"
            " WHERE r.rolname = ANY(%s) GROUP BY 1, 2, 3",
            (login_names,),
        ).fetchall()
        owner = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
            (f"{airflow}_db",),
        ).fetchone()
    memberships = {name: (login, superuser, groups) for name, login, superuser, groups in rows}
    assert memberships == {
        ingest: (True, False, ["foodtrace_ingest"]),
        pipeline: (True, False, ["foodtrace_pipeline"]),
        reader: (True, False, ["foodtrace_reader"]),
        airflow: (True, False, [None]),
    }
    assert owner == (airflow,)

    # Logged in as the reader user (trust auth here), the role's rights apply at once.
    with psycopg.connect(psycopg.conninfo.make_conninfo(fresh_db_url, user=reader)) as conn:
        conn.execute("SELECT count(*) FROM core.alerts").fetchone()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM core.alerts")


def test_bootstrap_needs_every_password() -> None:
    bootstrap = _bootstrap_module()
    with pytest.raises(bootstrap.BootstrapError, match="FOODTRACE_READER_DB_PASSWORD"):
        bootstrap.users_from_env(
            {"FOODTRACE_INGEST_DB_PASSWORD": "x", "FOODTRACE_PIPELINE_DB_PASSWORD": "y"}
        )
