"""GET /events and GET /events/{eventID} over real HTTP against the real database (as
foodtrace_api): every supported parameter, keyset paging with the Link header,
tamper-evident page tokens, who sees what, and every response valid against GS1's
EPCIS 2.0 JSON Schema (formats checked too).

The chain below is written straight into core.events / core.event_lots, as
promotion writes them, so each filter has a known answer; the round trip test
(test_epcis_api_roundtrip.py) goes through MQTT and the real pipeline instead."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import psycopg
import pytest
from epcis_api_helpers import ApiServer, serving
from epcis_gs1 import assert_valid, schema_errors

from foodtrace.db import connect, migrate

ADMIN_URL = os.environ.get("FOODTRACE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
T0 = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)  # 06:00 on the 28th in Guangzhou
GS1_LOT = "(01)04012345123456(10)B7"
GTIN = "04012345123456"
SGTIN = "urn:epc:id:sgtin:4012345.012345.1001"
EPCIS_ID = "ni:///sha-256;5a1b7c?ver=CBV2.0"


def _mid(name: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"foodtrace-test:{name}")


# name: (hours after T0, actor, type, location, source, destination, ref, lots, kdes)
CHAIN = {
    "harvest": (0, "farm-zq-01", "harvesting", "FARM-ZQ-01", None, None, ("harvest_log", "H-1"),
                [("lot", "LOT-A", "CHOY-SUM", 120, "kg")], {}),
    "cool": (2, "farm-zq-01", "cooling", "FARM-ZQ-01", None, None, None,
             [("lot", "LOT-A", "CHOY-SUM", 120, "kg")], {}),
    "ship_farm": (24, "farm-zq-01", "shipping", "FARM-ZQ-01", None, "PACK-GZ-01", ("BOL", "B-1"),
                  [("lot", "LOT-A", "CHOY-SUM", 120, "kg")], {}),
    "receive_pack": (27, "packer-gz-01", "receiving", "PACK-GZ-01", "FARM-ZQ-01", None,
                     ("BOL", "B-1"), [("lot", "LOT-A", "CHOY-SUM", 118.5, "kg")], {}),
    "transform": (30, "packer-gz-01", "transformation", "PACK-GZ-01", None, None,
                  ("prodorder", "P-9"), [("input", "LOT-A", "CHOY-SUM", 118.5, "kg"),
                                         ("output", GS1_LOT, GTIN, 40, "case")], {}),
    "ship_pack": (48, "packer-gz-01", "shipping", "PACK-GZ-01", None, "MKT-GZ-01",
                  ("BOL", "B-2"), [("lot", GS1_LOT, GTIN, 40, "case")], {}),
    "receive_mkt": (52, "market-gz-01", "receiving", "MKT-GZ-01", "PACK-GZ-01", None,
                    ("BOL", "urn:epcglobal:cbv:bt:4012345000009:B-2"),
                    [("lot", GS1_LOT, GTIN, 40, "case")],
                    {"epcis_event": {"type": "ObjectEvent", "eventID": EPCIS_ID,
                                     "eventTimeZoneOffset": "+08:00", "epcList": [SGTIN]}}),
    "sell": (72, "market-gz-01", "sale", "MKT-GZ-01", None, None, None,
             [("lot", GS1_LOT, GTIN, 3, "case")], {}),
    "other_farm": (5, "farm-hz-09", "harvesting", "FARM-HZ-09", None, None, ("harvest_log", "X"),
                   [("lot", "LOT-Z", "PAK-CHOI", 50, "kg")], {}),
}


def _seed(url: str) -> None:
    with psycopg.connect(url) as conn:
        for name, (h, actor, kind, loc, src, dst, ref, lots, kdes) in CHAIN.items():
            at = T0 + timedelta(hours=h)
            conn.execute(
                "INSERT INTO core.events (message_id, event_time, actor_id, event_type, "
                " location_id, source_location_id, destination_location_id, "
                " reference_document_type, reference_document_number, kdes) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (_mid(name), at, actor, kind, loc, src, dst, ref and ref[0], ref and ref[1],
                 psycopg.types.json.Jsonb(kdes)),
            )
            for pos, (role, lot, product, qty, unit) in enumerate(lots):
                conn.execute(
                    "INSERT INTO core.event_lots VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    (_mid(name), at, role, pos, lot, product, qty, unit),
                )
        # the cooling was declared wrong by its sender (an EPCIS errorDeclaration)
        conn.execute(
            "INSERT INTO core.retractions (retracted_by_message_id, message_id, actor_id, "
            " declared_event_id, declaration_time, reason, corrective_event_ids) "
            "VALUES (%s, %s, 'farm-zq-01', %s, %s, 'incorrect_data', %s)",
            (_mid("cool#declared"), _mid("cool"), f"urn:uuid:{_mid('cool')}",
             T0 + timedelta(days=3), [f"urn:uuid:{_mid('harvest')}"]),
        )


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    name = f"ft_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = psycopg.conninfo.make_conninfo(ADMIN_URL, dbname=name)
    try:
        with connect(url) as conn:
            migrate(conn)
        _seed(url)
        with serving(url, tmp_path_factory.mktemp("api")) as server:
            yield server
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _events(api: ApiServer, sender: str = "regulator-gd", **params: str) -> list[dict]:
    with api.client(sender) as http:
        r = http.get("/events", params=params)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["type"] == "EPCISQueryDocument"
    assert_valid(doc)
    return doc["epcisBody"]["queryResults"]["resultsBody"]["eventList"]


def _ids(events: list[dict]) -> list[str]:
    by_id = {f"urn:uuid:{_mid(n)}": n for n in CHAIN} | {EPCIS_ID: "receive_mkt"}
    return [by_id[e["eventID"]] for e in events]


def _iso(dt: datetime) -> str:
    return dt.isoformat()


def test_everything_in_time_order_and_schema_valid(api) -> None:
    events = _events(api)
    assert _ids(events) == sorted(CHAIN, key=lambda n: (CHAIN[n][0], str(_mid(n))))
    harvest = events[0]
    assert harvest == {
        "type": "ObjectEvent",
        "eventTime": "2026-11-28T06:00:00+08:00",
        "eventTimeZoneOffset": "+08:00",
        "recordTime": harvest["recordTime"],
        "eventID": f"urn:uuid:{_mid('harvest')}",
        "action": "ADD",
        "bizStep": "commissioning",
        "quantityList": [{"epcClass": "urn:foodtrace:lot:CHOY-SUM:LOT-A", "quantity": 120,
                          "uom": "KGM"}],
        "bizLocation": {"id": "urn:foodtrace:loc:FARM-ZQ-01"},
        "bizTransactionList": [{"bizTransaction": "urn:foodtrace:bt:harvest_log:H-1"}],
    }
    by_name = dict(zip(_ids(events), events, strict=True))
    transform = by_name["transform"]
    assert transform["type"] == "TransformationEvent" and "bizStep" not in transform
    assert transform["inputQuantityList"] == [
        {"epcClass": "urn:foodtrace:lot:CHOY-SUM:LOT-A", "quantity": 118.5, "uom": "KGM"}]
    assert transform["outputQuantityList"] == [
        {"epcClass": f"https://id.gs1.org/01/{GTIN}/10/B7", "quantity": 40, "uom": "CS"}]
    assert by_name["ship_farm"]["destinationList"] == [
        {"type": "location", "destination": "urn:foodtrace:loc:PACK-GZ-01"}]
    assert by_name["ship_farm"]["bizTransactionList"] == [
        {"type": "bol", "bizTransaction": "urn:foodtrace:bt:BOL:B-1"}]
    assert by_name["receive_pack"]["sourceList"] == [
        {"type": "location", "source": "urn:foodtrace:loc:FARM-ZQ-01"}]
    assert (by_name["receive_pack"]["action"], by_name["sell"]["bizStep"]) == (
        "OBSERVE", "retail_selling")
    # captured as EPCIS: the sender's eventID and serials come back
    assert by_name["receive_mkt"]["epcList"] == [SGTIN]
    assert by_name["receive_mkt"]["bizTransactionList"] == [
        {"type": "bol", "bizTransaction": "urn:epcglobal:cbv:bt:4012345000009:B-2"}]


def test_each_parameter(api) -> None:
    day2 = T0 + timedelta(hours=24)
    assert _ids(_events(api, GE_eventTime=_iso(day2), LT_eventTime=_iso(day2 + timedelta(days=1)))) \
        == ["ship_farm", "receive_pack", "transform"]
    # an offset other than UTC means the same instant
    assert _ids(_events(api, GE_eventTime="2026-11-30T06:00:00+08:00")) == ["ship_pack",
                                                                            "receive_mkt", "sell"]
    assert set(_ids(_events(api, eventType="TransformationEvent"))) == {"transform"}
    assert len(_events(api, eventType="ObjectEvent")) == len(CHAIN) - 1
    assert _events(api, eventType="AggregationEvent") == []
    assert set(_ids(_events(api, EQ_bizStep="shipping"))) == {"ship_farm", "ship_pack"}
    assert set(_ids(_events(api, EQ_bizStep="https://ref.gs1.org/cbv/BizStep-receiving|"
                                            "urn:epcglobal:cbv:bizstep:retail_selling"))) == {
        "receive_pack", "receive_mkt", "sell"}
    assert set(_ids(_events(api, EQ_bizStep="commissioning", eventType="ObjectEvent"))) == {
        "harvest", "other_farm"}
    assert set(_ids(_events(api, EQ_bizLocation="urn:foodtrace:loc:PACK-GZ-01"))) == {
        "receive_pack", "transform", "ship_pack"}
    assert set(_ids(_events(api, MATCH_anyEPC=SGTIN))) == {"receive_mkt"}
    assert _events(api, MATCH_anyEPC="urn:epc:id:sgtin:4012345.012345.9999") == []
    assert set(_ids(_events(api, MATCH_anyEPCClass="urn:foodtrace:lot:CHOY-SUM:LOT-A"))) == {
        "harvest", "cool", "ship_farm", "receive_pack", "transform"}
    gs1_lot = {"transform", "ship_pack", "receive_mkt", "sell"}
    for form in (f"https://id.gs1.org/01/{GTIN}/10/B7", "urn:epc:class:lgtin:4012345.012345.B7"):
        assert set(_ids(_events(api, MATCH_anyEPCClass=form))) == gs1_lot
    for pattern in (f"https://id.gs1.org/01/{GTIN}/10/*", "urn:epc:idpat:lgtin:4012345.012345.*"):
        assert set(_ids(_events(api, MATCH_anyEPCClass=pattern))) == gs1_lot
    assert set(_ids(_events(api, MATCH_anyEPCClass="urn:foodtrace:lot:PAK-CHOI:*"))) == {
        "other_farm"}
    # filters combine
    assert _ids(_events(api, EQ_bizStep="shipping", EQ_bizLocation="urn:foodtrace:loc:FARM-ZQ-01",
                        MATCH_anyEPCClass="urn:foodtrace:lot:CHOY-SUM:LOT-A",
                        GE_eventTime=_iso(T0))) == ["ship_farm"]


def test_paging_follows_link_headers_and_refuses_altered_tokens(api) -> None:
    everything = _ids(_events(api, perPage="1000"))
    seen: list[str] = []
    pages = 0
    with api.client("regulator-gd") as http:
        url = "/events?perPage=2&GE_eventTime=" + quote(_iso(T0))
        while url:
            r = http.get(url)
            assert r.status_code == 200
            assert_valid(r.json())
            page = r.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
            assert 1 <= len(page) <= 2
            seen += _ids(page)
            pages += 1
            link = r.headers.get("Link")
            if link is None:
                break
            assert link.endswith('>; rel="next"')
            url = link[1:link.index(">")]
            assert "perPage=2" in url and "GE_eventTime" in url
        token = url.split("nextPageToken=")[1] if url else None
        assert seen == everything and pages == 5
        assert http.get("/events?perPage=30").headers.get("Link") is None
        # default page size 30, a larger perPage is served as at most 1000
        assert http.get("/events", params={"perPage": "5000"}).status_code == 200
        first = http.get("/events", params={"perPage": "2"})
        token = first.headers["Link"].split("nextPageToken=")[1].split(">")[0]
        ok = http.get(f"/events?perPage=2&nextPageToken={token}")
        assert ok.status_code == 200
        altered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        for bad in (f"/events?perPage=2&nextPageToken={altered}",
                    f"/events?perPage=3&nextPageToken={token}",  # another query
                    "/events?nextPageToken=garbage"):
            r = http.get(bad)
            assert r.status_code == 400, bad
            assert r.json()["type"] == "epcisException:QueryParameterException"
    with api.client("packer-gz-01") as other:  # another caller cannot replay it
        assert other.get(f"/events?perPage=2&nextPageToken={token}").status_code == 400


def test_bad_parameters_are_refused(api) -> None:
    with api.client("regulator-gd") as http:
        for params in ({"GE_eventTime": "yesterday"}, {"LT_eventTime": "2026-11-28T00:00:00"},
                       {"perPage": "0"}, {"perPage": "ten"}, {"EQ_disposition": "in_progress"},
                       {"MATCH_anyEPCClass": "urn:example:*"}):
            r = http.get("/events", params=params)
            assert r.status_code == 400, params
            assert r.headers["content-type"].startswith("application/problem+json")


def test_who_sees_what(api) -> None:
    # the packer: its own events, and those from or to its locations (the farm's
    # shipment to it, the market's receipt of what it shipped)
    assert set(_ids(_events(api, "packer-gz-01"))) == {
        "ship_farm", "receive_pack", "transform", "ship_pack", "receive_mkt"}
    assert set(_ids(_events(api, "farm-zq-01"))) == {"harvest", "cool", "ship_farm",
                                                     "receive_pack"}
    assert "other_farm" in _ids(_events(api, "regulator-gd"))
    with api.client("market-gz-01") as market:
        assert market.get(f"/events/urn:uuid:{_mid('harvest')}").status_code == 404
        mine = market.get("/events/" + quote(EPCIS_ID, safe=""))
        assert mine.status_code == 200


def test_one_event_by_id(api) -> None:
    with api.client("regulator-gd") as http:
        r = http.get(f"/events/urn:uuid:{_mid('transform')}")
        assert r.status_code == 200
        event = r.json()
        assert_valid(event)  # a stand-alone event carries its @context
        assert event["type"] == "TransformationEvent" and event["@context"]
        by_sender_id = http.get("/events/" + quote(EPCIS_ID, safe=""))
        assert by_sender_id.status_code == 200 and by_sender_id.json()["eventID"] == EPCIS_ID
        # its message id finds it as well
        assert http.get(f"/events/urn:uuid:{_mid('receive_mkt')}").json()["eventID"] == EPCIS_ID
        missing = http.get(f"/events/urn:uuid:{uuid.uuid4()}")
        assert missing.status_code == 404
        assert missing.json()["type"] == "epcisException:NoSuchResourceException"


def test_an_event_declared_wrong_comes_with_its_error_declaration(api) -> None:
    """EPCIS 2.0 7.4.1.4: after an errorDeclaration the query answers with the event
    carrying it, so that a peer tool stops counting it; EXISTS_errorDeclaration
    selects just those."""
    declared = {"declarationTime": "2026-12-01T06:00:00+08:00", "reason": "incorrect_data",
                "correctiveEventIDs": [f"urn:uuid:{_mid('harvest')}"]}
    by_name = dict(zip(_ids(events := _events(api)), events, strict=True))
    assert by_name["cool"]["errorDeclaration"] == declared
    assert [n for n, e in by_name.items() if "errorDeclaration" in e] == ["cool"]
    only = _events(api, EXISTS_errorDeclaration="")
    assert _ids(only) == ["cool"]
    with api.client("farm-zq-01") as farm:
        one = farm.get(f"/events/urn:uuid:{_mid('cool')}")
        assert one.status_code == 200
        assert_valid(one.json())
        assert one.json()["errorDeclaration"] == declared
        assert farm.get("/events", params={"EXISTS_errorDeclaration": "yes"}).status_code == 400


def test_the_schema_check_is_not_vacuous() -> None:
    """The validator the tests use refuses what GS1's schema refuses, formats included."""
    event = {"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
             "type": "ObjectEvent", "eventTime": "2026-11-28T06:00:00+08:00",
             "eventTimeZoneOffset": "+08:00", "action": "OBSERVE",
             "quantityList": [{"epcClass": "urn:foodtrace:lot:A:B", "quantity": 1}]}
    assert schema_errors(event) == []
    assert schema_errors({**event, "bizTransactionList": [{"bizTransaction": "BOL 1"}]})
    assert schema_errors({**event, "eventTime": "28/11/2026"})
    assert schema_errors({k: v for k, v in event.items() if k != "eventTimeZoneOffset"})
    assert schema_errors({**event, "quantityList": [{"epcClass": "x", "quantity": 1, "uom": "kg"}]})


def test_openapi_document(api) -> None:
    with httpx_client(api) as http:
        r = http.get("/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert {"/capture", "/capture/{capture_id}", "/events", "/events/{event_id}"} <= set(paths)
    names = {p["name"] for p in paths["/events"]["get"]["parameters"]}
    assert {"GE_eventTime", "LT_eventTime", "EQ_bizStep", "EQ_bizLocation", "MATCH_anyEPC",
            "MATCH_anyEPCClass", "eventType", "EXISTS_errorDeclaration", "perPage",
            "nextPageToken"} <= names


def httpx_client(api: ApiServer):
    return api.client(None)
