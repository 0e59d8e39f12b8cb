"""foodtrace_reader (Grafana's role) can read what the dashboards need and change nothing."""

from __future__ import annotations

import psycopg
import pytest
from dash_seed import Seeded

WRITE_PRIVILEGES = ("INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


def test_reader_holds_no_write_privilege_anywhere(seeded_db: tuple[str, Seeded]) -> None:
    with psycopg.connect(seeded_db[0]) as conn:
        relations = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')"
            "   AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
            "   AND n.nspname NOT LIKE 'pg_toast%%' AND n.nspname NOT LIKE '\\_timescaledb%%'"
        ).fetchall()
        assert len(relations) > 20  # landing, core, ops, reporting all seen
        granted = [
            (schema, name, priv)
            for schema, name in relations
            for priv in WRITE_PRIVILEGES
            if conn.execute(
                "SELECT has_table_privilege('foodtrace_reader', format('%%I.%%I', %s::text, %s::text), %s)",
                (schema, name, priv),
            ).fetchone()[0]
        ]
        assert granted == []
        schemas = [
            r[0]
            for r in conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%%'"
                " AND nspname <> 'information_schema'"
                " AND has_schema_privilege('foodtrace_reader', oid, 'CREATE')"
            )
        ]
        assert schemas == []


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO core.alerts (alert_id) VALUES (gen_random_uuid())",
        "UPDATE core.alerts SET status = 'closed'",
        "DELETE FROM core.lab_results",
        "UPDATE core.locations SET lat = 0",
        "INSERT INTO ops.ingest_stats (ts, worker_id, received, stored, duplicates, quarantined)"
        " VALUES (now(), 'x', 0, 0, 0, 0)",
        "DELETE FROM landing.quarantine",
        "CREATE TABLE reporting.sneaky (x int)",
        "SELECT payload FROM landing.lab_results LIMIT 1",  # raw payloads are not for Grafana
        "SELECT raw FROM landing.quarantine LIMIT 1",  # nor quarantined bytes
        "SELECT * FROM landing.quarantine LIMIT 1",
        "SELECT dedup_key FROM landing.quarantine LIMIT 1",
    ],
)
def test_reader_is_refused(reader_conn: psycopg.Connection, statement: str) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        reader_conn.execute(statement)
    reader_conn.rollback()


def test_reader_reads_what_dashboards_need(reader_conn: psycopg.Connection) -> None:
    for relation in (
        "core.alerts",
        "core.lab_results",
        "ops.ingest_stats",
        "landing.quarantine",
        "reporting.alert_locations",
        "reporting.latest_cap",
    ):
        reader_conn.execute(f"SELECT count(*) FROM {relation}").fetchone()
    reader_conn.rollback()


def test_reader_reads_why_a_message_was_quarantined(reader_conn: psycopg.Connection) -> None:
    """Stage, sender, topic and reasons (what the ingest dashboard shows), not raw."""
    reader_conn.execute(
        "SELECT quarantine_id, stage, received_at, topic, sender_id, message_id,"
        " element_index, reasons FROM landing.quarantine"
    ).fetchall()
    reader_conn.rollback()
