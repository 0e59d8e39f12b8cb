"""The scripts docker-compose runs, run here for real: the Mosquitto entrypoint against a
real mosquitto with the repository's config, and the database bootstrap against the
real PostgreSQL."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from devservices import free_port, wait_for_port
from paho.mqtt.enums import CallbackAPIVersion

REPO = Path(__file__).resolve().parents[3]
ENTRYPOINT = REPO / "deploy" / "mosquitto" / "entrypoint.sh"
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


def test_entrypoint_refuses_to_start_without_passwords(tmp_path: Path) -> None:
    result = _prepare(tmp_path / "config")
    assert result.returncode != 0
    assert "FOODTRACE_MQTT_INGEST_PASSWORD is not set" in result.stderr


def test_entrypoint_users_log_in_to_mosquitto_with_the_shipped_config(tmp_path: Path) -> None:
    config_dir = tmp_path / "config"
    sender_password = uuid.uuid4().hex
    result = _prepare(
        config_dir, **SERVICE_PASSWORDS, FOODTRACE_MQTT_SENDERS=f"lab-gz-01:{sender_password}"
    )
    assert result.returncode == 0, result.stderr
    assert (config_dir / "passwd").stat().st_mode & 0o077 == 0
    assert (config_dir / "acl").read_text() == (REPO / "deploy/mosquitto/acl").read_text()
    users = [line.split(":")[0] for line in (config_dir / "passwd").read_text().splitlines()]
    assert users == [
        "foodtrace-ingest",
        "foodtrace-pipeline",
        "foodtrace-registry",
        "emergency-office",
        "lab-gz-01",
    ]  # no simulator user

    port = free_port()
    conf = _shipped_config_for(tmp_path, config_dir, port)
    broker = subprocess.Popen(["mosquitto", "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        ingest_password = SERVICE_PASSWORDS["FOODTRACE_MQTT_INGEST_PASSWORD"]
        assert _connect(port, "foodtrace-ingest", ingest_password) == 0
        assert _connect(port, "lab-gz-01", sender_password) == 0
        assert _connect(port, "foodtrace-ingest", "wrong") != 0
        assert _connect(port, "foodtrace-simulator", "anything") != 0
    finally:
        broker.terminate()
        broker.wait(10)


def _shipped_config_for(tmp_path: Path, config_dir: Path, port: int) -> Path:
    """deploy/mosquitto/mosquitto.conf with only its paths and port moved here."""
    (tmp_path / "data").mkdir()
    moved = {
        "password_file": str(config_dir / "passwd"),
        "acl_file": str(config_dir / "acl"),
        "persistence_location": f"{tmp_path / 'data'}/",
        "listener": f"{port} 127.0.0.1",
        **({"user": "root"} if os.geteuid() == 0 else {}),
    }
    lines = []
    for line in (REPO / "deploy" / "mosquitto" / "mosquitto.conf").read_text().splitlines():
        key = line.split(" ", 1)[0]
        lines.append(f"{key} {moved[key]}" if key in moved else line)
    conf = tmp_path / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf


def _connect(port: int, user: str, password: str) -> int:
    """The CONNACK reason code (0 = accepted)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(user, password)
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
