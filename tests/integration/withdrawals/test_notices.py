"""Notices equal the affected businesses with the quantities they hold; living
alerts supersede, widen and release them; all in the alert version's transaction."""

from __future__ import annotations

from datetime import timedelta

from alerts_helpers import Chain, run_pipeline
from wd_helpers import live_notices

from foodtrace.alerts.rescope import rescope
from foodtrace.trace.link import link


def _rapid(c: Chain, minutes: int = 400) -> None:
    c.lab_result("A", kind="rapid", analyte="organophosphates_carbamates", minutes=minutes,
                 value=62.5, unit="%", result="positive")


def test_one_notice_per_affected_business_with_quantities_held(chain: Chain) -> None:
    c = chain
    _rapid(c)
    [alert_id] = run_pipeline(c.conn)
    got = live_notices(c.conn, alert_id)
    # farm: harvested 500, shipped 300 + 200; market: received 300; plant: received
    # 200, used 150, made X 220, shipped 100; shop: received 100 of X, sold 5
    assert {a: n["lots"] for a, n in got.items()} == {
        c.code("farm"): {c.code("A"): 0},
        c.code("market"): {c.code("A"): 300},
        c.code("plant"): {c.code("A"): 50, c.code("X"): 120},
        c.code("shop"): {c.code("X"): 95},
    }
    assert {a: n["action"] for a, n in got.items()} == {
        c.code("farm"): "hold_for_testing",
        c.code("market"): "stop_sale",
        c.code("plant"): "hold_for_testing",
        c.code("shop"): "stop_sale",
    }
    for n in got.values():
        assert n["state"] == "issued" and n["supersedes"] is None
        assert n["deadline"] - n["issued_at"] == timedelta(hours=48)  # warning: second level
    # committed with the alert version: same version, same transaction time
    version = c.conn.execute("SELECT version FROM core.alerts WHERE alert_id = %s",
                             (alert_id,)).fetchone()[0]
    assert {n["alert_version"] for n in got.values()} == {version}
    # a re-run issues nothing new
    run_pipeline(c.conn)
    c.conn.commit()
    assert c.conn.execute("SELECT count(*) FROM core.withdrawal_notices").fetchone()[0] == 4


def test_confirmation_supersedes_every_notice_with_withdraw(chain: Chain) -> None:
    c = chain
    _rapid(c)
    [alert_id] = run_pipeline(c.conn)
    first = live_notices(c.conn, alert_id)
    c.lab_result("A", kind="confirmatory", analyte="chlorpyrifos", minutes=500, value=0.5,
                 unit="mg/kg")
    c.lab_result("A", kind="confirmatory", analyte="omethoate", minutes=501, value=0.5,
                 unit="mg/kg")
    run_pipeline(c.conn)
    after = live_notices(c.conn, alert_id)
    assert {n["action"] for n in after.values()} == {"withdraw"}
    if True:
        for actor, n in after.items():
            assert n["supersedes"] == first[actor]["notice_id"]
            assert n["deadline"] - n["issued_at"] == timedelta(hours=24)
        old = c.conn.execute("SELECT state, superseded_by FROM core.withdrawal_notices "
                             "WHERE notice_id = %s",
                             (first[c.code("shop")]["notice_id"],)).fetchone()
        assert old == ("superseded", after[c.code("shop")]["notice_id"])


def test_a_widened_alert_notifies_exactly_the_new_business(chain: Chain) -> None:
    c = chain
    _rapid(c)
    [alert_id] = run_pipeline(c.conn)
    first = live_notices(c.conn, alert_id)
    # late data: the plant shipped 40 of X to a second shop, which received it
    c.location("shop2", "dongguan", "retailer", 23.02, 113.75)
    cut = c.conn.execute("SELECT product_code FROM core.lots WHERE lot_code = %s",
                         (c.code("X"),)).fetchone()[0]
    c.event("shipping", "plant", c.at(190), [("X", 40, cut)], to="shop2", tlc_source="plant",
            doc=("BOL", "BOL-9"))
    c.event("receiving", "shop2", c.at(250), [("X", 40, cut)], source="plant",
            tlc_source="plant", doc=("BOL", "BOL-9"))
    c.conn.commit()
    link(c.conn)
    c.conn.commit()
    assert [str(a) for a in rescope(c.conn)] == [str(alert_id)]
    after = live_notices(c.conn, alert_id)
    assert set(after) == set(first) | {c.code("shop2")}
    assert after[c.code("shop2")]["lots"] == {c.code("X"): 40}
    assert after[c.code("shop2")]["supersedes"] is None
    # the plant holds 40 less: a superseding notice; the others: unchanged
    assert after[c.code("plant")]["lots"] == {c.code("A"): 50, c.code("X"): 80}
    assert after[c.code("plant")]["supersedes"] == first[c.code("plant")]["notice_id"]
    for name in ("farm", "market", "shop"):
        assert after[c.code(name)]["notice_id"] == first[c.code(name)]["notice_id"]
    new_version = c.conn.execute("SELECT version FROM core.alerts WHERE alert_id = %s",
                                 (alert_id,)).fetchone()[0]
    assert after[c.code("shop2")]["alert_version"] == new_version > 1


def test_a_cleared_alert_releases_every_business(chain: Chain) -> None:
    c = chain
    _rapid(c)
    [alert_id] = run_pipeline(c.conn)
    c.lab_result("A", kind="confirmatory", analyte="omethoate", minutes=500, value=0.01,
                 unit="mg/kg")
    run_pipeline(c.conn)
    status = c.conn.execute("SELECT status FROM core.alerts WHERE alert_id = %s",
                            (alert_id,)).fetchone()[0]
    c.conn.commit()
    assert status == "closed"
    if True:
        after = live_notices(c.conn, alert_id)
        assert {n["action"] for n in after.values()} == {"released"}
        assert all(n["payload"]["release_reason"] == "alert_cleared" for n in after.values())
