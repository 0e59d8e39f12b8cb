"""Migrations: apply on an empty database, re-apply as a no-op, refuse edited history."""

from __future__ import annotations

import sys

import pytest

from foodtrace.db import connect, migrate
from foodtrace.db.migrate import Migration, MigrationError, available_migrations


def test_migrate_applies_all_then_nothing(empty_db_url: str) -> None:
    with connect(empty_db_url) as conn:
        first = migrate(conn)
        assert [m.version for m in first] == [m.version for m in available_migrations()]
        assert migrate(conn) == []
        recorded = conn.execute(
            "SELECT version FROM public.schema_migrations ORDER BY 1"
        ).fetchall()
        assert [r[0] for r in recorded] == [m.version for m in first]


def test_edited_migration_is_refused(empty_db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with connect(empty_db_url) as conn:
        migrate(conn)
        original = available_migrations()
        edited = [Migration(original[0].version, original[0].name, original[0].sql + "\n-- edit")]
        module = sys.modules[
            "foodtrace.db.migrate"
        ]  # the package re-exports a function of that name
        monkeypatch.setattr(module, "available_migrations", lambda: edited)
        with pytest.raises(MigrationError, match="changed after it was applied"):
            migrate(conn)


def test_plain_postgres_path_has_no_hypertables(conn) -> None:
    # This machine's PostgreSQL has no TimescaleDB: the schema must still be complete.
    assert conn.execute("SELECT to_regclass('core.events')").fetchone()[0] is not None
    has_ts = conn.execute(
        "SELECT count(*) FROM pg_extension WHERE extname='timescaledb'"
    ).fetchone()
    assert has_ts[0] == 0
