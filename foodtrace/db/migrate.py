"""Versioned SQL migrations from schemas/sql, applied once each and recorded.

Files are named NNNN_description.sql and applied in order, each in its own
transaction, under an advisory lock so two migrators never race. A file already
applied with a different checksum is an error: migrations are append-only.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib.resources import files

import psycopg

_LOCK_KEY = 0x46_54_4D_49  # "FTMI": any constant, shared by every migrator
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available_migrations() -> list[Migration]:
    found = []
    for entry in files("foodtrace.schemas").joinpath("sql").iterdir():
        m = _NAME.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text("utf-8")))
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a version: {versions}")
    return found


def migrate(conn: psycopg.Connection) -> list[Migration]:
    """Apply every pending migration; return those applied now (empty when up to date)."""
    applied_now: list[Migration] = []
    with conn.transaction():
        conn.execute(
            """CREATE TABLE IF NOT EXISTS public.schema_migrations (
                   version integer PRIMARY KEY,
                   name text NOT NULL,
                   checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        done: dict[int, str] = dict(conn.execute("SELECT version, checksum FROM public.schema_migrations"))
        conn.commit()
        for mig in available_migrations():
            if mig.version in done:
                if done[mig.version] != mig.checksum:
                    raise MigrationError(
                        f"migration {mig.version:04d}_{mig.name} changed after it was applied; "
                        "add a new migration instead of editing an applied one"
                    )
                continue
            with conn.transaction():
                conn.execute(mig.sql)
                conn.execute(
                    "INSERT INTO public.schema_migrations (version, name, checksum) "
                    "VALUES (%s, %s, %s)",
                    (mig.version, mig.name, mig.checksum),
                )
            applied_now.append(mig)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
        conn.commit()
    return applied_now


def timescaledb_enabled(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    return row is not None
