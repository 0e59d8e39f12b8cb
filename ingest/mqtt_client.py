"""The one way the project builds a paho-mqtt 2 client from `MqttSettings`: the
publisher, the ingest consumer, the alert and notice outboxes, the EPCIS API's
notices, the demo and the tests all come here (connection, TLS, authentication,
protocol version, MQTT 5 properties). Topic names come from `topics.py`.

MQTT 5 in production: the edge relies on its reason codes (a PUBACK refused by an
ACL says so, MQTT 3.1.1 would acknowledge it silently), user properties (`sent_at`)
and session expiry for persistent ingest sessions. MQTT 3.1.1 only for the embedded
demo broker (`MqttSettings.protocol == 4`).

Clients are `mqtt_shim.BufferedClient` (buffered socket reads, for throughput) and
PUBLISH properties come from `publish_properties` (`mqtt_shim.PackedUserProperties`,
a cheap paho `Properties`): the shims over paho internals live in mqtt_shim.py only.

    client = make_client(settings, "foodtrace-publish-1234")
    connect_and_wait(client, settings)        # connects, starts the loop, clear errors
    ...
    client.disconnect(); client.loop_stop()

or, for long-running consumers that must survive broker restarts,
`connect_async(client, settings)` then `client.loop_start()` / `loop_forever()`.

TLS (`mqtts://`) verifies the broker against the system CAs, or against the PEM
bundle named by FOODTRACE_MQTT_CA_FILE when that is set (private CAs). A client
certificate (FOODTRACE_MQTT_CERT_FILE, its key in FOODTRACE_MQTT_KEY_FILE) is sent when
set: on the broker's certificate listener (8884) its CN is the user, no password.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from foodtrace.ingest.mqtt_shim import BufferedClient, PackedUserProperties
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from foodtrace.config import CA_FILE_ENV as CA_FILE_ENV  # re-exported: the TLS variables
from foodtrace.config import CERT_FILE_ENV as CERT_FILE_ENV
from foodtrace.config import KEY_FILE_ENV as KEY_FILE_ENV
from foodtrace.config import MQTT_URL_ENV, ConfigError, MqttSettings, TlsFiles

# What a TLS alert from the broker means for the client (OpenSSL's alert names, as
# they appear in the error paho logs when the broker closes the connection).
_TLS_ALERT_ADVICE = {
    "CERTIFICATE_REQUIRED": (
        f"this listener requires a client certificate: set {CERT_FILE_ENV} and "
        f"{KEY_FILE_ENV}, or use the password listener (8883)"
    ),
    "UNKNOWN_CA": (
        "the broker does not trust the CA that signed the client certificate in "
        f"{CERT_FILE_ENV}: ask the operator for a certificate from its clients CA"
    ),
    "BAD_CERTIFICATE": f"the broker refused the client certificate in {CERT_FILE_ENV}",
    "CERTIFICATE_EXPIRED": f"the client certificate in {CERT_FILE_ENV} has expired",
    "CERTIFICATE_REVOKED": f"the client certificate in {CERT_FILE_ENV} was revoked",
}

# The CONNACK reason codes a user can do something about, and what to do.
_CONNACK_ADVICE = {
    0x86: f"bad user name or password: fix the user/password in {MQTT_URL_ENV}",
    # Mosquitto answers a wrong password with 0x87 too, so name both causes.
    0x87: (
        f"not authorised: check the user name and password in {MQTT_URL_ENV} "
        "(and that this user may connect)"
    ),
    0x85: "client identifier not valid: use a shorter, plain ASCII client id",
    0x88: "server unavailable: try again later",
    0x89: "server busy: try again later",
    0x8A: "banned by the broker",
    0x8C: f"bad authentication method: check {MQTT_URL_ENV}",
    0x84: "unsupported protocol version: the broker must speak MQTT 5",
}


class MqttConnectError(RuntimeError):
    """The broker could not be reached or refused us; the message says what to fix."""


@dataclass(frozen=True)
class ConnectOptions:
    """What `make_client` was asked for that paho only takes at connect time."""

    clean_start: bool
    session_expiry: int | None


_OPTIONS_ATTR = "foodtrace_connect_options"


def tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    """The TLS every client uses: TLS 1.2 or newer, the broker's certificate verified
    (against `ca_file`, else the system CAs) and its host name checked."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = True
    if ca_file is not None:
        context.load_verify_locations(ca_file)
    else:
        context.load_default_certs()
    return context


