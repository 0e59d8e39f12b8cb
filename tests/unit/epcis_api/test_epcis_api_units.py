"""The pure parts of the EPCIS REST interface: the tokens file, page tokens, the
query parameters, and rendering (every chain event type valid against GS1's
EPCIS 2.0 JSON Schema, and read back by foodtrace's own EPCIS mapping)."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from epcis_gs1 import assert_valid

from foodtrace.config import ConfigError
from foodtrace.epcis_api import paging
from foodtrace.epcis_api.auth import TokenStore, parse_tokens, token_digest
from foodtrace.epcis_api.problems import Problem
from foodtrace.epcis_api.query import parse_query
from foodtrace.epcis_api.render import (
    OBJECT_EVENTS,
    EventRow,
    LotLine,
    biz_transaction,
    query_document,
    render_event,
)

T = datetime(2026, 11, 28, 1, 30, tzinfo=UTC)


def test_tokens_file_both_forms(tmp_path: Path) -> None:
    a, b = token_digest("tok-a"), token_digest("tok-b")
    lines = parse_tokens(f"# comment\n{a} farm-zq-01\n\n{b} regulator-gd regulator\n"
                         f"{token_digest('tok-c')} market-gz-01 actor MKT-GZ-01,MKT-GZ-02\n")
    assert [(e.principal.actor_id, e.principal.role, e.principal.locations) for e in lines] == [
        ("farm-zq-01", "actor", ()), ("regulator-gd", "regulator", ()),
        ("market-gz-01", "actor", ("MKT-GZ-01", "MKT-GZ-02"))]
    mapping = parse_tokens(json.dumps({a: "farm-zq-01"}))
    listed = parse_tokens(json.dumps([{"sha256": b, "actor_id": "regulator-gd",
                                       "role": "regulator"}]))
    assert mapping[0].principal.actor_id == "farm-zq-01" and listed[0].principal.regulator
    for bad in ("tok-a farm-zq-01", f"{a} farm zq", f"{a} farm-zq-01 boss",
                json.dumps({a: "bad id!"}), "[1]"):
        with pytest.raises(ConfigError):
            parse_tokens(bad)


def test_token_store_authenticates_and_reloads(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "tokens"
    path.write_text(f"{token_digest('secret-1')} farm-zq-01\n")
    store = TokenStore(path)
    assert store.authenticate("secret-1").actor_id == "farm-zq-01"
    assert store.authenticate("secret-2") is None
    assert store.authenticate(hashlib.sha256(b"secret-1").hexdigest()) is None
    path.write_text(f"{token_digest('secret-2')} packer-gz-01\n")
    import os
    os.utime(path, ns=(1, 1))  # a different mtime whatever the clock's resolution
    monkeypatch.setattr("foodtrace.epcis_api.auth.RELOAD_CHECK_S", 0.0)
    assert store.authenticate("secret-1") is None  # revoked
    assert store.authenticate("secret-2").actor_id == "packer-gz-01"
    with pytest.raises(ConfigError):
        TokenStore(tmp_path / "missing")


def test_page_tokens_are_tamper_evident() -> None:
    key = b"k" * 32
    pos = paging.Position(T, uuid.uuid4())
    digest = paging.query_digest(["farm-zq-01", "actor", "perPage=2"])
    token = paging.encode(key, pos, digest)
    assert paging.decode(key, token, digest) == pos
    _body, mac = token.split(".")
    forged_body = paging._b64(json.dumps([T.isoformat(), str(uuid.uuid4()), digest]).encode())
    for bad, bound, k in ((token, digest, b"x" * 32), (f"{forged_body}.{mac}", digest, key),
                          (token, paging.query_digest(["other"]), key), ("x.y", digest, key),
                          ("no-dot", digest, key)):
        with pytest.raises(paging.BadPageToken):
            paging.decode(k, bad, bound)


def test_query_parameters() -> None:
    q = parse_query([("GE_eventTime", "2026-11-28T00:00:00+08:00"), ("eventType", "ObjectEvent"),
                     ("EQ_bizStep", "receiving|https://ref.gs1.org/cbv/BizStep-shipping"),
                     ("EQ_bizLocation", "urn:foodtrace:loc:MKT-GZ-01|urn:epc:id:sgln:1.2.3"),
                     ("MATCH_anyEPCClass", "https://id.gs1.org/01/04012345123456/10/L1|"
                                           "urn:foodtrace:lot:CHOY-SUM:*"),
                     ("perPage", "5000")])
    assert q.ge_time == datetime(2026, 11, 27, 16, tzinfo=UTC)
    assert q.types == {"first_receiving", "receiving", "shipping"}
    assert q.locations == ("MKT-GZ-01", "urn:epc:id:sgln:1.2.3")
    assert q.lots == ("(01)04012345123456(10)L1",) and q.products == ("CHOY-SUM",)
    assert q.per_page == 1000
    assert parse_query([("eventType", "TransformationEvent"), ("EQ_bizStep", "shipping")]).types \
        == frozenset()
    for bad in ([("GE_eventTime", "2026-11-28")], [("perPage", "-1")], [("foo", "1")],
                [("eventType", "ObjectEvent"), ("eventType", "TransformationEvent")]):
        with pytest.raises(Problem):
            parse_query(bad)


def _row(event_type: str, **fields) -> EventRow:
    lots = fields.pop("lots", None)
    if lots is None:
        if event_type == "transformation":
            lots = (LotLine("input", "LOT-A", "CHOY-SUM", Decimal("10.5"), "kg"),
                    LotLine("output", "(01)04012345123456(10)B1", "04012345123456", 4, "case"))
        else:
            lots = (LotLine("lot", "LOT-A", "CHOY-SUM", Decimal(120), "kg"),
                    LotLine("lot", "LOT-B", "CHOY-SUM", Decimal(3), "each"))
    base = dict(message_id=uuid.uuid4(), event_time=T, event_type=event_type,
                location_id="FARM-ZQ-01", source_location_id=None, destination_location_id=None,
                reference_document_type="BOL", reference_document_number="B 1/2",
                promoted_at=T + timedelta(minutes=3), lots=lots)
    if event_type == "shipping":
        base["destination_location_id"] = "urn:epc:id:sgln:4012345.00099.0"
    if event_type == "receiving":
        base["source_location_id"] = "PACK-GZ-01"
    base.update(fields)
    return EventRow(**base)


@pytest.mark.parametrize("event_type", [*OBJECT_EVENTS, "transformation"])
def test_every_event_type_renders_valid_and_maps_back(event_type: str) -> None:
    from foodtrace.ingest.epcis import map_document

    row = _row(event_type)
    event = render_event(row, "+08:00")
    assert event["eventTime"] == "2026-11-28T09:30:00+08:00"
    assert_valid(render_event(row, "+08:00", with_context=True))
    doc = query_document([event], T)
    assert_valid(doc)
    back = map_document({**doc, "type": "EPCISDocument",
                         "epcisBody": {"eventList": [event]}}, "farm-zq-01")
    assert len(back) == 1
    chain = back[0].chain_event
    # first_receiving goes out as receiving ADD, which the mapping reads as receiving
    # unless the event shows seafood (21 CFR 1.1335)
    if event_type == "first_receiving":
        assert chain is None or chain["event_type"] in ("first_receiving", "receiving")
        return
    assert chain is not None, back[0].reasons
    assert chain["event_type"] == event_type
    assert datetime.fromisoformat(chain["event_time"]) == T
    assert chain["location_id"] == "FARM-ZQ-01"
    key = "outputs" if event_type == "transformation" else "lots"
    got = {(x["lot_code"], x["product_code"], x["unit"]) for x in chain[key]}
    want = {(x.lot_code, x.product_code, x.unit) for x in row.lots
            if x.role == ("output" if event_type == "transformation" else "lot")}
    assert got == want


def test_references_and_ids() -> None:
    assert biz_transaction("BOL", "B-1") == {"type": "bol", "bizTransaction": "urn:foodtrace:bt:BOL:B-1"}
    assert biz_transaction("harvest_log", "urn:x:1") == {"bizTransaction": "urn:x:1"}
    assert biz_transaction(None, None) is None
    row = _row("sale", epcis_event_id="ni:///sha-256;ab?ver=CBV2.0", epcis_offset="-05:00")
    event = render_event(row, "+08:00")
    assert event["eventID"] == "ni:///sha-256;ab?ver=CBV2.0"
    assert event["eventTimeZoneOffset"] == "-05:00" and event["eventTime"].endswith("-05:00")
    not_uri = render_event(_row("sale", epcis_event_id="my id 7"), "+08:00")
    assert not_uri["eventID"].startswith("urn:uuid:")


def test_a_pallet_goes_back_as_the_sscc_its_sender_listed() -> None:
    """A shipping of an SSCC alone (its contents in another document) is stored with
    the pallet as a lot line; the query renders the SSCC in epcList, as sent, and
    reading the answer back gives the same pallet line."""
    from foodtrace.ingest.epcis import map_document
    from foodtrace.ingest.epcis_lines import CONTAINER_PRODUCT

    sscc = "urn:epc:id:sscc:4012345.0000000333"
    pallet = map_document({"type": "EPCISDocument", "epcisBody": {"eventList": [{
        "type": "ObjectEvent", "eventTime": "2026-11-28T09:30:00+08:00",
        "eventTimeZoneOffset": "+08:00", "action": "OBSERVE", "bizStep": "shipping",
        "epcList": [sscc], "bizLocation": {"id": "urn:foodtrace:loc:FARM-ZQ-01"},
        "destinationList": [{"type": "location", "destination": "urn:foodtrace:loc:M"}]}]}},
        "farm-zq-01")[0].chain_event
    assert pallet is not None and pallet["kdes"]["epcis_containers"]
    [line] = pallet["lots"]
    assert line["product_code"] == CONTAINER_PRODUCT
    row = _row("shipping", lots=(LotLine("lot", line["lot_code"], CONTAINER_PRODUCT, 1, "each"),),
               epcs={"epcList": (sscc,)})
    event = render_event(row, "+08:00")
    assert event["epcList"] == [sscc] and "quantityList" not in event
    assert_valid(render_event(row, "+08:00", with_context=True))
    back = map_document({"type": "EPCISDocument", "epcisBody": {"eventList": [event]}},
                        "farm-zq-01")[0].chain_event
    assert back is not None and back["lots"] == pallet["lots"]
