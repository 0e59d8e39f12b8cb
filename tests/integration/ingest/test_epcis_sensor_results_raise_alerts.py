"""An EPCIS sensor report with a residue concentration on a lot (ingest/epcis_sensor.py)
through the real edge, landing, validation, linking and alert engine: it is a lab
result like any other, and an over-limit one raises an alert on the lot, whose
scope is the trace of the real GDST document the lot came from."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from foodtrace.ingest.edge import check_message
from foodtrace.ingest.landing import LandingItem, write_batch

from foodtrace.alerts.engine import evaluate
from foodtrace.db import connect
from foodtrace.trace.link import link
from foodtrace.validate.promote import validate_and_promote

DATA = Path(__file__).resolve().parents[2] / "data" / "epcis" / "opentraceability"
DOMAIN = "urn:gdst:example.org:product:lot:class:"
LOT = f"{DOMAIN}processor.2.v1-0122-2022"  # the processor's lot in cap_tool_events.jsonld
LAB = "lab-gz-01"


def _land(conn: psycopg.Connection, actor: str, raw: bytes) -> tuple[int, int]:
    result = check_message(f"foodtrace/v1/epcis/{actor}", raw)
    write_batch(conn, [LandingItem(result, datetime.now(UTC), raw=raw)], "test-worker")
    return len(result.accepted), len(result.rejected)


def _sensor_document(value: float, uom: str) -> bytes:
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventID": f"urn:uuid:5b0c7e1a-3f0e-4c1d-9a55-{int(value * 1000):012d}",
        "eventTime": "2022-01-25T09:00:00+08:00",
        "eventTimeZoneOffset": "+08:00",
        "action": "OBSERVE",
        "bizStep": "inspecting",
        "bizLocation": {"id": "urn:epc:id:sgln:0614141.00888.0"},
        "quantityList": [{"epcClass": LOT, "quantity": 1, "uom": "KGM"}],
        "sensorElementList": [{
            "sensorMetadata": {"time": "2022-01-25T08:30:00+08:00",
                               "dataProcessingMethod": "https://example.org/method/GB23200.121"},
            "sensorReport": [{"type": "gs1:MT-Concentration",
                              "chemicalSubstance": "https://identifiers.org/cas:1113-02-6",
                              "value": value, "uom": uom}],
        }],
    }
    return json.dumps({
        "@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
        "type": "EPCISDocument", "schemaVersion": "2.0",
        "creationDate": "2022-01-25T10:00:00+08:00", "epcisBody": {"eventList": [event]},
    }).encode()


def _pipeline(conn: psycopg.Connection) -> list:
    validate_and_promote(conn, write_reports=False)
    link(conn)
    alerts = evaluate(conn)
    conn.commit()
    return alerts


def test_an_over_limit_residue_report_raises_an_alert_on_the_traced_lot(fresh_db_url: str) -> None:
    with connect(fresh_db_url) as conn:
        assert _land(conn, "gdst-importer", (DATA / "cap_tool_events.jsonld").read_bytes()) == (12, 0)
        assert _pipeline(conn) == []

        # 250 ug/kg omethoate = 0.25 mg/kg, over the 0.02 mg/kg limit (domain/limits.md)
        assert _land(conn, LAB, _sensor_document(250, "J33")) == (1, 0)
        [stored] = conn.execute(
            "SELECT payload FROM landing.lab_results").fetchall()
        assert (stored[0]["lab_id"], stored[0]["lot_code"]) == (LAB, LOT)
        [alert_id] = _pipeline(conn)
        payload = conn.execute(
            "SELECT payload FROM core.alerts WHERE alert_id = %s", (alert_id,)).fetchone()[0]
        assert (payload["lot_code"], payload["analyte"], payload["test_kind"]) == (
            LOT, "omethoate", "confirmatory")
        # the value as reported (J33 = ug/kg), judged in mg/kg against the limit
        assert (payload["value"], payload["unit"]) == (250, "ug/kg")
        assert (payload["limit"], payload["limit_unit"]) == (0.02, "mg/kg")
        assert LOT in {x["lot_code"] for x in payload["affected_lots"]}
        # the source lots to investigate come from the GDST document's trace
        assert f"{DOMAIN}fisherman01.tuna.v1-0122-2022" in {
            x["lot_code"] for x in payload["source_lots"]}

        # a redelivered sensor document changes nothing; a report under the limit
        # raises nothing new
        assert _land(conn, LAB, _sensor_document(250, "J33"))[0] == 1
        assert conn.execute("SELECT count(*) FROM landing.lab_results").fetchone()[0] == 1
        _land(conn, LAB, _sensor_document(0.001, "NA"))
        assert _pipeline(conn) == []
        assert conn.execute("SELECT count(*) FROM core.alerts").fetchone()[0] == 1