def load_client_certificate(
    context: ssl.SSLContext, files: TlsFiles | None = None
) -> ssl.SSLContext:
    """Add the client certificate named by FOODTRACE_MQTT_CERT_FILE (and its key,
    FOODTRACE_MQTT_KEY_FILE, unless the certificate file holds it), when set
    (`files`; default: the process's environment)."""
    given = files if files is not None else TlsFiles.from_env()
    cert_file, key_file = given.cert_file, given.key_file
    if cert_file is None:
        if key_file is not None:
            raise ConfigError(f"{KEY_FILE_ENV} is set but {CERT_FILE_ENV} is not: set both")
        return context
    try:
        context.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"cannot load the MQTT client certificate {cert_file!r} with key "
            f"{key_file or cert_file!r} ({CERT_FILE_ENV}, {KEY_FILE_ENV}): {exc}"
        ) from exc
    return context


def describe_tls_failure(error: BaseException, settings: MqttSettings) -> str:
    """A sentence for a failed TLS handshake or a TLS alert from the broker."""
    text = str(error)
    if isinstance(error, ssl.SSLCertVerificationError):
        return (
            f"the MQTT broker at {settings.url} presented a certificate this client does "
            f"not trust ({error.verify_message}): set {CA_FILE_ENV} to the PEM file of the "
            "CA that signed the broker's certificate, and use the host name it was issued for"
        )
    for alert, advice in _TLS_ALERT_ADVICE.items():
        if alert in text.upper().replace(" ", "_"):
            return f"TLS with the MQTT broker at {settings.url} failed ({text}): {advice}"
    if "EOF" in text:  # Mosquitto 2.0 closes without an alert when it refuses a client
        cert_file = settings.tls_files_or_env().cert_file
        why = (
            f"it did not accept the client certificate in {cert_file} (not signed by its "
            "clients CA, expired or revoked: the broker's log says which)"
            if cert_file
            else f"this listener requires a client certificate: set {CERT_FILE_ENV} and "
            f"{KEY_FILE_ENV}, or use the password listener (8883)"
        )
        return (
            f"the MQTT broker at {settings.url} closed the TLS connection before "
            f"answering ({text}): {why}"
        )
    return (
        f"TLS with the MQTT broker at {settings.url} failed: {text}. If the broker's "
        f"certificate comes from a private CA, set {CA_FILE_ENV} to its PEM file."
    )


def make_client(
    settings: MqttSettings,
    client_id: str,
    *,
    clean_start: bool = True,
    manual_ack: bool = False,
    session_expiry: int | None = None,
) -> mqtt.Client:
    """A configured, not yet connected client (CallbackAPIVersion.VERSION2): MQTT 5,
    or 3.1.1 when `settings.protocol` is 4 (the embedded demo broker); the user and
    password of the settings; TLS for `mqtts://` (certificate and host name verified).

    `clean_start=False` with `session_expiry` (seconds) asks the broker to keep the
    session (subscriptions and queued QoS 1 messages) while the client is away.
    `manual_ack=True` leaves acknowledging received messages to the caller
    (`client.ack(mid, qos)`), e.g. after a database commit.
    """
    if settings.protocol >= 5:
        client = BufferedClient(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=manual_ack,
        )
    else:  # MQTT 3.1.1 (the embedded demo broker): the session flag goes here
        client = BufferedClient(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
            clean_session=clean_start,
            manual_ack=manual_ack,
        )
    if settings.username is not None:
        client.username_pw_set(settings.username, settings.password)
    if settings.tls:
        files = settings.tls_files_or_env()
        context = tls_context(files.ca_file)
        client.tls_set_context(load_client_certificate(context, files))
        client.tls_insecure_set(False)  # check the broker's host name
    setattr(client, _OPTIONS_ATTR, ConnectOptions(clean_start, session_expiry))
    return client


# publish_properties([(name, value), ...]) -> the PUBLISH properties (a paho
# `Properties`) with these MQTT 5 User Properties, e.g. [("sent_at", stamp)]; paho
# leaves them out on an MQTT 3.1.1 connection. The class itself, not a wrapper:
# the publisher builds one per message.
publish_properties = PackedUserProperties


def disconnect_properties(*, session_expiry: int) -> Properties:
    """DISCONNECT properties; `session_expiry=0` ends a persistent session."""
    props = Properties(PacketTypes.DISCONNECT)
    props.SessionExpiryInterval = int(session_expiry)
    return props


def connect_properties(
    client: mqtt.Client, *, receive_maximum: int | None = None
) -> Properties | None:
    """The CONNECT properties for the options `make_client` recorded."""
    opts: ConnectOptions = getattr(client, _OPTIONS_ATTR, ConnectOptions(True, None))
    if opts.session_expiry is None and receive_maximum is None:
        return None
    props = Properties(PacketTypes.CONNECT)
    if opts.session_expiry is not None:
        props.SessionExpiryInterval = int(opts.session_expiry)
    if receive_maximum is not None:
        props.ReceiveMaximum = int(receive_maximum)
    return props


