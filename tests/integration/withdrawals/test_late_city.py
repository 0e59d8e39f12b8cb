"""A notice issued before its place's master data arrived has no city. Once the
place's city is known, progress counts the notice in that city and an overdue
escalation goes to that city's office with the business listed (late data
updates the answer instead of leaving it under "other" and unescalated)."""

from __future__ import annotations

from datetime import timedelta

from alerts_helpers import Chain, run_pipeline
from wd_helpers import live_notices

from foodtrace.pipeline.steps import withdrawal_step
from foodtrace.withdrawals.queries import report


def test_city_known_later_counts_and_escalates(chain: Chain, fresh_db_url: str) -> None:
    c = chain
    c.lab_result("A", kind="rapid", analyte="organophosphates_carbamates", minutes=400,
                 value=62.5, unit="%", result="positive")
    [alert_id] = run_pipeline(c.conn)
    market = c.code("market")
    n = live_notices(c.conn, alert_id)
    # as issued while the market's registry record had not arrived yet
    c.conn.execute("UPDATE core.withdrawal_notices SET city = NULL WHERE notice_id = %s",
                   (n[market]["notice_id"],))
    c.conn.commit()

    cities = report(c.conn, str(alert_id))["alerts"][0]["cities"]
    assert "other" not in cities and cities["guangzhou"]["notices"] == 1
    late = max(v["deadline"] for v in n.values()) + timedelta(hours=1)
    out = withdrawal_step(fresh_db_url, now=late)
    assert out.overdue == len(n)
    rows = c.conn.execute("SELECT city, cap_xml FROM core.withdrawal_escalations "
                          "WHERE alert_id = %s", (alert_id,)).fetchall()
    c.conn.commit()
    by_city = dict(rows)
    assert "guangzhou" in by_city and market in by_city["guangzhou"]
    assert None not in by_city
