"""An alert with two versions on the alerts tests' known chain: a rapid positive on
lot A, then a late shipment of A to a Zhuhai shop whose master data carries markup
(the report must show it as text), and a finding on that late shipment."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from alerts_helpers import Chain, run_pipeline

from foodtrace.alerts.rescope import rescope
from foodtrace.trace.link import link

OP = "organophosphates_carbamates"
HOSTILE_NAME = '<script>alert("x")</script> Zhuhai & Sons'


@dataclass(frozen=True)
class TwoVersionAlert:
    alert_id: UUID
    late_shipment: UUID


def alert_with_late_data(c: Chain) -> TwoVersionAlert:
    c.lab_result("A", kind="rapid", analyte=OP, minutes=400, value=70, unit="%",
                 result="positive")
    [alert_id] = run_pipeline(c.conn)
    c.conn.execute(
        "INSERT INTO core.locations (location_id, name, kind, city, lat, lon) "
        "VALUES (%s, %s, 'retailer', 'zhuhai', 22.27, 113.57)",
        (c.code("shop2"), HOSTILE_NAME),
    )
    veg = c.code("choy_sum")
    late = c.event("shipping", "market", c.at(90), [("A", 20, veg)], to="shop2")
    c.event("receiving", "shop2", c.at(120), [("A", 20, veg)], source="market")
    c.conn.execute(
        "INSERT INTO core.findings (kind, message_id, sender_id, event_type, rule, code, "
        "severity, cfr_section, message) VALUES ('chain_event', %s, %s, 'shipping', "
        "'shipping_tlc_source', 'kde_missing', 'warning', '21 CFR 1.1340(a)(3)', "
        "'traceability lot code source missing')",
        (late, c.code("market")),
    )
    c.conn.commit()
    link(c.conn)
    c.conn.commit()
    assert rescope(c.conn) == [alert_id]
    c.conn.commit()
    return TwoVersionAlert(alert_id, late)
