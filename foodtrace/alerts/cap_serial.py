"""N of the GB/T 35965.1 identifier `ZZZZZZDDDUUUXX_YYYYMMDDhhmmss_N`: the serial
of one issuing unit's messages within one second (docs/cap.md).

The alert outbox and the overdue escalations both write documents for a city's
issuing unit, so N is claimed across both tables, under a transaction-scoped
advisory lock per unit: two transactions issuing to one city in one second take
turns and get different N. A second that already holds ten messages of the unit
is full; the document is then entered in the next second with room (its `sent`
moves on by that much), so an identifier never repeats and nothing is refused.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

from foodtrace.alerts import cap
from foodtrace.alerts.cap_settings import SCHEME_GBT35965, CapSettings

_SERIAL_LOCK = 0x46_54_43_4E  # "FTCN": CAP numbering; the second key is the unit's hash
_SERIALS = 10  # N is one digit
_MAX_SECONDS_AHEAD = 3600  # a unit issuing 36,000 messages in an hour is a fault, not a load

_USED = """
SELECT right(cap_identifier, 1) FROM core.alert_outbox WHERE starts_with(cap_identifier, %(p)s)
UNION
SELECT right(cap_identifier, 1) FROM core.withdrawal_escalations
WHERE starts_with(cap_identifier, %(p)s)
"""


def free_serial(used: set[str]) -> int | None:
    """The smallest N not used yet in a second (pure); None when all ten are."""
    return next((n for n in range(_SERIALS) if str(n) not in used), None)


def claim(conn: psycopg.Connection, settings: CapSettings, city: str,
          sent: datetime) -> tuple[datetime, int | None]:
    """(sent, N) for a new document to `city`. Under the foodtrace scheme nothing
    is claimed: (sent, None). Call inside the transaction that inserts the document
    (the lock is held until it ends)."""
    if settings.identifier_scheme != SCHEME_GBT35965:
        return sent, None
    unit = cap.issuing_unit_code(settings, city)
    conn.execute("SELECT pg_advisory_xact_lock(%s::integer, hashtext(%s))", (_SERIAL_LOCK, unit))
    moment = sent
    for _ in range(_MAX_SECONDS_AHEAD):
        prefix = cap.gbt35965_identifier(unit, moment, 0)[:-1]
        used = {r[0] for r in conn.execute(_USED, {"p": prefix}).fetchall()}
        n = free_serial(used)
        if n is not None:
            return moment, n
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    raise RuntimeError(f"CAP issuing unit {unit}: every second of the next hour is full")
