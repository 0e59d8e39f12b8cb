"""Fixtures for the TLS tests: a private PKI made by the test (a CA for the broker's
certificate, a clients CA that signs labs' and businesses' certificates, and a CA
nobody trusts) and a Mosquitto with the shipped TLS listeners (deploy/mosquitto):
8883 (TLS, password) and 8884 (client certificate, CN = user), on free ports."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from devservices import BrokerTls, CertificateAuthority, MosquittoBroker
from tls_helpers import Pki

HERE = Path(__file__).resolve().parent
for helper_dir in (HERE.parent / "alerts", HERE.parent / "ingest", HERE.parent / "withdrawals"):
    if str(helper_dir) not in sys.path:
        sys.path.insert(0, str(helper_dir))

from alerts_helpers import Chain, build_chain  # noqa: E402

from foodtrace.db import connect  # noqa: E402

# Password users of the test broker. Labs and businesses connect with certificates
# only, so a CN is the one way to be them here.
TLS_USERS = ["foodtrace-ingest", "foodtrace-pipeline", "emergency-office"]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    server_ca = CertificateAuthority("foodtrace test server CA")
    clients_ca = CertificateAuthority("foodtrace test clients CA")
    certs_dir = server_ca.write_broker_certs(folder / "broker-certs", clients_ca)
    return Pki(
        folder=folder,
        server_ca=server_ca.write(folder / "server-ca.crt"),
        untrusted_ca=CertificateAuthority("some other CA").write(folder / "untrusted-ca.crt"),
        clients_ca=clients_ca,
        stranger_ca=CertificateAuthority("a stranger's CA"),
        certs_dir=certs_dir,
    )


@pytest.fixture
def tls_broker(pki: Pki, tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A broker of the test's own (ingest sessions are persistent) with every shipped
    listener: plain, TLS with passwords, TLS with client certificates."""
    broker = MosquittoBroker(
        tmp_path / "mosquitto",
        {u: uuid.uuid4().hex for u in TLS_USERS},
        tls=BrokerTls(pki.certs_dir),
    ).start()
    yield broker
    broker.stop()


@pytest.fixture
def trusted(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> Pki:
    """This process's MQTT clients trust the broker's CA and send no certificate."""
    monkeypatch.setenv("FOODTRACE_MQTT_CA_FILE", str(pki.server_ca))
    monkeypatch.delenv("FOODTRACE_MQTT_CERT_FILE", raising=False)
    monkeypatch.delenv("FOODTRACE_MQTT_KEY_FILE", raising=False)
    return pki


@pytest.fixture
def chain(fresh_db_url: str) -> Iterator[Chain]:
    """The alerts tests' known supply chain in a database of the test's own."""
    with connect(fresh_db_url) as conn:
        yield build_chain(conn)
