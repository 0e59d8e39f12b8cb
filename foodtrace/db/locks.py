"""Session advisory locks that serialise pipeline callers (several DAGs run the same
steps at once; each step's module says what its lock protects)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import psycopg
from psycopg import pq

log = logging.getLogger(__name__)


@contextlib.contextmanager
def session_lock(conn: psycopg.Connection, key: int, what: str) -> Iterator[None]:
    """Hold advisory lock `key` for this session while the block runs (waiting for
    it if another session holds it). Commits what the caller left open first and
    after taking the lock, so no transaction stays open around the block; a lost
    connection needs no unlock (the server released the lock), only a warning."""
    if not conn.autocommit and conn.info.transaction_status == pq.TransactionStatus.INTRANS:
        conn.commit()
    conn.execute("SELECT pg_advisory_lock(%s)", (key,))
    if not conn.autocommit:
        conn.commit()
    try:
        yield
    finally:
        try:
            if conn.info.transaction_status == pq.TransactionStatus.INERROR:
                conn.rollback()
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
            if not conn.autocommit:
                conn.commit()
        except psycopg.Error as exc:
            log.warning("could not release the %s lock: %s", what, exc)
