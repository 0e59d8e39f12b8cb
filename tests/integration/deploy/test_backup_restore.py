"""Backup and restore as docs/operations.md describes it, run for real: a simulated day
with a pesticide incident goes through validate -> link -> alerts on a fresh database
of the machine's PostgreSQL; deploy/db/backup.sh dumps it (pg_dump -Fc and the roles
with pg_dumpall --roles-only); deploy/db/restore.sh restores it on a *new* server (a
private cluster that has none of foodtrace's roles), and then:

- every table of landing, core and ops holds the same rows (a digest of each),
  sequences and identity columns stand where they stood, and the grants (table and
  column ACLs: the reader still cannot read quarantined raw bytes) are the same;
- the alerted lot traces the same downstream and upstream, and the alerts have the
  same versions, scope, history and CAP outbox;
- there is nothing left to migrate;
- one more day through the pipeline on both databases gives the same result on
  each: the restored database keeps working (identities continue, no key clashes).

Also: without its roles file, a restore on a server lacking the roles stops and says
so, before creating anything."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from devservices import PostgresCluster  # tests/devservices.py

from foodtrace.db import connect, migrate
from foodtrace.pipeline.steps import run_once

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests" / "integration" / "pipeline"))
from pipeline_helpers import land_day, simulated_day  # noqa: E402

SCHEMAS = ["landing", "core", "ops"]


def _pg_bindir(url: str) -> Path | None:
    """The client programs of the server's major version (Debian keeps them apart)."""
    with psycopg.connect(url) as conn:
        major = int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000
    bindir = Path(f"/usr/lib/postgresql/{major}/bin")
    return bindir if (bindir / "pg_dump").exists() else None


