"""Withdrawal progress has one home, the SQL views of 0020: `foodtrace withdrawals`
(queries.report) gives exactly what the views give, and the views follow the
rules: superseded and released notices do not count, an over-withdrawal counts at
most what was held, a verified notice counts all of it, a city with lots in two
units has no single share but its per-unit figures."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from alerts_helpers import Chain, run_pipeline
from psycopg.types.json import Jsonb
from wd_helpers import live_notices

from foodtrace.withdrawals.queries import report


def _set(conn, notice_id, state: str, lots: list[dict]) -> None:
    conn.execute("UPDATE core.withdrawal_notices SET state = %s, lots = %s WHERE notice_id = %s",
                 (state, Jsonb(lots), notice_id))


def _withdrawn(conn, notice_id, actor: str, lots: list[dict]) -> None:
    now = datetime.now(UTC)
    conn.execute(
        "INSERT INTO core.withdrawal_reports (message_id, notice_id, actor_id, status, lots, "
        "reported_at, received_at, applied, payload) VALUES (%s, %s, %s, 'withdrawn', %s, %s, "
        "%s, true, '{}'::jsonb)", (uuid.uuid4(), notice_id, actor, Jsonb(lots), now, now))


def test_cli_figures_are_the_views(chain: Chain) -> None:
    c = chain
    c.lab_result("A", kind="rapid", analyte="organophosphates_carbamates", minutes=400,
                 value=62.5, unit="%", result="positive")
    [alert_id] = run_pipeline(c.conn)
    n = live_notices(c.conn, alert_id)
    assert len(n) >= 4
    a, b, v, o = sorted(n)[:4]
    kg = lambda q: {"lot_code": "L1", "unit": "kg", "quantity_held": q}  # noqa: E731
    _set(c.conn, n[a]["notice_id"], "withdrawn", [kg(100)])
    _withdrawn(c.conn, n[a]["notice_id"], a, [{"lot_code": "L1", "unit": "kg", "quantity": 150}])
    _set(c.conn, n[b]["notice_id"], "overdue", [kg(50)])
    _set(c.conn, n[v]["notice_id"], "verified", [kg(50)])
    # a second unit at one business: that city has no single share any more
    _set(c.conn, n[o]["notice_id"], "acknowledged",
         [kg(0), {"lot_code": "L2", "unit": "box", "quantity_held": 8}])
    for rest in sorted(n)[4:]:
        _set(c.conn, n[rest]["notice_id"], "issued", [])
    c.conn.commit()

    got = report(c.conn, str(alert_id))["alerts"][0]
    p = got["progress"]
    assert (p["notices"], p["answered"], p["overdue"], p["verified"]) == (len(n), 3, 1, 1)
    assert p["share"] is None  # kg and box
    assert p["units"]["kg"] == {"held": 200, "withdrawn_or_accounted": 150, "share": 0.75}
    assert p["units"]["box"] == {"held": 8, "withdrawn_or_accounted": 0, "share": 0.0}

    views = {(r[0], r[1]): r[2:] for r in c.conn.execute(
        "SELECT city, unit, held, done, share FROM reporting.withdrawal_units_by_city "
        "WHERE alert_id = %s", (alert_id,)).fetchall()}
    by_city = {r[0]: r[1:] for r in c.conn.execute(
        "SELECT city, notices, answered, overdue, open, verified, share "
        "FROM reporting.withdrawal_progress_by_city WHERE alert_id = %s", (alert_id,)).fetchall()}
    c.conn.commit()
    assert set(by_city) == set(got["cities"])
    for city, figures in got["cities"].items():
        counts = tuple(figures[k] for k in ("notices", "answered", "overdue", "open", "verified"))
        share = by_city[city][5]
        assert counts == by_city[city][:5]
        assert figures["share"] == (None if share is None else float(share))
        for unit, u in figures["units"].items():
            held, done, unit_share = views[(city, unit)]
            assert (u["held"], u["withdrawn_or_accounted"]) == (pytest.approx(float(held)),
                                                                 pytest.approx(float(done)))
            assert u["share"] == (None if unit_share is None else float(unit_share))

    # superseded and released notices leave the figures
    c.conn.execute("UPDATE core.withdrawal_notices SET action = 'released' WHERE notice_id = %s",
                   (n[o]["notice_id"],))
    c.conn.commit()
    p = report(c.conn, str(alert_id))["alerts"][0]["progress"]
    assert p["notices"] == len(n) - 1 and p["share"] == 0.75 and "box" not in p["units"]
    # --city narrows the whole answer to that city's figures
    city_a = next(k for k, f in report(c.conn, str(alert_id))["alerts"][0]["cities"].items()
                  if f["units"].get("kg", {}).get("held") == 100)
    only = report(c.conn, str(alert_id), city_a)["alerts"][0]
    assert only["progress"] == only["cities"][city_a]
