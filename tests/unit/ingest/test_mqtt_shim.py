"""The shims over paho internals (ingest/mqtt_shim.py), pinned to the paho version
they were written for: on an upgrade this fails first, and the shims' assumptions
(listed in the module docstring) must be checked against the new paho."""

from __future__ import annotations

import socket

import paho.mqtt as paho
import paho.mqtt.client as mqtt
from foodtrace.ingest import mqtt_shim
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def test_paho_is_the_version_the_shims_were_written_for() -> None:
    installed = ".".join(paho.__version__.split(".")[:2])
    assert installed == mqtt_shim.PAHO_VERSION, (
        f"paho-mqtt {paho.__version__} installed, the shims in ingest/mqtt_shim.py were "
        f"written for {mqtt_shim.PAHO_VERSION}: re-check them, then move PAHO_VERSION"
    )


def test_the_paho_internals_the_buffered_client_overrides_exist() -> None:
    assert callable(getattr(mqtt.Client, "_create_socket", None))
    assert callable(mqtt.Client.loop_read)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    assert hasattr(client, "_sock")


def test_packed_user_properties_are_paho_properties_and_pack_alike() -> None:
    pairs = [("sent_at", "2026-12-03T00:00:00.123456+00:00"), ("k", "菜心" * 100)]
    reference = Properties(PacketTypes.PUBLISH)
    reference.UserProperty = pairs
    props = mqtt_shim.PackedUserProperties(pairs)
    assert isinstance(props, Properties)
    assert props.packetType == PacketTypes.PUBLISH
    assert props.UserProperty == reference.UserProperty
    assert props.pack() == reference.pack()  # > 127 bytes: a two-byte length
    assert str(props) == str(reference) and props.json() == reference.json()
    assert not props.isEmpty()


def test_buffered_socket_hands_out_one_recv_in_pieces() -> None:
    a, b = socket.socketpair()
    try:
        b.sendall(b"0123456789")
        buffered = mqtt_shim._BufferedSocket(a)
        assert buffered.recv(1) == b"0"
        assert buffered.pending() == 9  # the rest came with the first recv
        assert buffered.recv(4) == b"1234"
        assert buffered.recv(100) == b"56789"
        assert buffered.pending() == 0
        assert buffered.fileno() == a.fileno()  # everything else delegates
    finally:
        a.close()
        b.close()
