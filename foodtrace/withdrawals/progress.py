"""Withdrawal progress per alert and per city, as the SQL views compute it.

The figures have one home: the views of schemas/sql/0020_withdrawal_progress_home.sql
(reporting.withdrawal_progress_by_alert / _by_city and the per-unit views), which
the Grafana dashboard reads too. This module reads them and shapes the rows for
`foodtrace withdrawals`; it computes no figure itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import psycopg

_COUNTS = ("notices", "answered", "overdue", "open", "verified")

_BY_ALERT = """
SELECT alert_id::text, NULL::text, notices, answered, overdue, open, verified, share
FROM reporting.withdrawal_progress_by_alert WHERE alert_id = ANY(%(alerts)s::uuid[])
"""
_BY_CITY = """
SELECT alert_id::text, city, notices, answered, overdue, open, verified, share
FROM reporting.withdrawal_progress_by_city
WHERE alert_id = ANY(%(alerts)s::uuid[]) AND (%(city)s::text IS NULL OR city = %(city)s::text)
"""
_UNITS_BY_ALERT = """
SELECT alert_id::text, NULL::text, unit, held, done, share
FROM reporting.withdrawal_units_by_alert WHERE alert_id = ANY(%(alerts)s::uuid[])
"""
_UNITS_BY_CITY = """
SELECT alert_id::text, city, unit, held, done, share
FROM reporting.withdrawal_units_by_city
WHERE alert_id = ANY(%(alerts)s::uuid[]) AND (%(city)s::text IS NULL OR city = %(city)s::text)
"""

Key = tuple[str, str | None]  # (alert_id, city or None for the whole alert)


def _num(d: Decimal) -> float | int:
    return int(d) if d == d.to_integral_value() else float(d)


def empty() -> dict[str, Any]:
    """The figures of a group without live notices (e.g. only releases)."""
    return {**dict.fromkeys(_COUNTS, 0), "share": None, "units": {}}


def shape(counts: Iterable[Sequence[Any]], units: Iterable[Sequence[Any]]) -> dict[Key, dict[str, Any]]:
    """View rows -> {(alert, city): figures} (pure). `counts`: (alert, city, notices,
    answered, overdue, open, verified, share); `units`: (alert, city, unit, held,
    done, share)."""
    out: dict[Key, dict[str, Any]] = {}
    for alert_id, city, *figures, share in counts:
        out[(alert_id, city)] = {**dict(zip(_COUNTS, figures, strict=True)),
                                 "share": None if share is None else float(share), "units": {}}
    for alert_id, city, unit, held, done, share in sorted(units, key=lambda r: r[2]):
        if (alert_id, city) in out:
            out[(alert_id, city)]["units"][unit] = {
                "held": _num(held), "withdrawn_or_accounted": _num(done),
                "share": None if share is None else float(share)}
    return out


def read(conn: psycopg.Connection, alert_ids: Sequence[str], city: str | None = None
         ) -> tuple[dict[Key, dict[str, Any]], dict[Key, dict[str, Any]]]:
    """(per alert, per alert and city) figures of these alerts. With `city`, the
    per-alert figures are that city's (the CLI's --city narrows the whole answer)."""
    args = {"alerts": list(alert_ids), "city": city}
    by_city = shape(conn.execute(_BY_CITY, args).fetchall(),
                    conn.execute(_UNITS_BY_CITY, args).fetchall())
    if city is not None:
        return {(a, None): f for (a, _), f in by_city.items()}, by_city
    by_alert = shape(conn.execute(_BY_ALERT, args).fetchall(),
                     conn.execute(_UNITS_BY_ALERT, args).fetchall())
    return by_alert, by_city
