"""The one client factory (ingest/mqtt_client.py): protocol, authentication, TLS and
MQTT 5 properties, the same for every client the project opens."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from foodtrace.ingest import mqtt_client
from foodtrace.ingest.mqtt_shim import BufferedClient
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from foodtrace import mqtt_publish
from foodtrace.config import MqttSettings, parse_mqtt_url


def _self_signed(tmp_path: Path) -> Path:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=unit CA"],
        cwd=tmp_path, check=True, capture_output=True,
    )
    return tmp_path / "ca.crt"


def test_mqtt5_by_default_and_311_for_the_embedded_broker() -> None:
    v5 = mqtt_client.make_client(parse_mqtt_url("mqtt://h:1883"), "c5")
    v4 = mqtt_client.make_client(parse_mqtt_url("mqtt://h:1883?protocol=3.1.1"), "c4")
    assert isinstance(v5, BufferedClient) and isinstance(v4, BufferedClient)
    assert v5.protocol == mqtt.MQTTv5 and v4.protocol == mqtt.MQTTv311
    assert v5._client_id == b"c5"


def test_user_and_password_come_from_the_settings() -> None:
    client = mqtt_client.make_client(parse_mqtt_url("mqtt://lab%2Dgz:s%40cret@h:1883"), "c")
    assert client._username == b"lab-gz" and client._password == b"s@cret"
    anonymous = mqtt_client.make_client(parse_mqtt_url("mqtt://h:1883"), "c")
    assert anonymous._username is None


def test_tls_context_verifies_the_broker() -> None:
    context = mqtt_client.tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_tls_context_trusts_the_named_ca_file(tmp_path: Path) -> None:
    ca = _self_signed(tmp_path)
    context = mqtt_client.tls_context(str(ca))
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "unit CA"),),)]
    with pytest.raises(FileNotFoundError):
        mqtt_client.tls_context(str(tmp_path / "missing.pem"))


@pytest.mark.parametrize("url", ["mqtts://h:8883", "mqtts://h:8883?protocol=3.1.1"])
def test_every_protocol_gets_the_same_tls(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = _self_signed(tmp_path)
    monkeypatch.setenv(mqtt_client.CA_FILE_ENV, str(ca))
    made: list[ssl.SSLContext] = []
    real = mqtt_client.tls_context

    def spy(ca_file: str | None = None) -> ssl.SSLContext:
        assert ca_file == str(ca)
        made.append(real(ca_file))
        return made[-1]

    monkeypatch.setattr(mqtt_client, "tls_context", spy)
    client = mqtt_client.make_client(parse_mqtt_url(url), "c")
    assert client._ssl_context is made[0] and not client._tls_insecure
    plain = mqtt_client.make_client(parse_mqtt_url(url.replace("mqtts", "mqtt")), "c")
    assert plain._ssl_context is None and len(made) == 1


@pytest.mark.parametrize("protocol", [5, 4])
def test_outbox_clients_come_from_the_factory(
    protocol: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The alert and notice outboxes (foodtrace.mqtt_publish.connect), also on 3.1.1."""
    waited: list[mqtt.Client] = []
    monkeypatch.setattr(mqtt_client, "connect_and_wait", lambda c, s: waited.append(c))
    settings = MqttSettings("h", 8883, "u", "p", tls=True, protocol=protocol)
    acks = mqtt_publish.Acks()
    client = mqtt_publish.connect(settings, acks, "foodtrace-alerts-1")
    assert waited == [client] and isinstance(client, BufferedClient)
    assert client.protocol == (mqtt.MQTTv5 if protocol == 5 else mqtt.MQTTv311)
    assert client._ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert client._username == b"u"
    assert client.on_publish == acks.on_publish


def test_session_options_become_connect_properties() -> None:
    settings = parse_mqtt_url("mqtt://h:1883")
    client = mqtt_client.make_client(settings, "w", clean_start=False, session_expiry=300)
    props = mqtt_client.connect_properties(client, receive_maximum=2000)
    assert props is not None and props.packetType == PacketTypes.CONNECT
    assert props.SessionExpiryInterval == 300 and props.ReceiveMaximum == 2000
    assert mqtt_client.connect_properties(mqtt_client.make_client(settings, "x")) is None


