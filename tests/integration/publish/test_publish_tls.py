"""`mqtts://`: the publisher verifies the broker's certificate (system CAs or
FOODTRACE_MQTT_CA_FILE) and publishes over TLS."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from devservices import MosquittoBroker
from foodtrace.ingest.publish import PublishError, publish_file
from publish_helpers import Recorder

from foodtrace.config import parse_mqtt_url


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MosquittoBroker, Path]]:
    d = tmp_path_factory.mktemp("tls")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        "req",
        "-x509",
        *ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=foodtrace test CA",
        cwd=d,
    )
    _openssl(
        "req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1", cwd=d
    )
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        cwd=d,
    )
    broker = MosquittoBroker(
        d / "mosquitto",
        {"lab-gz-01": uuid.uuid4().hex, "foodtrace-ingest": uuid.uuid4().hex},
        # appended after the listener line, so they configure that listener
        overrides={
            "cafile": str(d / "ca.crt"),
            "certfile": str(d / "server.crt"),
            "keyfile": str(d / "server.key"),
        },
    ).start()
    yield broker, d / "ca.crt"
    broker.stop()


def test_publish_over_tls(
    tls_broker: tuple[MosquittoBroker, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker, ca = tls_broker
    settings = parse_mqtt_url(broker.url("lab-gz-01").replace("mqtt://", "mqtts://"))
    assert settings.tls
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"lab_id": "lab-gz-01", "message_id": str(uuid.uuid4())}))

    monkeypatch.delenv("FOODTRACE_MQTT_CA_FILE", raising=False)
    with pytest.raises(PublishError, match="FOODTRACE_MQTT_CA_FILE"):
        publish_file(settings, "lab-result", path)  # a private CA is not trusted by default

    monkeypatch.setenv("FOODTRACE_MQTT_CA_FILE", str(ca))
    ingest_url = broker.url("foodtrace-ingest").replace("mqtt://", "mqtts://")
    with Recorder(ingest_url) as rec:  # someone must subscribe, or the broker drops it
        stats = publish_file(settings, "lab-result", path)
        assert len(rec.wait_for(1)) == 1
    assert (stats.elements, stats.refused_elements) == (1, 0)
