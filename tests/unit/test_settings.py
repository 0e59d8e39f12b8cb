"""foodtrace.config.Settings: read from the mapping it is given, once, at the entry
point; the errors a user sees for a missing or malformed variable are the ones they
always were."""

from __future__ import annotations

import pytest

from foodtrace.config import (
    CA_FILE_ENV,
    CERT_FILE_ENV,
    DAGS_FOLDER_ENV,
    DATABASE_URL_ENV,
    MQTT_URL_ENV,
    ConfigError,
    Settings,
    TlsFiles,
    database_url,
    mqtt_settings,
    parse_mqtt_url,
)
from foodtrace.pipeline import dag_tasks

GIVEN = {
    DATABASE_URL_ENV: "postgresql://given@db.example:5433/given",
    MQTT_URL_ENV: "mqtts://lab:s3cret@broker.example:8884",
    DAGS_FOLDER_ENV: "/srv/dags",
    "FOODTRACE_CAP_SENDER": "given-sender",
}


@pytest.fixture
def other_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """os.environ says something else than the mapping the tests give."""
    monkeypatch.setenv(DATABASE_URL_ENV, "postgresql://environ@127.0.0.1:1/environ")
    monkeypatch.setenv(MQTT_URL_ENV, "mqtt://environ@127.0.0.1:1")
    monkeypatch.setenv(DAGS_FOLDER_ENV, "/from/environ")


@pytest.mark.usefixtures("other_environ")
def test_reads_the_given_mapping_not_os_environ() -> None:
    settings = Settings.from_env(GIVEN)
    assert settings.database() == GIVEN[DATABASE_URL_ENV]
    mqtt = settings.mqtt()
    assert (mqtt.host, mqtt.port, mqtt.username, mqtt.password, mqtt.tls) == (
        "broker.example", 8884, "lab", "s3cret", True)
    assert settings.dags_folder == "/srv/dags"
    assert settings.environ["FOODTRACE_CAP_SENDER"] == "given-sender"
    assert DATABASE_URL_ENV not in Settings.from_env({}).environ


@pytest.mark.usefixtures("other_environ")
def test_an_empty_mapping_means_unset_whatever_os_environ_says() -> None:
    settings = Settings.from_env({DATABASE_URL_ENV: ""})
    assert settings.database(required=False) is None
    assert settings.mqtt(required=False) is None
    assert settings.dags_folder is None
    with pytest.raises(ConfigError, match=f"^{DATABASE_URL_ENV} is not set. Set it to a "
                       "PostgreSQL URL"):
        settings.database()
    with pytest.raises(ConfigError, match=f"^{MQTT_URL_ENV} is not set. Set it to e.g. mqtt://"):
        settings.mqtt()


def test_read_once_later_changes_do_not_reach_it(monkeypatch: pytest.MonkeyPatch) -> None:
    given = dict(GIVEN)
    settings = Settings.from_env(given)
    given[DATABASE_URL_ENV] = "postgresql://changed@x/y"
    assert settings.database() == GIVEN[DATABASE_URL_ENV]
    assert settings.environ[DATABASE_URL_ENV] == GIVEN[DATABASE_URL_ENV]
    with pytest.raises(TypeError):
        settings.environ["FOODTRACE_CAP_SENDER"] = "x"  # type: ignore[index]

    monkeypatch.setenv(DATABASE_URL_ENV, "postgresql://first@h/db")
    from_process = Settings.from_env()  # the default: the process's environment, now
    monkeypatch.setenv(DATABASE_URL_ENV, "postgresql://second@h/db")
    assert from_process.database() == "postgresql://first@h/db"
    assert database_url() == "postgresql://second@h/db"  # the library helper reads it now


def test_a_malformed_mqtt_url_fails_only_where_a_broker_is_needed() -> None:
    settings = Settings.from_env({DATABASE_URL_ENV: "postgresql://a@h/db",
                                  MQTT_URL_ENV: "http://broker.example"})
    assert settings.database() == "postgresql://a@h/db"
    with pytest.raises(ConfigError, match=f"^{MQTT_URL_ENV} must start with mqtt:// or mqtts://"):
        settings.mqtt(required=False)


def test_the_library_helpers_read_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(MQTT_URL_ENV, raising=False)
    assert mqtt_settings(required=False) is None
    monkeypatch.setenv(MQTT_URL_ENV, "mqtt://u:p@127.0.0.1:1999?protocol=3.1.1")
    assert (mqtt_settings().port, mqtt_settings().protocol) == (1999, 4)


def test_repr_shows_no_password() -> None:
    text = repr(Settings.from_env(GIVEN))
    assert "s3cret" not in text and "given@" not in text
    assert "/srv/dags" in text


@pytest.mark.usefixtures("other_environ")
def test_a_dag_task_uses_the_settings_run_dags_hands_over() -> None:
    handed = Settings.from_env(GIVEN)
    with dag_tasks.in_process(handed):
        assert dag_tasks.task_settings() is handed
    # under a scheduler (nothing handed over): the task process's environment
    assert dag_tasks.task_settings().database() == "postgresql://environ@127.0.0.1:1/environ"


@pytest.mark.usefixtures("other_environ")
def test_the_tls_files_come_with_the_mqtt_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CERT_FILE_ENV, "/from/environ.crt")
    mqtt = Settings.from_env({**GIVEN, CA_FILE_ENV: "/given/ca.pem",
                              CERT_FILE_ENV: "/given/lab.crt"}).mqtt()
    assert mqtt.tls_files_or_env() == TlsFiles("/given/ca.pem", "/given/lab.crt", None)
    # settings made without an environment read the process's when a client is made
    assert parse_mqtt_url(GIVEN[MQTT_URL_ENV]).tls_files_or_env().cert_file == (
        "/from/environ.crt")
