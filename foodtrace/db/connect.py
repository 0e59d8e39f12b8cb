"""One place that opens PostgreSQL connections, so every caller gets the same settings."""

from __future__ import annotations

from typing import Any

import psycopg

from foodtrace.config import database_url


def connect(url: str | None = None, *, autocommit: bool = False, **kwargs: Any) -> psycopg.Connection:
    """Open a connection to `url` (default: FOODTRACE_DATABASE_URL)."""
    dsn = url or database_url()
    return psycopg.connect(dsn, autocommit=autocommit, application_name="foodtrace", **kwargs)
