"""evaluate() end to end on a linked supply chain in a real PostgreSQL."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from alerts_helpers import Chain, run_pipeline, snapshot

from foodtrace.alerts import cap
from foodtrace.alerts.engine import evaluate
from foodtrace.db import connect

OP = "organophosphates_carbamates"


def rapid_positive(c: Chain, lot: str = "A", minutes: int = 400, rate: float = 62.5):
    return c.lab_result(
        lot, kind="rapid", analyte=OP, minutes=minutes, value=rate, unit="%", result="positive"
    )


def alert_row(conn: psycopg.Connection, alert_id) -> dict:
    row = conn.execute(
        "SELECT payload FROM core.alerts WHERE alert_id = %s", (alert_id,)
    ).fetchone()
    conn.commit()
    return row[0]


def outbox(conn: psycopg.Connection, alert_id) -> list[tuple]:
    rows = conn.execute(
        "SELECT version, city, msg_type, cap_xml, json_payload FROM core.alert_outbox "
        "WHERE alert_id = %s ORDER BY version, city",
        (alert_id,),
    ).fetchall()
    conn.commit()
    return rows


def test_rapid_positive_raises_a_warning_with_its_impact(chain: Chain) -> None:
    c = chain
    rapid_positive(c)
    [alert_id] = run_pipeline(c.conn)
    a = alert_row(c.conn, alert_id)
    assert (a["status"], a["severity"], a["version"]) == ("open", "warning", 1)
    assert (a["classification"], a["risk_decision"]) == ("information_for_attention", "undecided")
    assert (a["lot_code"], a["analyte"], a["value"], a["unit"], a["limit"], a["limit_unit"]) == (
        c.code("A"),
        OP,
        62.5,
        "%",
        50,
        "%",
    )
    assert a["test_kind"] == "rapid" and a["lab_id"] == "lab-gz-01" and a["sample_id"]
    # spec 4: affected = A and what was made from it, and every place holding them
    assert [(x["lot_code"], x["quantity"]) for x in a["affected_lots"]] == [
        (c.code("A"), 500),
        (c.code("X"), 220),
    ]
    assert {p["location_id"] for p in a["affected_locations"]} == {
        c.code(n) for n in ("farm", "market", "plant", "shop")
    }
    assert a["affected_cities"] == ["foshan", "guangzhou", "shenzhen", "zhaoqing"]
    shop = next(p for p in a["affected_locations"] if p["location_id"] == c.code("shop"))
    assert {(h["lot_code"], h["role"], h["quantity"]) for h in shop["holdings"]} >= {
        (c.code("X"), "received", 100),
        (c.code("X"), "sold", 5),
    }
    assert [s["lot_code"] for s in a["source_lots"]] == [c.code("A")]
    assert [s["location_id"] for s in a["source_locations"]] == [c.code("farm")]
    # transactional outbox: one row per affected city, each a valid CAP Alert
    rows = outbox(c.conn, alert_id)
    assert [(v, city, t) for v, city, t, _x, _j in rows] == [
        (1, city, "Alert") for city in a["affected_cities"]
    ]
    for _v, city, _t, xml, payload in rows:
        cap.validate(xml)
        assert payload["city"] == city and payload["alert_id"] == str(alert_id)
    history = c.conn.execute(
        "SELECT actor, action FROM core.alert_history WHERE alert_id = %s", (alert_id,)
    ).fetchall()
    assert history == [("engine", "raised")]


def test_one_open_alert_per_lot_and_analyte_across_repeated_results(chain: Chain) -> None:
    c = chain
    rapid_positive(c, minutes=400)
    rapid_positive(c, minutes=420, rate=70)
    c.lab_result("A", kind="rapid", analyte=OP, minutes=440, value=12, unit="%", result="negative")
    changed = run_pipeline(c.conn)
    assert len(changed) == 1
    alerts = c.conn.execute("SELECT count(*) FROM core.alerts").fetchone()[0]
    notes = c.conn.execute(
        "SELECT count(*) FROM core.alert_history WHERE action = 'noted'"
    ).fetchone()[0]
    assert (alerts, notes) == (1, 2)  # the second positive and the negative are on record
    # a second open alert on the same (lot, analyte) is refused by the database itself
    a = alert_row(c.conn, changed[0])
    with pytest.raises(psycopg.errors.UniqueViolation):
        c.conn.execute(
            "INSERT INTO core.alerts SELECT %s, lot_code, analyte, screen_analyte, product_code,"
            " category, 'open', severity, classification, risk_decision, 1, raised_at,"
            " updated_at, message_id, tested_at, test_kind, lab_id, sample_id, value, unit,"
            " value_mg_per_kg, limit_value, limit_unit, limit_verified, NULL, NULL, NULL, NULL,"
            " NULL, payload FROM core.alerts WHERE alert_id = %s",
            (uuid.uuid4(), a["alert_id"]),
        )
    c.conn.rollback()


def test_confirmatory_above_limit_upgrades_with_cap_update(chain: Chain) -> None:
    c = chain
    rapid_positive(c)
    [alert_id] = run_pipeline(c.conn)
    c.lab_result(
        "A", kind="confirmatory", analyte="omethoate", minutes=700, value=0.2, unit="mg/kg"
    )
    assert run_pipeline(c.conn) == [alert_id]
    a = alert_row(c.conn, alert_id)
    assert (a["status"], a["severity"], a["version"]) == ("open", "critical", 2)
    assert (a["classification"], a["risk_decision"]) == ("alert", "serious")
    assert (a["analyte"], a["screen_analyte"]) == ("omethoate", OP)
    assert (a["value"], a["limit"], a["limit_unit"], a["test_kind"]) == (
        0.2,
        0.02,
        "mg/kg",
        "confirmatory",
    )
    assert a["limit_verified"] is False  # GB 2763 row marked (verify) in limits.md
    assert a["limit_source"]["standard"] == "GB 2763"
    rows = outbox(c.conn, alert_id)
    v1 = {city: x for v, city, _t, x, _j in rows if v == 1}
    for v, city, msg_type, xml, _j in rows:
        if v == 2:
            assert msg_type == "Update"
            cap.validate(xml)
            v1_id = f"foodtrace-{alert_id}-v1-{city}"
            assert f",{v1_id}," in xml and v1_id in v1[city]
            assert cap.NOT_VERIFIED in xml
    assert [
        h[0]
        for h in c.conn.execute(
            "SELECT action FROM core.alert_history WHERE alert_id = %s ORDER BY history_id",
            (alert_id,),
        )
    ] == ["raised", "upgraded"]


def test_confirmatory_within_limit_clears_and_keeps_the_record(chain: Chain) -> None:
    c = chain
    rapid_positive(c, lot="C")
    [alert_id] = run_pipeline(c.conn)
    c.lab_result(
        "C", kind="confirmatory", analyte="omethoate", minutes=700, value=0.01, unit="mg/kg"
    )
    assert run_pipeline(c.conn) == [alert_id]
    a = alert_row(c.conn, alert_id)
    assert (a["status"], a["resolution"], a["closed_by"], a["version"]) == (
        "closed",
        "cleared_by_confirmatory",
        "engine",
        2,
    )
    assert a["severity"] == "warning" and a["cleared_by_result"]["value"] == 0.01
    rows = outbox(c.conn, alert_id)
    cancels = [(city, xml) for v, city, t, xml, _j in rows if v == 2]
    assert {city for city, _ in cancels} == set(a["affected_cities"])
    for _city, xml in cancels:
        assert "<msgType>Cancel</msgType>" in xml
        cap.validate(xml)
    # closed: a later positive raises a NEW alert
    rapid_positive(c, lot="C", minutes=900)
    [again] = run_pipeline(c.conn)
    assert again != alert_id


def test_a_confirmed_violation_is_not_cleared_by_a_later_compliant_sample(chain: Chain) -> None:
    c = chain
    c.lab_result("A", kind="confirmatory", analyte="lead", minutes=500, value=0.45, unit="mg/kg")
    [alert_id] = run_pipeline(c.conn)
    c.lab_result("A", kind="confirmatory", analyte="lead", minutes=600, value=0.05, unit="mg/kg")
    assert run_pipeline(c.conn) == []
    a = alert_row(c.conn, alert_id)
    assert (a["status"], a["severity"], a["limit"], a["limit_verified"]) == (
        "open",
        "critical",
        0.2,
        True,
    )  # brassica lead: verified GB 2762-2022 row


def test_prohibited_substance_and_unit_normalisation(chain: Chain) -> None:
    c = chain
    c.lab_result(
        "X",
        kind="confirmatory",
        analyte="clenbuterol",
        minutes=500,
        value=1.5,
        unit="ug/kg",
        at="shop",
    )
    [alert_id] = run_pipeline(c.conn)
    a = alert_row(c.conn, alert_id)
    assert (a["severity"], a["value"], a["unit"], a["value_mg_per_kg"], a["limit"]) == (
        "critical",
        1.5,
        "ug/kg",
        0.0015,
        0,
    )
    # X's sources are A and B, from the two farms
    assert [s["lot_code"] for s in a["source_lots"]] == [c.code("A"), c.code("B")]
    assert {s["location_id"] for s in a["source_locations"]} == {c.code("farm"), c.code("farm2")}


def test_results_that_raise_nothing(chain: Chain) -> None:
    c = chain
    c.lab_result("A", kind="rapid", analyte=OP, minutes=400, value=20, unit="%", result="negative")
    c.lab_result(
        "A",
        kind="rapid",
        analyte="clenbuterol",
        minutes=401,
        result="inconclusive",
        method="colloidal gold strip",
    )
    c.lab_result("A", kind="confirmatory", analyte="lead", minutes=402, value=0.1, unit="mg/kg")
    c.lab_result(
        "A", kind="confirmatory", analyte="chlorpyrifos", minutes=403, value=5, unit="mg/kg"
    )  # no limit in the seed data
    assert run_pipeline(c.conn) == []
    verdicts = dict(c.conn.execute("SELECT reason, verdict FROM core.alert_evaluations"))
    assert sorted(verdicts.values()) == ["inconclusive", "negative", "no_limit", "within_limit"]


def test_evaluate_is_idempotent(chain: Chain) -> None:
    c = chain
    rapid_positive(c)
    c.lab_result(
        "A", kind="confirmatory", analyte="omethoate", minutes=700, value=0.2, unit="mg/kg"
    )
    rapid_positive(c, lot="C")
    assert len(run_pipeline(c.conn)) == 2
    before = snapshot(c.conn)
    assert evaluate(c.conn) == []
    assert evaluate(c.conn) == []
    assert snapshot(c.conn) == before


def test_notify_on_raise(chain: Chain, fresh_db_url: str) -> None:
    c = chain
    with connect(fresh_db_url, autocommit=True) as listener:
        listener.execute("LISTEN foodtrace_alert")
        rapid_positive(c)
        [alert_id] = run_pipeline(c.conn)
        got = list(listener.notifies(timeout=5, stop_after=1))
    assert got and got[0].channel == "foodtrace_alert"
    assert f'"alert_id": "{alert_id}"' in got[0].payload and '"raised"' in got[0].payload
