"""Pallet containment across EPCIS documents (0016, foodtrace/trace/link.py): shipping
or receiving an SSCC packed in another document ships or receives its lots, whether
the AggregationEvents arrive before or after, and the trace after everything has
arrived is the same in any arrival order.

The events are OpenTraceability's GDST test data `cap_tool_events.jsonld`
(tests/data/epcis/SOURCES.md): a processor packs 5000 kg of lot processor.2 onto
pallet SSCC 08600031303.0003 (AggregationEvent ADD, 2022-09-29), ships the pallet
(ObjectEvent shipping, epcList = the SSCC only, 09-30), the importer receives it
(10-05), unpacks it (DELETE, 10-06), and the same is repeated in October/November.
The public document holds all of them; here it is split, as two actors' systems
would send it: the four AggregationEvents in documents of their own, the other
events in one document. Real edge, landing, validation and linking on the real
database.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from devservices import migrated_database  # tests/devservices.py
from foodtrace.ingest.edge import check_message
from foodtrace.ingest.epcis import document_events
from foodtrace.ingest.landing import LandingItem, write_batch

from foodtrace.alerts.engine import evaluate
from foodtrace.alerts.rescope import rescope
from foodtrace.db import connect
from foodtrace.trace.api import trace
from foodtrace.trace.link import CONTAINER_RULE, link
from foodtrace.validate.promote import validate_and_promote

CORPUS = Path(__file__).resolve().parents[2] / "data" / "epcis" / "opentraceability"
ADMIN_URL = os.environ.get("FOODTRACE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ACTOR = "gdst-importer"
LOT = "urn:gdst:example.org:product:lot:class:processor.2.v1-0122-2022"
SHIPPING = "urn:uuid:e0d338aa-d057-45df-a6b9-ee142d388334"
RECEIVING = "urn:uuid:c5136f02-2ae5-4120-ae09-702db8ab340f"


def _corpus() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    document = json.loads((CORPUS / "cap_tool_events.jsonld").read_bytes().decode("utf-8-sig"))
    return document, document_events(document)


def _document(context: Any, events: list[dict[str, Any]]) -> bytes:
    return json.dumps({"@context": context, "type": "EPCISDocument", "schemaVersion": "2.0",
                       "creationDate": "2022-11-04T00:00:00Z",
                       "epcisBody": {"eventList": events}}).encode()


def _split() -> tuple[bytes, list[bytes]]:
    """(the document without the AggregationEvents, one document per AggregationEvent)."""
    document, events = _corpus()
    context = document.get("@context", [])
    rest = [e for e in events if e.get("type") != "AggregationEvent"]
    aggregations = [e for e in events if e.get("type") == "AggregationEvent"]
    assert len(aggregations) == 4
    return _document(context, rest), [_document(context, [a]) for a in aggregations]


def _arrive(conn: psycopg.Connection, raw: bytes) -> None:
    result = check_message(f"foodtrace/v1/epcis/{ACTOR}", raw)
    write_batch(conn, [LandingItem(result, datetime.now(UTC), raw=raw)], "test-worker")
    conn.commit()
    validate_and_promote(conn, write_reports=False)
    link(conn)
    conn.commit()


def _arrive_least_privileged(db_url: str, raw: bytes) -> None:
    """As production runs it: landed as foodtrace_ingest, promoted and linked as
    foodtrace_pipeline (the grants of 0016)."""
    def as_role(role: str) -> str:
        return psycopg.conninfo.make_conninfo(db_url, options=f"-c role={role}")
    with psycopg.connect(as_role("foodtrace_ingest")) as conn:
        result = check_message(f"foodtrace/v1/epcis/{ACTOR}", raw)
        write_batch(conn, [LandingItem(result, datetime.now(UTC), raw=raw)], "test-worker")
        conn.commit()
    with psycopg.connect(as_role("foodtrace_pipeline")) as conn:
        validate_and_promote(conn, write_reports=False)
        link(conn)
        conn.commit()


def _rows(conn: psycopg.Connection, sql: str, params: tuple = ()) -> list[tuple]:
    rows = conn.execute(sql, params).fetchall()
    conn.commit()
    return rows


def _graph(conn: psycopg.Connection) -> dict[str, Any]:
    """Everything the trace reads, without the times rows were written."""
    locations = _rows(conn, "SELECT lot_code, location_id, role, message_id, event_time, "
                            "event_type, quantity, unit, counterparty_location_id, via_container "
                            "FROM core.lot_locations ORDER BY 1, 2, 3, 4")
    edges = _rows(conn, "SELECT parent_lot, child_lot, message_id, input_quantity, "
                        "output_quantity FROM core.lot_edges ORDER BY 1, 2, 3")
    down = trace(conn, LOT, "down").to_json()
    conn.commit()
    down.pop("findings", None)  # they carry when they were found
    return {"locations": locations, "edges": edges,
            "trace": json.dumps(down, sort_keys=True, default=str)}


def _open_findings(conn: psycopg.Connection) -> list[tuple]:
    return _rows(conn, "SELECT e.kdes->'epcis_event'->>'eventID', f.resolution FROM core.findings f"
                       " JOIN core.events e ON e.message_id = f.message_id"
                       " WHERE f.rule = %s ORDER BY 1", (CONTAINER_RULE,))


def _pallet_lots(conn: psycopg.Connection) -> list[tuple]:
    """Where lot processor.2 went through the pallet: (eventID, role, location, kg)."""
    return _rows(conn, "SELECT e.kdes->'epcis_event'->>'eventID', ll.role, ll.location_id,"
                       " ll.quantity, ll.via_container FROM core.lot_locations ll"
                       " JOIN core.events e ON e.message_id = ll.message_id"
                       " WHERE ll.lot_code = %s AND ll.via_container IS NOT NULL ORDER BY 1, 2",
                 (LOT,))


def test_the_pallet_arrives_after_its_shipping(fresh_db_url: str) -> None:
    rest, aggregations = _split()
    with connect(fresh_db_url) as conn:
        _arrive(conn, rest)
        # the shipping and the receiving of the SSCC are stored and traced as the pallet,
        # flagged: what it holds is not known yet
        pallet = _rows(conn, "SELECT DISTINCT lot_code FROM core.event_lots"
                             " WHERE product_code = 'urn:foodtrace:container'")
        assert pallet == [("urn:epc:id:sscc:08600031303.0003",)]
        assert _open_findings(conn) == [(RECEIVING, None), (SHIPPING, None)]
        assert _pallet_lots(conn) == []
        for raw in aggregations:
            _arrive_least_privileged(fresh_db_url, raw)
        # late data updates the trace: the lot went where the pallet went
        (sscc,) = pallet[0]
        assert _pallet_lots(conn) == [
            (RECEIVING, "received", "urn:gdst:example.org:location:loc:importer.123", 5000, sscc),
            (SHIPPING, "shipped_from", "urn:gdst:example.org:location:loc:processor.plant1",
             5000, sscc),
            (SHIPPING, "shipped_to", "urn:foodtrace:unlocated:urn:gdst:example.org:party:importer.1",
             5000, sscc),
        ]
        assert _open_findings(conn) == [(RECEIVING, "reference_arrived"),
                                        (SHIPPING, "reference_arrived")]


def _final_graph(db_url: str, order: list[bytes]) -> dict[str, Any]:
    with connect(db_url) as conn:
        for raw in order:
            _arrive(conn, raw)
        # none left open: answered, or never raised when the pallet was known first
        assert None not in {r[1] for r in _open_findings(conn)}
        return _graph(conn)


@pytest.fixture
def second_db_url() -> Iterator[str]:
    with migrated_database() as url:
        yield url


@pytest.fixture
def third_db_url() -> Iterator[str]:
    with migrated_database() as url:
        yield url


def test_the_trace_is_the_same_in_any_arrival_order(fresh_db_url: str, second_db_url: str,
                                                    third_db_url: str) -> None:
    rest, aggregations = _split()
    shuffled = [rest, *aggregations]
    random.Random(20221104).shuffle(shuffled)
    assert shuffled[0] != rest  # the seed puts pallets first, and interleaves them
    after = _final_graph(fresh_db_url, [rest, *aggregations])
    before = _final_graph(second_db_url, [*aggregations, rest])
    mixed = _final_graph(third_db_url, shuffled)
    assert after == before == mixed
    assert any(row[0] == LOT and row[9] for row in after["locations"])


def test_the_same_lots_move_as_when_one_document_holds_everything(fresh_db_url: str,
                                                                  second_db_url: str) -> None:
    """Split or whole, lot processor.2 goes to the same places in the same quantities
    (the whole document reads the pallet itself; split, linking does)."""
    rest, aggregations = _split()
    document, _ = _corpus()
    split = _final_graph(fresh_db_url, [rest, *aggregations])
    whole = _final_graph(second_db_url, [json.dumps(document).encode()])

    def lot_rows(graph: dict[str, Any]) -> list[tuple]:
        return sorted(r[:9] for r in graph["locations"] if r[0] == LOT)

    assert lot_rows(split) == lot_rows(whole)
    assert split["edges"] == whole["edges"]


def test_a_late_unpacking_takes_the_lots_back_out(fresh_db_url: str) -> None:
    """A DELETE dated between the packing and the shipping arrives last: the pallet
    was empty when it was shipped, so its lot was not shipped through it."""
    rest, aggregations = _split()
    document, events = _corpus()
    packing = next(e for e in events if e.get("type") == "AggregationEvent")
    unpacked = {**{k: v for k, v in packing.items() if k not in ("childQuantityList", "eventID")},
                "eventID": "urn:uuid:0f6f4bd6-6a55-4c57-9d4e-3b1f0c0e0001", "action": "DELETE",
                "bizStep": "unpacking", "eventTime": "2022-09-30T00:00:00+00:00", "childEPCs": []}
    with connect(fresh_db_url) as conn:
        for raw in (rest, *aggregations):
            _arrive(conn, raw)
        assert len(_pallet_lots(conn)) == 3
        _arrive(conn, _document(document.get("@context", []), [unpacked]))
        assert _pallet_lots(conn) == []
        # the pallet itself is still where it went
        assert _rows(conn, "SELECT count(*) FROM core.lot_locations WHERE lot_code = %s",
                     ("urn:epc:id:sscc:08600031303.0003",))[0][0] == 3


def _residue_report() -> bytes:
    """A laboratory's EPCIS sensor report: 250 ug/kg omethoate in lot processor.2, over
    the 0.02 mg/kg limit (as in tests/integration/ingest/test_epcis_sensor_results_*)."""
    event = {
        "type": "ObjectEvent", "eventID": "urn:uuid:5b0c7e1a-3f0e-4c1d-9a55-000000250000",
        "eventTime": "2022-10-01T09:00:00+08:00", "eventTimeZoneOffset": "+08:00",
        "action": "OBSERVE", "bizStep": "inspecting",
        "bizLocation": {"id": "urn:epc:id:sgln:0614141.00888.0"},
        "quantityList": [{"epcClass": LOT, "quantity": 1, "uom": "KGM"}],
        "sensorElementList": [{
            "sensorMetadata": {"time": "2022-10-01T08:30:00+08:00",
                               "dataProcessingMethod": "https://example.org/method/GB23200.121"},
            "sensorReport": [{"type": "gs1:MT-Concentration",
                              "chemicalSubstance": "https://identifiers.org/cas:1113-02-6",
                              "value": 250, "uom": "J33"}]}],
    }
    return _document(["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"], [event])


def test_a_living_alert_widens_when_the_pallet_becomes_known(fresh_db_url: str) -> None:
    rest, aggregations = _split()
    importer = "urn:gdst:example.org:location:loc:importer.123"
    with connect(fresh_db_url) as conn:
        _arrive(conn, rest)
        raw = _residue_report()
        result = check_message("foodtrace/v1/epcis/lab-gz-01", raw)
        write_batch(conn, [LandingItem(result, datetime.now(UTC), raw=raw)], "test-worker")
        conn.commit()
        validate_and_promote(conn, write_reports=False)
        link(conn)
        [alert_id] = evaluate(conn)
        conn.commit()

        def affected() -> set[str]:
            payload = _rows(conn, "SELECT payload FROM core.alerts WHERE alert_id = %s",
                            (alert_id,))[0][0]
            return {x["location_id"] for x in payload["affected_locations"]}

        assert importer not in affected()  # only the pallet was seen going there
        for raw in aggregations:
            _arrive(conn, raw)
        assert alert_id in rescope(conn)
        conn.commit()
        assert importer in affected()  # the lot was on it: the alert now names the importer


def test_a_packing_declared_wrong_takes_its_lots_back_out(fresh_db_url: str) -> None:
    """The sender's errorDeclaration of the September packing: the pallet it shipped
    and received held nothing known then, so lot processor.2 no longer moves with it."""
    rest, aggregations = _split()
    document, events = _corpus()
    packing = next(e for e in events if e.get("type") == "AggregationEvent")
    declared = {**packing, "errorDeclaration": {"declarationTime": "2022-11-05T00:00:00+00:00",
                                                "reason": "incorrect_data"}}
    with connect(fresh_db_url) as conn:
        for raw in (rest, *aggregations):
            _arrive(conn, raw)
        assert len(_pallet_lots(conn)) == 3
        _arrive(conn, _document(document.get("@context", []), [declared]))
        assert _pallet_lots(conn) == []
        assert _rows(conn, "SELECT count(*) FROM core.containment WHERE retraction_applied"
                     )[0][0] == 1
