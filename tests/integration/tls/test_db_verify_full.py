"""PostgreSQL with TLS, as docs/operations.md tells operators to run it: a private
server with `ssl = on` and only `hostssl` lines, and foodtrace's own connection
(foodtrace.db.connect with FOODTRACE_DATABASE_URL) using `sslmode=verify-full` and
`sslrootcert`: it connects to the server its CA signed, under the name in the
certificate, and to nothing else."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from devservices import CertificateAuthority, PostgresCluster

from foodtrace.db import connect


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PostgresCluster, Path]]:
    folder = tmp_path_factory.mktemp("pg-tls")
    cluster = PostgresCluster(folder / "cluster")
    cluster.init()
    ca = CertificateAuthority("foodtrace test database CA")
    cert, key = ca.issue("db.foodtrace.test", ["db.foodtrace.test", "127.0.0.1"])
    (cluster.datadir / "server.crt").write_bytes(cert)
    (cluster.datadir / "server.key").write_bytes(key)
    (cluster.datadir / "pg_hba.conf").write_text(
        "local    all  all                 trust\n"
        "hostssl  all  all  127.0.0.1/32   trust\n"  # no `host` line: TLS or nothing
    )
    with (cluster.datadir / "postgresql.conf").open("a") as conf:
        conf.write("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
    for name in ("server.crt", "server.key", "pg_hba.conf"):
        os.chmod(cluster.datadir / name, 0o600)
        if os.geteuid() == 0:
            shutil.chown(cluster.datadir / name, "postgres", "postgres")
    cluster.start()
    yield cluster, ca.write(folder / "db-ca.crt")
    cluster.stop()


def _url(cluster: PostgresCluster, ca_file: Path, host: str = "db.foodtrace.test", **extra) -> str:
    params = {"sslmode": "verify-full", "sslrootcert": str(ca_file), "hostaddr": "127.0.0.1",
              **extra}
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"postgresql://postgres@{host}:{cluster.port}/postgres?{query}"


def test_verify_full_connects_over_tls_to_the_server_its_ca_signed(
    tls_server: tuple[PostgresCluster, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster, ca_file = tls_server
    monkeypatch.setenv("FOODTRACE_DATABASE_URL", _url(cluster, ca_file))
    with connect() as conn:
        ssl_in_use, version = conn.execute(
            "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        ).fetchone()
    assert ssl_in_use and version in ("TLSv1.2", "TLSv1.3")


def test_verify_full_refuses_another_ca_another_name_and_no_tls(
    tls_server: tuple[PostgresCluster, Path], tmp_path: Path
) -> None:
    cluster, ca_file = tls_server
    other_ca = CertificateAuthority("some other CA").write(tmp_path / "other.crt")
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        connect(_url(cluster, other_ca)).close()
    # the right CA, but the certificate does not name this host
    with pytest.raises(psycopg.OperationalError, match="does not match host name"):
        connect(_url(cluster, ca_file, host="elsewhere.foodtrace.test")).close()
    # verify-ca would have taken it: only verify-full checks the name
    connect(_url(cluster, ca_file, host="elsewhere.foodtrace.test", sslmode="verify-ca")).close()
    # and the server's hostssl lines turn away a connection without TLS
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        connect(_url(cluster, ca_file, sslmode="disable")).close()
