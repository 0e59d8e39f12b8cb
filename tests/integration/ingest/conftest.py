"""Fixtures for the ingest consumer tests (helpers live in ingest_helpers.py).

Consumer tests use `own_broker` (a broker per test): ingest sessions are persistent
and Mosquitto keeps routing a share of a shared subscription to an offline member's
session, so a session left behind by one test would swallow the next test's messages.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from devservices import MosquittoBroker
from ingest_helpers import ConsumerProcess, Publisher, RunningConsumer, as_ingest_role

from foodtrace.config import parse_mqtt_url


@pytest.fixture
def publisher(own_broker: MosquittoBroker) -> Iterator[Callable[[str], Publisher]]:
    """publisher(user) -> a connected Publisher for that broker user."""
    made: list[Publisher] = []

    def make(user: str) -> Publisher:
        p = Publisher(own_broker.url(user))
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


@pytest.fixture
def consumer_process() -> Iterator[Callable[..., ConsumerProcess]]:
    """consumer_process(db_url, mqtt_url, *args) -> a started `foodtrace ingest`."""
    started: list[ConsumerProcess] = []

    def start(db_url: str, mqtt_url: str, *args: str) -> ConsumerProcess:
        env = {
            **os.environ,
            "FOODTRACE_DATABASE_URL": db_url,
            "FOODTRACE_MQTT_URL": mqtt_url,
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("FOODTRACE_INGEST_WORKER_ID", None)
        p = ConsumerProcess(env, list(args))
        started.append(p)
        return p

    yield start
    for p in started:
        p.kill()


@pytest.fixture
def inprocess_consumer(own_broker: MosquittoBroker, fresh_db_url: str):
    """inprocess_consumer(**config overrides) -> a started RunningConsumer, running as
    foodtrace_ingest against the test's own database and broker."""
    from foodtrace.ingest.consumer import ConsumerConfig

    running: list[RunningConsumer] = []

    def start(**overrides: Any) -> RunningConsumer:
        settings = {
            "database_url": as_ingest_role(fresh_db_url),
            "mqtt": parse_mqtt_url(own_broker.url("foodtrace-ingest")),
            "worker_id": f"t{uuid.uuid4().hex[:8]}",
            "batch_ms": 50,
            **overrides,
        }
        rc = RunningConsumer(ConsumerConfig(**settings)).start()
        running.append(rc)
        return rc

    yield start
    for rc in running:
        if rc.thread is not None and rc.thread.is_alive():
            rc.stop_event.set()
            rc.thread.join(15)
