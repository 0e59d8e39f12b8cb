"""A retracted event (EPCIS errorDeclaration, core.retractions) is no reference for
validation: a receiving does not match a retracted shipping, a retracted receiving
brings no quantity into the mass balance, and a retracted event does not keep the
assignment of a lot code in core.lots. Real database, real edge for the
declarations, real validation; whether the declaration comes before or after the
event it retracts."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from foodtrace.ingest.edge import check_message
from foodtrace.ingest.epcis import EVENT_NAMESPACE
from foodtrace.ingest.landing import LandingItem, write_batch
from validation_helpers import Builder, land, run


def _declared(builder: Builder, payload: dict[str, Any], name: str) -> dict[str, Any]:
    """`payload` under the message id an EPCIS eventID `name` of its actor has, so
    that an errorDeclaration of that eventID names it."""
    event_id = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, builder.p + name)}"
    mid = uuid.uuid5(EVENT_NAMESPACE, f"{payload['actor_id']}\n{event_id}")
    return {**payload, "message_id": str(mid), "kdes": {**payload.get("kdes", {}),
                                                         "test_event_id": event_id}}


def _declare(conn: psycopg.Connection, payload: dict[str, Any]) -> None:
    """The sender's errorDeclaration of `payload`, through the real edge."""
    actor, event_id = payload["actor_id"], payload["kdes"]["test_event_id"]
    document = {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-11-30T00:00:00Z",
        "epcisBody": {"eventList": [{
            "type": "ObjectEvent", "eventID": event_id, "eventTime": payload["event_time"],
            "eventTimeZoneOffset": "+08:00", "action": "OBSERVE",
            "errorDeclaration": {"declarationTime": datetime.now(UTC).isoformat(),
                                 "reason": "incorrect_data"}}]},
    }
    raw = json.dumps(document).encode()
    result = check_message(f"foodtrace/v1/epcis/{actor}", raw)
    assert [a.kind for a in result.accepted] == ["epcis_declaration"]
    write_batch(conn, [LandingItem(result, datetime.now(UTC), raw=raw)], "test-worker")
    conn.commit()


def _findings(conn: psycopg.Connection, message_id: str) -> set[str]:
    rows = conn.execute("SELECT rule FROM core.findings WHERE message_id = %s AND resolved_at IS"
                        " NULL", (message_id,)).fetchall()
    conn.commit()
    return {r[0] for r in rows}


def _master(conn: psycopg.Connection, b: Builder) -> None:
    for loc in b.locations():
        land(conn, "location", loc)
    for product in b.products():
        land(conn, "product", product)


@pytest.mark.parametrize("declared_first", [True, False], ids=["declared_first", "event_first"])
def test_a_receiving_does_not_match_a_retracted_shipping(vconn, declared_first: bool) -> None:
    b = Builder()
    _master(vconn, b)
    lot = b.lot("L1")
    land(vconn, "chain_event", b.harvesting(lot, 1000))
    shipping = _declared(b, b.shipping(lot, b.farm, b.packer, 400, 24), "ship")
    if declared_first:
        _declare(vconn, shipping)
        run(vconn)
    land(vconn, "chain_event", shipping)
    run(vconn)
    if not declared_first:
        _declare(vconn, shipping)
        run(vconn)
    receiving = land(vconn, "chain_event", b.receiving(lot, b.farm, b.packer, 400, 30))
    run(vconn)
    assert "reference.receiving_matches_shipping" in _findings(vconn, receiving)


def test_the_same_receiving_matches_a_shipping_that_stands(vconn) -> None:
    """The control: without the declaration the receiving matches."""
    b = Builder()
    _master(vconn, b)
    lot = b.lot("L1")
    land(vconn, "chain_event", b.harvesting(lot, 1000))
    land(vconn, "chain_event", b.shipping(lot, b.farm, b.packer, 400, 24))
    run(vconn)
    receiving = land(vconn, "chain_event", b.receiving(lot, b.farm, b.packer, 400, 30))
    run(vconn)
    assert "reference.receiving_matches_shipping" not in _findings(vconn, receiving)