def _script(name: str, *args: str, url: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    info = psycopg.conninfo.conninfo_to_dict(url)
    return subprocess.run(
        ["sh", str(REPO / "deploy" / "db" / name), *args],
        env={
            **env,
            "PGHOST": str(info.get("host", "127.0.0.1")),
            "PGPORT": str(info.get("port", 5432)),
            "PGUSER": str(info.get("user", "postgres")),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def new_server() -> Iterator[PostgresCluster]:
    """A server of the test's own: no foodtrace role exists on it."""
    workdir = Path(tempfile.mkdtemp(prefix="ft-restore-pg-"))
    workdir.chmod(0o755)
    cluster = PostgresCluster(workdir / "pg")
    try:
        yield cluster.start()
    finally:
        cluster.stop("immediate")
        shutil.rmtree(cluster.workdir, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)


def _tables(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT format('%%I.%%I', n.nspname, c.relname) FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p') ORDER BY 1",
        (SCHEMAS,),
    ).fetchall()
    return [r[0] for r in rows]


def contents(conn: psycopg.Connection) -> dict[str, tuple[int, str]]:
    """Every table's row count and a digest of all its rows."""
    out = {}
    for table in _tables(conn):
        out[table] = conn.execute(
            f"SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), ''))"
            f" FROM {table} t"
        ).fetchone()
    return out


def sequences(conn: psycopg.Connection) -> dict[str, int | None]:
    rows = conn.execute(
        "SELECT format('%%I.%%I', schemaname, sequencename), last_value FROM pg_sequences"
        " WHERE schemaname = ANY(%s)",
        (SCHEMAS,),
    ).fetchall()
    return dict(rows)


def acls(conn: psycopg.Connection) -> dict[str, str]:
    """The grants on every table, view and sequence, and on single columns."""
    rows = conn.execute(
        "SELECT format('%%I.%%I', n.nspname, c.relname), c.relacl::text FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = ANY(%s) AND c.relacl IS NOT NULL"
        " UNION ALL"
        " SELECT format('%%I.%%I.%%I', n.nspname, c.relname, a.attname), a.attacl::text"
        " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = ANY(%s) AND a.attacl IS NOT NULL",
        ([*SCHEMAS, "reporting"], [*SCHEMAS, "reporting"]),
    ).fetchall()
    return dict(rows)


def alerted_lots(conn: psycopg.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT DISTINCT lot_code FROM core.alerts ORDER BY 1")]


def traces(conn: psycopg.Connection) -> dict[str, tuple[list, list]]:
    def rows(function: str, lot: str) -> list[tuple]:
        found = conn.execute(f"SELECT * FROM core.{function}(%s)", (lot,)).fetchall()
        return sorted(found, key=repr)

    return {
        lot: (rows("trace_downstream", lot), rows("trace_upstream", lot))
        for lot in alerted_lots(conn)
    }


def alerts_story(conn: psycopg.Connection, *, with_ids: bool) -> dict[str, list]:
    """Alerts, their versions, scope, history and outbox. Without ids (alert ids are
    random, times are now()): what two runs of the same input must agree on."""
    key = "a.alert_id::text" if with_ids else "a.lot_code || '/' || a.analyte"
    return {
        "alerts": conn.execute(
            f"SELECT {key}, a.lot_code, a.analyte, a.status, a.severity, a.version"
            " FROM core.alerts a ORDER BY 1"
        ).fetchall(),
        "scope": conn.execute(
            f"SELECT {key}, s.key_kind, s.key FROM core.alert_scope s"
            " JOIN core.alerts a USING (alert_id) ORDER BY 1, 2, 3"
        ).fetchall(),
        "history": conn.execute(
            f"SELECT {key}, h.version, h.action, h.to_status, h.to_severity, h.lab_message_id"
            " FROM core.alert_history h JOIN core.alerts a USING (alert_id) ORDER BY 1, 2, 3"
        ).fetchall(),
        "outbox": conn.execute(
            f"SELECT {key}, o.version, o.city, o.msg_type, o.sent_at IS NULL"
            + (", o.cap_identifier, o.cap_xml, o.json_payload" if with_ids else "")
            + " FROM core.alert_outbox o JOIN core.alerts a USING (alert_id) ORDER BY 1, 2, 3"
        ).fetchall(),
    }


def counts_and_identities(conn: psycopg.Connection) -> dict[str, tuple]:
    """Row counts and the highest value of every identity column."""
    out = {}
    for table in _tables(conn):
        schema, name = table.split(".")
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s"
                " AND table_name = %s AND (is_identity = 'YES' OR column_default LIKE 'nextval%%')"
                " ORDER BY 1",
                (schema, name),
            )
        ]
        maxes = ", ".join(f'max("{c}")' for c in ids)
        out[table] = conn.execute(
            f"SELECT count(*){', ' + maxes if maxes else ''} FROM {table}"
        ).fetchone()
    return out


def test_backup_restores_the_same_traces_and_alerts_on_a_new_server(
    fresh_db_url: str, new_server: PostgresCluster, tmp_path: Path
) -> None:
    source_url = fresh_db_url
    with connect(source_url) as conn:
        land_day(conn, simulated_day(scale=0.3, seed=7, incident="pesticide"))
    first = run_once(source_url, report_dir=tmp_path / "reports")
    assert first.alert.alerts, "the incident raised no alert"

    bindir = _pg_bindir(source_url)
    env = {"PATH": f"{bindir}:{os.environ['PATH']}" if bindir else os.environ["PATH"]}
    dbname = psycopg.conninfo.conninfo_to_dict(source_url)["dbname"]
    backups = tmp_path / "backups"
    made = _script("backup.sh", str(backups), dbname, url=source_url, env=env)
    assert made.returncode == 0, made.stderr
    dump = Path(made.stdout.strip().splitlines()[-1])
    roles = dump.with_name(dump.name.removesuffix(".dump") + ".roles.sql")
    assert dump.exists() and roles.exists()
    assert dump.stat().st_mode & 0o077 == 0 and roles.stat().st_mode & 0o077 == 0
    roles_sql = roles.read_text()
    assert "CREATE ROLE foodtrace_reader;" in roles_sql and "PASSWORD '" not in roles_sql

    # Without its roles file, a new server lacks the roles the GRANTs name: refused early.
    lone = tmp_path / "lone" / dump.name
    lone.parent.mkdir()
    shutil.copy(dump, lone)
    refused = _script("restore.sh", str(lone), "foodtrace", url=new_server.url, env=env)
    assert refused.returncode == 2
    assert "role foodtrace_ingest does not exist" in refused.stderr
    with psycopg.connect(new_server.url) as conn:
        assert conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = 'foodtrace'"
        ).fetchone() == (0,)

    restored = _script("restore.sh", str(dump), "foodtrace", url=new_server.url, env=env)
    assert restored.returncode == 0, restored.stderr
    assert "ERROR" not in restored.stderr, restored.stderr
    restored_url = psycopg.conninfo.make_conninfo(new_server.url, dbname="foodtrace")
    again = _script("restore.sh", str(dump), "foodtrace", url=new_server.url, env=env)
    assert again.returncode == 2 and "exists" in again.stderr  # never over a database

    with connect(source_url) as src, connect(restored_url) as dst:
        assert contents(dst) == contents(src)
        assert sequences(dst) == sequences(src)
        assert acls(dst) == acls(src)
        assert alerted_lots(dst) == alerted_lots(src) != []
        assert traces(dst) == traces(src)
        downstream = next(iter(traces(dst).values()))[0]
        assert len(downstream) > 1  # the alerted lot went somewhere
        assert alerts_story(dst, with_ids=True) == alerts_story(src, with_ids=True)
        assert migrate(dst) == []  # nothing to apply
        dst.commit()
        # the reader's column grant came back with the table (0011)
        assert dst.execute(
            "SELECT has_column_privilege('foodtrace_reader', 'landing.quarantine', 'raw',"
            " 'SELECT'), has_column_privilege('foodtrace_reader', 'landing.quarantine',"
            " 'reasons', 'SELECT')"
        ).fetchone() == (False, True)

    # One more day on both: the restored database carries on exactly as the original.
    next_day = simulated_day(scale=0.3, seed=9, incident="pesticide")
    for url in (source_url, restored_url):
        with connect(url) as conn:
            land_day(conn, next_day)
        run = run_once(url, report_dir=tmp_path / "reports")
        assert run.validate.quarantined == 0 and run.alert.alerts
    with connect(source_url) as src, connect(restored_url) as dst:
        assert counts_and_identities(dst) == counts_and_identities(src)
        assert alerts_story(dst, with_ids=False) == alerts_story(src, with_ids=False)
        assert len(alerted_lots(dst)) == 2
        assert traces(dst) == traces(src)


RETENTION_CALL = re.compile(r"(add_retention_policy|drop_chunks)\s*\((?P<args>[^;]*)", re.I)
INTERVAL = re.compile(r"interval\s+'(?P<n>\d+)\s*(?P<unit>year|month|day)s?'", re.I)
DAYS = {"year": 365, "month": 30, "day": 1}


def test_no_migration_deletes_records_younger_than_two_years() -> None:
    """FSMA 204 and China's Food Safety Law: records kept at least 2 years. Today no
    migration deletes anything; any retention policy or drop_chunks added later must
    keep 730 days or more (the README says 3 years)."""
    for path in sorted((REPO / "schemas" / "sql").glob("*.sql")):
        for call in RETENTION_CALL.finditer(path.read_text()):
            kept = INTERVAL.search(call["args"])
            assert kept, f"{path.name}: {call[1]} without a literal interval"
            days = int(kept["n"]) * DAYS[kept["unit"].lower()]
            assert days >= 730, f"{path.name}: {call[1]} keeps only {days} days"
