"""Living alerts on the real PostgreSQL: late events, late master data and lab results
before their lot re-scope exactly the open alerts they touch (spec 4)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from uuid import UUID

import psycopg
from alerts_helpers import Chain, run_pipeline

from foodtrace.alerts import lifecycle
from foodtrace.alerts.rescope import rescope
from foodtrace.trace.link import link

OP = "organophosphates_carbamates"
CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"


def _raise_on(c: Chain, lot: str = "A", at: str = "market") -> UUID:
    c.lab_result(lot, kind="rapid", analyte=OP, minutes=400, value=70, unit="%", at=at)
    [alert_id] = run_pipeline(c.conn)
    return alert_id


def _alert(conn: psycopg.Connection, alert_id: UUID) -> dict:
    row = conn.execute("SELECT payload FROM core.alerts WHERE alert_id = %s", (alert_id,))
    payload = row.fetchone()[0]
    conn.commit()
    return payload


def _messages(conn: psycopg.Connection, alert_id: UUID) -> list[tuple[int, str, str, str]]:
    rows = conn.execute(
        "SELECT version, city, msg_type, cap_xml FROM core.alert_outbox WHERE alert_id = %s "
        "ORDER BY version, city",
        (alert_id,),
    ).fetchall()
    conn.commit()
    return rows


def _link_and_rescope(conn: psycopg.Connection) -> list[UUID]:
    link(conn)
    conn.commit()
    return rescope(conn)


def _queued(conn: psycopg.Connection) -> int:
    n = conn.execute("SELECT count(*) FROM core.alert_rescope_queue").fetchone()[0]
    conn.commit()
    return n


def _shop_delivery(c: Chain, lot: str, minutes: int, shop: str = "shop2") -> list[UUID]:
    """A late shipment of `lot` from the market to `shop`, and its receipt."""
    veg = c.code("choy_sum")
    ids = [
        c.event("shipping", "market", c.at(minutes), [(lot, 20, veg)], to=shop),
        c.event("receiving", shop, c.at(minutes + 30), [(lot, 20, veg)], source="market"),
    ]
    c.conn.commit()
    return ids


def test_a_late_shipment_widens_the_alert_and_tells_the_new_city_first(chain: Chain) -> None:
    c = chain
    alert_id = _raise_on(c)
    before = _alert(c.conn, alert_id)
    assert "zhuhai" not in before["affected_cities"]
    told = {city for _, city, _, _ in _messages(c.conn, alert_id)}

    c.location("shop2", "zhuhai", "retailer", 22.27, 113.57)
    late = _shop_delivery(c, "A", 90)
    assert _link_and_rescope(c.conn) == [alert_id]

    after = _alert(c.conn, alert_id)
    assert after["version"] == before["version"] + 1
    assert after["affected_cities"] == sorted({*before["affected_cities"], "zhuhai"})
    assert c.code("shop2") in {x["location_id"] for x in after["affected_locations"]}
    assert after["changes"]["added"]["affected_cities"] == ["zhuhai"]
    assert after["changes"]["added"]["affected_locations"] == [c.code("shop2")]
    assert {x["id"] for x in after["changes"]["caused_by"]} == {str(m) for m in late}

    new = [m for m in _messages(c.conn, alert_id) if m[0] == after["version"]]
    kinds = {city: kind for _, city, kind, _ in new}
    assert kinds["zhuhai"] == "Alert"  # first word to Zhuhai
    assert told and all(kinds[city] == "Update" for city in told)
    for _, city, kind, xml in new:
        refs = ET.fromstring(xml).find(f"{CAP}references")
        assert bool(refs is not None and refs.text) == (kind == "Update"), city
    root = ET.fromstring(new[0][3])
    desc = root.find(f"{CAP}info[{CAP}language='en-US']/{CAP}description").text
    desc_zh = root.find(f"{CAP}info[{CAP}language='zh-CN']/{CAP}description").text
    assert "迟到数据引起的变更" in desc_zh
    assert "Changed by late data" in desc and c.code("shop2") in desc

    [history] = c.conn.execute(
        "SELECT detail FROM core.alert_history WHERE alert_id = %s AND action = 'rescoped'",
        (alert_id,),
    ).fetchall()
    assert {x["id"] for x in history[0]["caused_by"]} == {str(m) for m in late}

    # nothing new: nothing queued, no new version
    assert _link_and_rescope(c.conn) == []
    assert _alert(c.conn, alert_id)["version"] == after["version"]


def test_events_that_touch_no_alert_lot_queue_nothing(chain: Chain) -> None:
    c = chain
    alert_id = _raise_on(c, lot="X", at="shop")  # X: the fresh-cut lot
    veg = c.code("choy_sum")
    c.event("shipping", "market", c.at(95), [("C", 10, veg)], to="shop")  # lot C: not X's
    c.conn.commit()
    link(c.conn)
    c.conn.commit()
    assert _queued(c.conn) == 0
    assert rescope(c.conn) == []
    assert _alert(c.conn, alert_id)["version"] == 1


def test_a_new_upstream_lot_widens_the_sources(chain: Chain) -> None:
    """A late harvest that fed the plant's transformation: X's sources grow."""
    c = chain
    alert_id = _raise_on(c, lot="X", at="shop")
    before = _alert(c.conn, alert_id)
    c.location("farm4", "zhaoqing", "farm", 23.0, 112.4)
    veg, cut = c.code("choy_sum"), c.code("fresh_cut")
    c.event("harvesting", "farm4", c.at(3), [("D", 50, veg)], tlc_source="farm4")
    c.event(
        "transformation",
        "plant",
        c.at(121),
        inputs=[("D", 50, veg)],
        outputs=[("X", 40, cut)],
        tlc_source="plant",
    )
    c.conn.commit()
    assert _link_and_rescope(c.conn) == [alert_id]
    after = _alert(c.conn, alert_id)
    assert c.code("D") in {x["lot_code"] for x in after["source_lots"]}
    assert c.code("farm4") in {x["location_id"] for x in after["source_locations"]}
    assert {x["lot_code"] for x in before["source_lots"]} < {
        x["lot_code"] for x in after["source_lots"]
    }


def test_master_data_that_arrives_late_names_the_city(chain: Chain) -> None:
    c = chain
    alert_id = _raise_on(c)
    _shop_delivery(c, "A", 90, shop="kiosk")  # no master data for the kiosk yet
    _link_and_rescope(c.conn)
    widened = _alert(c.conn, alert_id)
    kiosk = next(x for x in widened["affected_locations"] if x["location_id"] == c.code("kiosk"))
    assert kiosk["city"] is None and "jiangmen" not in widened["affected_cities"]

    c.location("kiosk", "jiangmen", "retailer", 22.6, 113.1)  # the trigger queues the alert
    c.conn.commit()
    assert _queued(c.conn) == 1
    assert rescope(c.conn) == [alert_id]
    done = _alert(c.conn, alert_id)
    assert "jiangmen" in done["affected_cities"]
    assert done["changes"]["added"]["affected_cities"] == ["jiangmen"]
    assert ("jiangmen", "Alert") in {
        (city, kind) for v, city, kind, _ in _messages(c.conn, alert_id) if v == done["version"]
    }


def test_a_result_before_its_lot_alerts_at_once_then_follows_the_events(chain: Chain) -> None:
    c = chain
    alert_id = _raise_on(c, lot="Z", at="market")  # no event names lot Z yet
    first = _alert(c.conn, alert_id)
    assert first["affected_cities"] == ["guangzhou"]  # the sampled place, at once
    assert first["lot_traced"] is False  # only its sample names the lot so far
    assert (first["source_lots"], first["source_locations"]) == ([], [])  # not the market
    assert {x["location_id"] for x in first["affected_locations"]} == {c.code("market")}

    veg = c.code("choy_sum")
    c.event("harvesting", "farm2", c.at(5), [("Z", 60, veg)], tlc_source="farm2")
    c.event("shipping", "farm2", c.at(20), [("Z", 60, veg)], to="market")
    c.event("receiving", "market", c.at(80), [("Z", 60, veg)], source="farm2")
    c.conn.commit()
    assert _link_and_rescope(c.conn) == [alert_id]
    later = _alert(c.conn, alert_id)
    assert later["lot_traced"] is True
    assert [x["lot_code"] for x in later["source_lots"]] == [c.code("Z")]
    assert [x["location_id"] for x in later["source_locations"]] == [c.code("farm2")]
    assert later["affected_cities"] == ["guangzhou", "huizhou"]


def test_a_closed_alert_follows_no_data(chain: Chain) -> None:
    c = chain
    alert_id = _raise_on(c)
    lifecycle.close(c.conn, alert_id, by="duty officer")
    scope = c.conn.execute(
        "SELECT count(*) FROM core.alert_scope WHERE alert_id = %s", (alert_id,)
    ).fetchone()[0]
    assert scope == 0
    c.location("shop2", "zhuhai", "retailer", 22.27, 113.57)
    _shop_delivery(c, "A", 90)
    assert _link_and_rescope(c.conn) == []
    assert _alert(c.conn, alert_id)["status"] == "closed"


def test_a_queued_alert_closed_before_the_rescope_is_left_alone(chain: Chain) -> None:
    c = chain
    alert_id = _raise_on(c)
    c.location("shop2", "zhuhai", "retailer", 22.27, 113.57)
    _shop_delivery(c, "A", 90)
    link(c.conn)
    c.conn.commit()
    assert _queued(c.conn) > 0
    lifecycle.close(c.conn, alert_id, by="duty officer")
    version = _alert(c.conn, alert_id)["version"]
    assert rescope(c.conn) == []
    assert _alert(c.conn, alert_id)["version"] == version
    assert _queued(c.conn) == 0


def test_an_upgrade_does_not_repeat_the_last_changes(chain: Chain) -> None:
    c = chain
    alert_id = _raise_on(c)
    c.location("shop2", "zhuhai", "retailer", 22.27, 113.57)
    _shop_delivery(c, "A", 90)
    _link_and_rescope(c.conn)
    assert "changes" in _alert(c.conn, alert_id)
    c.lab_result(
        "A", kind="confirmatory", analyte="omethoate", minutes=500, value=0.2, unit="mg/kg"
    )
    run_pipeline(c.conn)
    upgraded = _alert(c.conn, alert_id)
    assert upgraded["severity"] == "critical"
    assert "changes" not in upgraded
    assert "zhuhai" in upgraded["affected_cities"]  # the upgrade keeps the wider scope


def test_scope_keys_hold_every_traced_lot_and_place(chain: Chain) -> None:
    c = chain
    alert_id = _raise_on(c, lot="X", at="shop")
    keys = {
        (kind, key)
        for kind, key in c.conn.execute(
            "SELECT key_kind, key FROM core.alert_scope WHERE alert_id = %s", (alert_id,)
        )
    }
    # X, and upstream A and B (an event on either can change X's sources)
    assert {k for kind, k in keys if kind == "lot"} == {c.code("X"), c.code("A"), c.code("B")}
    assert ("location", c.code("shop")) in keys and ("location", c.code("farm2")) in keys
    # the migration's queue for alerts raised before it existed is a plain row too
    c.conn.execute(
        "INSERT INTO core.alert_rescope_queue (alert_id, cause_kind, cause_id) "
        "VALUES (%s, 'migration', '0008')",
        (alert_id,),
    )
    c.conn.commit()
    assert rescope(c.conn) == []  # nothing changed: no version, queue emptied
    assert _queued(c.conn) == 0


def test_product_master_data_after_the_alert_completes_it_and_its_limit(aconn) -> None:
    """A confirmatory result on a product nobody registered yet is judged against the
    analyte's strictest limit; when the product arrives the alert names its category
    and the category's limit (here: still exceeded)."""
    c = Chain(aconn)
    c.location("farm", "zhaoqing", "farm", 23.05, 112.47)
    c.location("market", "guangzhou", "wholesale_market", 23.13, 113.26)
    veg = c.code("late_veg")  # no core.products row yet
    c.event("harvesting", "farm", c.at(0), [("A", 100, veg)], tlc_source="farm")
    c.event("shipping", "farm", c.at(10), [("A", 100, veg)], to="market")
    c.conn.commit()
    c.lab_result(
        "A", kind="confirmatory", analyte="omethoate", minutes=500, value=0.3, unit="mg/kg"
    )
    [alert_id] = run_pipeline(c.conn)
    first = _alert(c.conn, alert_id)
    assert (first["category"], first["limit_category_assumed"]) == (None, True)
    assert first["severity"] == "critical" and first["limit"] == 0.02

    c.conn.execute(
        "INSERT INTO core.products (product_code, name, category) VALUES (%s, %s, %s)",
        (veg, "Choy sum 菜心", "brassica_vegetables"),
    )
    c.conn.commit()
    assert _queued(c.conn) == 1  # the products trigger queued it
    assert rescope(c.conn) == [alert_id]
    done = _alert(c.conn, alert_id)
    assert (done["category"], done["product_name"]) == ("brassica_vegetables", "Choy sum 菜心")
    assert done["limit_category_assumed"] is False
    assert "category" in done["changes"]["product_completed"]
    assert "within_category_limit" not in done["changes"]  # 0.3 > 0.02 all the same