def test_a_retracted_receiving_brings_nothing_into_the_mass_balance(vconn) -> None:
    b = Builder()
    _master(vconn, b)
    lot = b.lot("L1")
    land(vconn, "chain_event", b.harvesting(lot, 1000))
    land(vconn, "chain_event", b.shipping(lot, b.farm, b.packer, 200, 24))
    land(vconn, "chain_event", b.receiving(lot, b.farm, b.packer, 200, 30))
    land(vconn, "chain_event", b.shipping(lot, b.farm, b.packer, 400, 25))
    receiving = _declared(b, b.receiving(lot, b.farm, b.packer, 400, 31), "receive")
    land(vconn, "chain_event", receiving)
    run(vconn)
    within = land(vconn, "chain_event", b.shipping(lot, b.packer, b.market, 150, 40))
    run(vconn)
    assert "mass_balance.shipped_not_more_than_held" not in _findings(vconn, within)
    _declare(vconn, receiving)
    run(vconn)
    # 150 + 300 kg shipped on 200 kg received: the 400 kg receipt no longer counts
    onward = land(vconn, "chain_event", b.shipping(lot, b.packer, b.market, 300, 41))
    run(vconn)
    assert "mass_balance.shipped_not_more_than_held" in _findings(vconn, onward)


@pytest.mark.parametrize("declared_first", [True, False], ids=["declared_first", "event_first"])
def test_a_retracted_event_does_not_keep_a_lot_code(vconn, declared_first: bool) -> None:
    b = Builder()
    _master(vconn, b)
    lot = b.lot("L1")
    wrong = _declared(b, b.harvesting(lot, 1000, hours=0), "harvest")
    if declared_first:
        _declare(vconn, wrong)
        run(vconn)
    land(vconn, "chain_event", wrong)
    run(vconn)
    if not declared_first:
        _declare(vconn, wrong)
        run(vconn)
    creator = vconn.execute("SELECT created_by_message_id, quantity FROM core.lots"
                            " WHERE lot_code = %s", (lot,)).fetchone()
    vconn.commit()
    assert creator == (None, None)
    # the harvest that stands assigns the code, with no conflict over it
    right = b.harvesting(lot, 900, hours=1)
    land(vconn, "chain_event", right)
    run(vconn)
    creator = vconn.execute("SELECT created_by_message_id::text, quantity FROM core.lots"
                            " WHERE lot_code = %s", (lot,)).fetchone()
    vconn.commit()
    assert creator == (right["message_id"], 900)
    assert "reference.tlc_assigned_once" not in _findings(vconn, right["message_id"])


def test_a_retracted_shipping_arriving_late_does_not_answer_a_receiving(vconn) -> None:
    """The receiving came first (no shipping yet: a finding); the shipping that then
    arrives was declared wrong before it came: the finding stays open."""
    b = Builder()
    _master(vconn, b)
    lot = b.lot("L1")
    land(vconn, "chain_event", b.harvesting(lot, 1000))
    receiving = land(vconn, "chain_event", b.receiving(lot, b.farm, b.packer, 400, 30))
    run(vconn)
    assert "reference.receiving_matches_shipping" in _findings(vconn, receiving)
    shipping = _declared(b, b.shipping(lot, b.farm, b.packer, 400, 24), "ship")
    _declare(vconn, shipping)
    run(vconn)
    land(vconn, "chain_event", shipping)
    run(vconn)
    assert "reference.receiving_matches_shipping" in _findings(vconn, receiving)
    # the control: a shipping that stands answers it
    land(vconn, "chain_event", b.shipping(lot, b.farm, b.packer, 400, 25))
    run(vconn)
    assert "reference.receiving_matches_shipping" not in _findings(vconn, receiving)
