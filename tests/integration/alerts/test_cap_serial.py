"""GB/T 35965.1 identifiers `ZZZZZZDDDUUUXX_YYYYMMDDhhmmss_N`: N is claimed in the
outbox and escalation transactions, so messages to one city in one second never
collide: not between alert versions, not between two transactions at once (the
second waits for the first), not with an overdue escalation, and an eleventh
message in a full second is entered in the next one (its <sent> moves with it)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import psycopg
from alerts_helpers import Chain, run_pipeline

from foodtrace.alerts import cap, outbox, store
from foodtrace.alerts.cap_serial import free_serial
from foodtrace.alerts.cap_settings import CapSettings
from foodtrace.withdrawals import overdue

GBT = CapSettings(identifier_scheme="gbt35965", agency_code="123")
SECOND = datetime(2026, 11, 28, 1, 30, 15, 400_000, tzinfo=UTC)  # 09:30:15 +08:00


def _version(payload: dict, v: int) -> dict:
    return {**payload, "version": v}


def _guangzhou(conn: psycopg.Connection, alert_id) -> list[tuple[str, str]]:
    rows = conn.execute("SELECT cap_identifier, cap_sent FROM core.alert_outbox "
                        "WHERE alert_id = %s AND city = 'guangzhou' AND version >= 100 "
                        "ORDER BY outbox_id", (alert_id,)).fetchall()
    conn.commit()
    return rows


def test_free_serial() -> None:
    assert free_serial(set()) == 0 and free_serial({"0", "1", "3"}) == 2
    assert free_serial({str(n) for n in range(10)}) is None


def test_same_second_same_city_never_collides(chain: Chain, fresh_db_url: str) -> None:
    c = chain
    c.lab_result("A", kind="rapid", analyte="organophosphates_carbamates", minutes=400,
                 value=62.5, unit="%", result="positive")
    [alert_id] = run_pipeline(c.conn)
    payload = dict(store.get(c.conn, alert_id).payload)
    c.conn.commit()
    assert "guangzhou" in payload["affected_cities"]

    # two transactions at once: the second waits for the first's N, then takes the next
    c.conn.execute("SELECT 1")  # (a transaction of its own, left open)
    outbox.enqueue(c.conn, _version(payload, 100), now=SECOND, settings=GBT)
    errors: list[BaseException] = []

    def other() -> None:
        try:
            with psycopg.connect(fresh_db_url) as conn2:
                outbox.enqueue(conn2, _version(payload, 101), now=SECOND, settings=GBT)
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=other)
    t.start()
    time.sleep(0.5)
    assert t.is_alive()  # waiting on the first transaction's numbering lock
    c.conn.commit()
    t.join(10)
    assert not errors and not t.is_alive()

    # ten more versions in the same second: N runs out, the rest go to the next second
    for v in range(102, 112):
        outbox.enqueue(c.conn, _version(payload, v), now=SECOND, settings=GBT)
        c.conn.commit()
    rows = _guangzhou(c.conn, alert_id)
    idents = [i for i, _ in rows]
    assert len(idents) == 12 == len(set(idents))
    unit = cap.issuing_unit_code(GBT, "guangzhou")
    first = [i for i in idents if i.startswith(f"{unit}_20261128093015_")]
    assert sorted(i[-1] for i in first) == [str(n) for n in range(10)]
    later = [(i, s) for i, s in rows if i not in first]
    assert [i for i, _ in later] == [f"{unit}_20261128093016_0", f"{unit}_20261128093016_1"]
    assert all(s == "2026-11-28T09:30:16+08:00" for _, s in later)  # <sent> moved with it
    xml = c.conn.execute("SELECT cap_xml FROM core.alert_outbox WHERE cap_identifier = %s",
                         (later[0][0],)).fetchone()[0]
    c.conn.commit()
    assert f"<identifier>{later[0][0]}</identifier>" in xml
    assert "<sent>2026-11-28T09:30:16+08:00</sent>" in xml


def test_escalation_and_alert_in_one_second(chain: Chain) -> None:
    c = chain
    c.lab_result("A", kind="rapid", analyte="organophosphates_carbamates", minutes=400,
                 value=62.5, unit="%", result="positive")
    [alert_id] = run_pipeline(c.conn)
    payload = dict(store.get(c.conn, alert_id).payload)
    late = c.conn.execute("SELECT max(deadline) FROM core.withdrawal_notices "
                          "WHERE alert_id = %s", (alert_id,)).fetchone()[0] + timedelta(hours=1)
    c.conn.commit()
    out = overdue.sweep(c.conn, now=late, settings=GBT)
    assert out["escalations"]
    for v in range(100, 110):
        outbox.enqueue(c.conn, _version(payload, v), now=late, settings=GBT)
        c.conn.commit()
    idents = [r[0] for r in c.conn.execute(
        "SELECT cap_identifier FROM core.alert_outbox WHERE alert_id = %s AND version >= 100 "
        "UNION ALL SELECT cap_identifier FROM core.withdrawal_escalations WHERE alert_id = %s",
        (alert_id, alert_id)).fetchall()]
    c.conn.commit()
    assert Counter(idents).most_common(1)[0][1] == 1
    assert all(len(i) == 31 for i in idents)
