from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from devservices import MosquittoBroker

USERS = [
    "foodtrace-ingest",
    "foodtrace-registry",
    "foodtrace-simulator",
    "lab-gz-01",
    "lab-sz-02",
    "farm-zq-01",
    "packer-gz-01",
]


@pytest.fixture(scope="module")
def pub_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    """The shipped Mosquitto configuration (auth + ACLs), one instance per test module,
    so nothing published here can reach another test's persistent ingest session."""
    b = MosquittoBroker(
        tmp_path_factory.mktemp("publish-broker"), {u: uuid.uuid4().hex for u in USERS}
    ).start()
    yield b
    b.stop()
