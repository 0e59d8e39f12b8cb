"""A sender's EPCIS errorDeclaration narrows the alerts its event widened (spec 4):
the retracted event's graph rows go, the alert gets a new version without what only
that event reached, cities told before get a CAP Update, and the history names the
retraction as the cause."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from uuid import UUID, uuid4

import psycopg
from alerts_helpers import Chain, run_pipeline

from foodtrace.alerts.rescope import rescope
from foodtrace.trace.link import link

OP = "organophosphates_carbamates"
CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"


def _alert(conn: psycopg.Connection, alert_id: UUID) -> dict:
    payload = conn.execute("SELECT payload FROM core.alerts WHERE alert_id = %s",
                           (alert_id,)).fetchone()[0]
    conn.commit()
    return payload


def _retract(conn: psycopg.Connection, message_id: UUID, event_id: str) -> None:
    """As validation records a landed declaration (foodtrace/validate/retractions.py)."""
    conn.execute(
        "INSERT INTO core.retractions (retracted_by_message_id, message_id, actor_id,"
        " declared_event_id, declaration_time, reason) VALUES (%s, %s, 'test', %s, now(),"
        " 'incorrect_data')",
        (uuid4(), message_id, event_id),
    )
    conn.commit()


def test_a_retracted_shipment_narrows_the_alert_and_updates_the_city(chain: Chain) -> None:
    c = chain
    c.lab_result("A", kind="rapid", analyte=OP, minutes=400, value=70, unit="%", at="market")
    [alert_id] = run_pipeline(c.conn)
    c.location("shop2", "zhuhai", "retailer", 22.27, 113.57)
    veg = c.code("choy_sum")
    shipment = c.event("shipping", "market", c.at(90), [("A", 20, veg)], to="shop2")
    c.conn.commit()
    link(c.conn)
    c.conn.commit()
    assert rescope(c.conn) == [alert_id]
    widened = _alert(c.conn, alert_id)
    assert "zhuhai" in widened["affected_cities"]

    _retract(c.conn, shipment, "urn:uuid:the-shipment")
    stats = link(c.conn)
    c.conn.commit()
    assert stats.retracted_lot_locations == 2  # shipped_from and shipped_to
    assert c.conn.execute("SELECT count(*) FROM core.lot_locations WHERE message_id = %s",
                          (shipment,)).fetchone()[0] == 0
    assert c.conn.execute("SELECT count(*) FROM core.events WHERE message_id = %s",
                          (shipment,)).fetchone()[0] == 1  # kept for audit
    c.conn.commit()
    assert rescope(c.conn) == [alert_id]

    narrowed = _alert(c.conn, alert_id)
    assert narrowed["version"] == widened["version"] + 1
    assert "zhuhai" not in narrowed["affected_cities"]
    assert narrowed["changes"]["removed"]["affected_cities"] == ["zhuhai"]
    assert narrowed["changes"]["retracted_events"] == ["urn:uuid:the-shipment (incorrect_data)"]
    assert narrowed["changes"]["caused_by"] == [{"kind": "retraction", "id": str(shipment)}]

    new = c.conn.execute(
        "SELECT city, msg_type, cap_xml FROM core.alert_outbox WHERE alert_id = %s"
        " AND version = %s", (alert_id, narrowed["version"])).fetchall()
    c.conn.commit()
    kinds = {city: kind for city, kind, _ in new}
    assert kinds.get("zhuhai") == "Update"  # the city told before hears it is out
    root = ET.fromstring(new[0][2])
    desc = root.find(f"{CAP}info[{CAP}language='en-US']/{CAP}description").text
    desc_zh = root.find(f"{CAP}info[{CAP}language='zh-CN']/{CAP}description").text
    assert "errorDeclaration" in desc_zh
    assert "errorDeclaration" in desc

    note, detail = c.conn.execute(
        "SELECT note, detail FROM core.alert_history WHERE alert_id = %s AND action = 'rescoped'"
        " ORDER BY history_id DESC LIMIT 1", (alert_id,)).fetchone()
    c.conn.commit()
    assert "errorDeclaration" in note and "urn:uuid:the-shipment" in note
    assert detail["caused_by"] == [{"kind": "retraction", "id": str(shipment)}]

    # applied again: nothing left to delete, nothing queued, no new version
    assert link(c.conn).retracted_lot_locations == 0
    c.conn.commit()
    assert rescope(c.conn) == []
