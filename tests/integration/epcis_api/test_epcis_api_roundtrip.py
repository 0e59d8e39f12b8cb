"""The round trip a peer tool makes: chain events sent as foodtrace JSON over the real
MQTT broker through the real consumer, validated and promoted by the real pipeline
step, queried as EPCIS 2.0 over HTTP, and mapped back with foodtrace's own EPCIS
mapping (`map_document`): the same lots, quantities, places, times and event types."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from devservices import MosquittoBroker
from epcis_api_helpers import rows, serving
from epcis_gs1 import assert_valid
from foodtrace.ingest.consumer import ConsumerConfig
from foodtrace.ingest.epcis import map_document
from ingest_helpers import Publisher, RunningConsumer, as_ingest_role, wait_until

from foodtrace.config import parse_mqtt_url
from foodtrace.pipeline.steps import validate_step

FARM = "farm-zq-01"
GTIN = "04012345123456"


def _chain(now: datetime) -> list[dict]:
    """A farm's day: harvest, cool, pack, ship, a receipt back from a field depot,
    a transformation into a GS1-coded lot, and a sale, with kg and each."""
    tag = uuid.uuid4().hex[:6].upper()
    lot_a, lot_b = f"LOT-{tag}-A", f"(01){GTIN}(10){tag}"
    start = now - timedelta(hours=12)

    def event(hours: float, kind: str, **fields) -> dict:
        return {
            "schema": "foodtrace/chain-event/v1",
            "message_id": str(uuid.uuid4()),
            "actor_id": FARM,
            "event_type": kind,
            "event_time": (start + timedelta(hours=hours)).astimezone(
                datetime.now().astimezone().tzinfo).isoformat(timespec="seconds"),
            "location_id": "FARM-ZQ-01",
            "reference_document": {"type": "BOL", "number": f"B-{tag}-{kind}"},
            **fields,
        }

    a = [{"lot_code": lot_a, "product_code": "CHOY-SUM", "quantity": 120, "unit": "kg"}]
    b = [{"lot_code": lot_b, "product_code": GTIN, "quantity": 48, "unit": "each"}]
    return [
        event(0, "harvesting", lots=a, tlc_source_location_id="FARM-ZQ-01"),
        event(1, "cooling", lots=a),
        event(2, "initial_packing", lots=a, tlc_source_location_id="FARM-ZQ-01"),
        event(3, "shipping", lots=a, destination_location_id="DEPOT-ZQ-02"),
        event(5, "receiving", lots=[{**a[0], "quantity": 119.5}],
              source_location_id="DEPOT-ZQ-02"),
        event(6, "transformation", inputs=[{**a[0], "quantity": 119.5}], outputs=b,
              tlc_source_location_id="FARM-ZQ-01"),
        event(8, "sale", lots=[{**b[0], "quantity": 6}]),
    ]


def _shape(chain_event: dict) -> tuple:
    """What must survive the trip (ids and reference documents are renamed)."""
    def lots(key: str) -> tuple:
        return tuple(sorted((x["lot_code"], x["product_code"], Decimal(str(x["quantity"])),
                             x["unit"]) for x in chain_event.get(key) or ()))

    return (
        chain_event["event_type"],
        datetime.fromisoformat(chain_event["event_time"]).astimezone(UTC),
        chain_event["location_id"],
        chain_event.get("source_location_id"),
        chain_event.get("destination_location_id"),
        lots("lots"), lots("inputs"), lots("outputs"),
    )


def test_foodtrace_json_over_mqtt_comes_back_as_epcis(own_broker: MosquittoBroker,
                                                     fresh_db_url: str, tmp_path: Path) -> None:
    sent = _chain(datetime.now(UTC).replace(microsecond=0))
    consumer = RunningConsumer(ConsumerConfig(
        database_url=as_ingest_role(fresh_db_url),
        mqtt=parse_mqtt_url(own_broker.url("foodtrace-ingest")),
        worker_id=f"t{uuid.uuid4().hex[:8]}", batch_ms=50)).start()
    farm = Publisher(own_broker.url(FARM))
    try:
        farm.send(f"foodtrace/v1/chain/{FARM}/events", sent)
        wait_until(lambda: rows(fresh_db_url, "SELECT count(*) FROM landing.chain_events")[0][0]
                   == len(sent))
    finally:
        farm.close()
        consumer.stop()
    validate_step(fresh_db_url, report_dir=tmp_path / "reports")
    promoted = rows(fresh_db_url, "SELECT count(*) FROM core.events")[0][0]
    assert promoted == len(sent), rows(fresh_db_url, "SELECT reasons FROM landing.quarantine")

    with serving(fresh_db_url, tmp_path) as api, api.client(FARM) as http:
        r = http.get("/events", params={"perPage": "3"})
        documents = [r.json()]
        while "Link" in r.headers:
            r = http.get(r.headers["Link"][1:r.headers["Link"].index(">")])
            documents.append(r.json())
    for doc in documents:
        assert_valid(doc)
    events = [e for d in documents for e in d["epcisBody"]["queryResults"]["resultsBody"]["eventList"]]
    assert len(events) == len(sent)

    # a peer sends the query result back as its own EPCISDocument
    document = {"@context": documents[0]["@context"], "type": "EPCISDocument",
                "schemaVersion": "2.0", "creationDate": documents[0]["creationDate"],
                "epcisBody": {"eventList": events}}
    assert_valid(document)
    mapped = map_document(json.loads(json.dumps(document)), FARM)
    problems = [(m.index, [r.as_dict() for r in m.reasons]) for m in mapped
                if m.chain_event is None]
    assert not problems, f"events the mapping could not read back: {problems}"
    assert sorted(_shape(m.chain_event) for m in mapped) == sorted(_shape(e) for e in sent)