def connect_async(
    client: mqtt.Client,
    settings: MqttSettings,
    *,
    receive_maximum: int | None = None,
    keepalive: int = 60,
) -> None:
    """Record where and how to connect; `loop_start()` / `loop_forever()` then
    connect (and reconnect after a broker restart) in the background."""
    opts: ConnectOptions = getattr(client, _OPTIONS_ATTR, ConnectOptions(True, None))
    if settings.protocol < 5:  # no CONNECT properties; clean_session was set in make_client
        client.connect_async(settings.host, settings.port, keepalive=keepalive)
        return
    client.connect_async(
        settings.host,
        settings.port,
        keepalive=keepalive,
        clean_start=opts.clean_start,
        properties=connect_properties(client, receive_maximum=receive_maximum),
    )


def describe_connack(reason_code: Any, settings: MqttSettings) -> str:
    """A sentence for a refused CONNACK, naming what to fix."""
    value = getattr(reason_code, "value", reason_code)
    advice = _CONNACK_ADVICE.get(value) if isinstance(value, int) else None
    detail = advice or str(reason_code)
    return f"MQTT broker {settings.url} refused the connection ({reason_code}): {detail}"


def connect_and_wait(
    client: mqtt.Client,
    settings: MqttSettings,
    *,
    timeout: float = 10.0,
    receive_maximum: int | None = None,
    keepalive: int = 60,
) -> Properties | None:
    """Connect, start the network loop and wait for the CONNACK.

    Returns the CONNACK properties (e.g. the broker's ReceiveMaximum). Raises
    MqttConnectError, with what to fix, when the broker is unreachable or refuses;
    the loop is stopped then. An `on_connect` set before the call keeps working.
    """
    done = threading.Event()
    outcome: dict[str, Any] = {}
    # make_client's clients use paho's callback API version 2 (these signatures)
    user_on_connect: Callable[..., None] | None = client.on_connect
    user_on_disconnect: Callable[..., None] | None = client.on_disconnect
    user_on_log = client.on_log

    def on_connect(
        c: mqtt.Client, userdata: Any, flags: mqtt.ConnectFlags, reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if not done.is_set():
            outcome["reason"] = reason_code
            outcome["properties"] = properties
            done.set()
        if user_on_connect is not None:
            user_on_connect(c, userdata, flags, reason_code, properties)

    def on_disconnect(
        c: mqtt.Client, userdata: Any, flags: mqtt.DisconnectFlags, reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        # closed before any CONNACK: over TLS, how a broker refuses a client
        # certificate (TLS 1.3 sends the alert after the handshake)
        if not done.is_set():
            outcome.setdefault("closed", reason_code)
            done.set()
        if user_on_disconnect is not None:
            user_on_disconnect(c, userdata, flags, reason_code, properties)

    def on_log(c: mqtt.Client, userdata: Any, level: int, buf: str) -> None:
        if level == mqtt.MQTT_LOG_ERR and not done.is_set():
            outcome["error_log"] = buf  # e.g. "failed to receive on socket: [SSL: ...]"
        if user_on_log is not None:
            user_on_log(c, userdata, level, buf)

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.on_log = on_log
    connect_async(client, settings, receive_maximum=receive_maximum, keepalive=keepalive)
    try:
        client.reconnect()
    except ssl.SSLError as exc:
        raise MqttConnectError(describe_tls_failure(exc, settings)) from exc
    except OSError as exc:  # refused, unreachable, timed out
        raise MqttConnectError(
            f"cannot reach the MQTT broker at {settings.url}: {exc}. Is it running? "
            f"Check the host and port in {MQTT_URL_ENV}."
        ) from exc
    client.loop_start()
    answered = done.wait(timeout)
    client.on_disconnect, client.on_log = user_on_disconnect, user_on_log
    if not answered or "closed" in outcome:
        _stop(client)
        error = outcome.get("error_log")
        if error is not None and settings.tls:
            raise MqttConnectError(describe_tls_failure(RuntimeError(error), settings))
        if "closed" in outcome:
            raise MqttConnectError(
                f"the MQTT broker at {settings.url} closed the connection before answering "
                f"({outcome['closed']})"
            )
        raise MqttConnectError(
            f"no answer (CONNACK) from the MQTT broker at {settings.url} within {timeout:g}s"
        )
    reason = outcome["reason"]
    if reason.is_failure:
        _stop(client)
        raise MqttConnectError(describe_connack(reason, settings))
    return outcome.get("properties")


def _stop(client: mqtt.Client) -> None:
    try:
        client.disconnect()
    finally:
        client.loop_stop()
