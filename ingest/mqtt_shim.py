"""Throughput shims that rely on paho-mqtt internals, kept in this one file.

Written for paho-mqtt 2.2 (`PAHO_VERSION`); tests/unit/ingest/test_mqtt_shim.py
fails on any other version, so an upgrade means re-reading what each shim assumes
(listed below) against the new paho and then moving the pin.

- `BufferedClient`: paho reads every packet with several tiny `recv()` calls and one
  `select()`; at tens of thousands of messages per second those system calls, not the
  broker, were the ceiling of the ingest consumer. Assumes `Client._create_socket()`
  returns the socket paho then reads with `recv()`, that paho checks `pending()` on
  it (it exists for TLS sockets) before `select()`, and that `loop_read(1)` reads one
  packet and `_sock` is the socket in use.
- `PackedUserProperties`: a real `paho.mqtt.properties.Properties` (PUBLISH) with only
  User Properties, built and packed without paho's generic name tables (~25 us a
  message, more than the rest of a publish). Assumes paho's instance attributes
  (`packetType`, `types`, `names`, `properties`) and that `_send_publish` only calls
  `pack()` on the properties it is given.

Callers do not use these names: `mqtt_client.make_client` and
`mqtt_client.publish_properties` hand them out.
"""

from __future__ import annotations

import struct
from typing import Any, cast

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

PAHO_VERSION = "2.2"  # major.minor these shims were written and tested for


class _BufferedSocket:
    """A socket whose reads come from one large `recv()`; everything else delegates.

    `pending()` reports the buffered bytes, which paho checks (it exists for TLS
    sockets) to skip `select()` while data is already in hand.
    """

    _CHUNK = 256 * 1024

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0

    def recv(self, bufsize: int) -> bytes:
        if self._pos >= len(self._buf):
            data: bytes = self._sock.recv(max(bufsize, self._CHUNK))  # may raise BlockingIOError
            if len(data) <= bufsize:
                return data
            self._buf, self._pos = data, 0
        chunk = self._buf[self._pos : self._pos + bufsize]
        self._pos += len(chunk)
        return chunk

    def pending(self) -> int:
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return len(self._buf) - self._pos + inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class BufferedClient(mqtt.Client):
    """paho's client, reading through `_BufferedSocket`, and reading every packet
    already buffered in one loop turn (paho reads one packet per `select()`)."""

    _MAX_PACKETS_PER_TURN = 1000  # then let writes (acks) and timers run

    def _create_socket(self) -> Any:
        return _BufferedSocket(super()._create_socket())

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        turns = 1
        while (
            rc == mqtt.MQTT_ERR_SUCCESS
            and self._sock is not None
            # a _BufferedSocket (or paho's websocket wrapper of one): both have pending()
            and cast(Any, self._sock).pending() > 0
            and turns < self._MAX_PACKETS_PER_TURN
        ):
            rc = super().loop_read(1)
            turns += 1
        return rc


_PUBLISH_TEMPLATE = Properties(PacketTypes.PUBLISH)  # paho's tables, shared read-only
_USER_PROPERTY = b"\x26"  # MQTT 5 property identifier 38 (one byte)


class PackedUserProperties(Properties):
    """PUBLISH properties carrying User Properties only, cheap to build and pack.

    An instance is a `Properties`: `UserProperty`, `str()`, `json()` and `pack()`
    behave as paho's (the test compares the bytes), but paho's name tables are shared
    class attributes instead of being rebuilt per instance, and `pack()` writes the
    one property kind directly. Setting other properties is not supported (they
    would not be packed).
    """

    packetType = _PUBLISH_TEMPLATE.packetType
    types = _PUBLISH_TEMPLATE.types
    names = _PUBLISH_TEMPLATE.names
    properties = _PUBLISH_TEMPLATE.properties
    UserProperty: list[tuple[str, str]]  # set per instance in __init__

    def __init__(self, pairs: list[tuple[str, str]]) -> None:  # no super().__init__
        object.__setattr__(self, "UserProperty", pairs)

    def pack(self) -> bytes:
        body = b""
        for key, value in self.UserProperty:
            k, v = key.encode("utf-8"), value.encode("utf-8")
            body += _USER_PROPERTY + _u16(len(k)) + k + _u16(len(v)) + v
        return _variable_byte_integer(len(body)) + body


_u16 = struct.Struct(">H").pack


def _variable_byte_integer(n: int) -> bytes:
    if n < 128:
        return bytes((n,))
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)
