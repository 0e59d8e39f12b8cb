"""Database access: connections and schema migrations."""

from foodtrace.db.connect import connect
from foodtrace.db.migrate import migrate

__all__ = ["connect", "migrate"]