def test_publish_and_disconnect_properties_are_paho_properties() -> None:
    props = mqtt_client.publish_properties([("sent_at", "2026-12-03T00:00:00.000001+00:00")])
    assert isinstance(props, Properties) and props.packetType == PacketTypes.PUBLISH
    assert props.UserProperty == [("sent_at", "2026-12-03T00:00:00.000001+00:00")]
    bye = mqtt_client.disconnect_properties(session_expiry=0)
    assert isinstance(bye, Properties) and bye.packetType == PacketTypes.DISCONNECT
    reference = Properties(PacketTypes.DISCONNECT)
    reference.SessionExpiryInterval = 0
    assert bye.pack() == reference.pack()


def test_client_certificate_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from devservices import CertificateAuthority

    from foodtrace.config import ConfigError

    ca = CertificateAuthority("unit clients CA")
    cert, key = ca.write_pair(tmp_path, "lab", "lab-gz-01")
    _other_cert, other_key = ca.write_pair(tmp_path, "other", "lab-sz-02")
    monkeypatch.delenv(mqtt_client.CERT_FILE_ENV, raising=False)
    monkeypatch.setenv(mqtt_client.KEY_FILE_ENV, str(key))
    with pytest.raises(ConfigError, match="FOODTRACE_MQTT_CERT_FILE is not"):
        mqtt_client.make_client(parse_mqtt_url("mqtts://h:8884"), "c")
    monkeypatch.setenv(mqtt_client.CERT_FILE_ENV, str(cert))
    client = mqtt_client.make_client(parse_mqtt_url("mqtts://h:8884"), "c")
    assert client._ssl_context.verify_mode == ssl.CERT_REQUIRED and client._username is None
    monkeypatch.setenv(mqtt_client.KEY_FILE_ENV, str(other_key))  # not this certificate's key
    with pytest.raises(ConfigError, match="cannot load the MQTT client certificate"):
        mqtt_client.make_client(parse_mqtt_url("mqtts://h:8884"), "c")
    monkeypatch.setenv(mqtt_client.KEY_FILE_ENV, str(tmp_path / "missing.key"))
    with pytest.raises(ConfigError, match=r"missing\.key"):
        mqtt_client.make_client(parse_mqtt_url("mqtts://h:8884"), "c")
    # plain MQTT never reads them
    assert mqtt_client.make_client(parse_mqtt_url("mqtt://h:1883"), "c")._ssl_context is None


def test_tls_failures_say_what_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = parse_mqtt_url("mqtts://lab:secret@broker:8884")
    untrusted = ssl.SSLCertVerificationError("certificate verify failed")
    untrusted.verify_message = "unable to get local issuer certificate"
    text = mqtt_client.describe_tls_failure(untrusted, settings)
    assert "does not trust" in text and mqtt_client.CA_FILE_ENV in text and "secret" not in text

    required = RuntimeError("failed to receive on socket: [SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED]"
                            " tlsv13 alert certificate required")
    assert "requires a client certificate" in mqtt_client.describe_tls_failure(required, settings)
    unknown_ca = RuntimeError("[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca")
    assert "does not trust the CA" in mqtt_client.describe_tls_failure(unknown_ca, settings)

    # Mosquitto 2.0 may just close the connection: the advice depends on what was sent
    closed = RuntimeError("failed to receive on socket: EOF occurred in violation of protocol")
    monkeypatch.delenv(mqtt_client.CERT_FILE_ENV, raising=False)
    assert "requires a client certificate" in mqtt_client.describe_tls_failure(closed, settings)
    monkeypatch.setenv(mqtt_client.CERT_FILE_ENV, "/etc/lab.crt")
    assert "did not accept the client certificate in /etc/lab.crt" in (
        mqtt_client.describe_tls_failure(closed, settings)
    )
