"""`foodtrace export fsma LOT`: messages through the real edge, landing, validation
and linking on the real database, then the workbook and CSVs read back and checked
against the trace.

    EPCIS harvest of lot A at the farm, 05:10 +08:00 on 28 Nov (no next recipient)
    shipping A farm -> market, 06:30 +08:00 on 28 Nov (22:30 UTC on the 27th)
    receiving A at the market, 09:00 +08:00
    shipping A market -> shop, sent in UTC ('Z': the local offset not recorded)
    receiving A at the shop (a shop without the optional master data), sale there
    an EPCIS shipping of A market -> shop2, then declared wrong (errorDeclaration)
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from foodtrace.ingest.edge import check_message
from foodtrace.ingest.landing import LandingItem, write_batch
from openpyxl import load_workbook

from foodtrace.db import connect
from foodtrace.fsma import export
from foodtrace.fsma.layout import TABS
from foodtrace.fsma.rows import EXCEL_CELL_LIMIT
from foodtrace.fsma.times import OFFSET_NOT_RECORDED
from foodtrace.trace.api import trace
from foodtrace.trace.link import link
from foodtrace.validate.promote import validate_and_promote

FARM = "urn:epc:id:sgln:6901234.00001.0"
LOT = "(01)06901234123456(10)LOTA"
PRODUCT = "06901234123456"
EPCIS_EVENT_ID = "urn:uuid:0b7e4f6a-3c2d-4e1f-9a8b-7c6d5e4f3a2b"


def _send(conn: psycopg.Connection, topic: str, payload: Any) -> None:
    raw = json.dumps(payload, ensure_ascii=False).encode()
    result = check_message(topic, raw)
    assert not result.rejected, [r.reasons for r in result.rejected]
    write_batch(conn, [LandingItem(result, datetime.now(UTC), raw=raw)], "test-worker")


def _event(actor: str, event_type: str, at: str, when: str, doc: str, **fields: Any) -> dict:
    return {"schema": "foodtrace/chain-event/v1", "message_id": str(uuid.uuid4()),
            "actor_id": actor, "event_type": event_type, "event_time": when, "location_id": at,
            "reference_document": {"type": "BOL", "number": doc}, **fields}


def _harvest_document() -> dict:
    """An EPCIS harvest (commissioning) whose event is longer than an Excel cell."""
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
                     {"ex": "https://example.org/farm/"}],
        "type": "EPCISDocument", "schemaVersion": "2.0",
        "creationDate": "2026-11-28T06:00:00+08:00",
        "epcisBody": {"eventList": [{
            "type": "ObjectEvent", "eventID": EPCIS_EVENT_ID,
            "eventTime": "2026-11-28T05:10:00+08:00", "eventTimeZoneOffset": "+08:00",
            "action": "ADD", "bizStep": "commissioning", "disposition": "active",
            "quantityList": [{"epcClass": "urn:epc:class:lgtin:6901234.012345.LOTA",
                              "quantity": 500, "uom": "KGM"}],
            "bizLocation": {"id": FARM}, "readPoint": {"id": FARM},
            "bizTransactionList": [{"type": "po",
                                    "bizTransaction": "urn:epcglobal:cbv:bt:6901234000017:PO-1"}],
            "ex:fieldLog": "浇水记录 irrigation log; " * 2000,
        }]},
    }


def _wrong_shipment(market: str, shop2: str, *, declared: bool) -> dict:
    """A shipping the market sends, and later declares wrong (the same event with an
    errorDeclaration): it leaves the trace and the spreadsheet."""
    event = {
        "type": "ObjectEvent", "eventID": "urn:uuid:5d2c7a10-1111-4e1f-9a8b-7c6d5e4f3a2b",
        "eventTime": "2026-11-28T10:00:00+08:00", "eventTimeZoneOffset": "+08:00",
        "action": "OBSERVE", "bizStep": "shipping", "disposition": "in_transit",
        "quantityList": [{"epcClass": "urn:epc:class:lgtin:6901234.012345.LOTA",
                          "quantity": 20, "uom": "KGM"}],
        "bizLocation": {"id": market}, "readPoint": {"id": market},
        "sourceList": [{"type": "location", "source": market}],
        "destinationList": [{"type": "location", "destination": shop2}],
        "bizTransactionList": [{"type": "bol", "bizTransaction": "BOL-WRONG"}],
    }
    if declared:
        event["errorDeclaration"] = {"declarationTime": "2026-11-28T11:00:00+08:00",
                                     "reason": "incorrect_data"}
    return {"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
            "type": "EPCISDocument", "schemaVersion": "2.0",
            "creationDate": "2026-11-28T11:00:00+08:00", "epcisBody": {"eventList": [event]}}


def _land_the_story(conn: psycopg.Connection, p: str) -> dict[str, str]:
    market, shop = f"{p}-market", f"{p}-shop"
    _send(conn, "foodtrace/v1/registry/locations", [
        {"schema": "foodtrace/location/v1", "message_id": str(uuid.uuid4()), "location_id": FARM,
         "name": "Sihui Choy Sum Growers' Cooperative", "kind": "farm", "city": "zhaoqing",
         "lat": 23.21, "lon": 112.4, "business_name": "肇庆市四会市菜心种植专业合作社",
         "address": "广东省肇庆市四会市人民路111号", "postal_code": "526200",
         "phone": "+86 758 4146 2019", "country": "CN"},
        {"schema": "foodtrace/location/v1", "message_id": str(uuid.uuid4()), "location_id": market,
         "name": "Baiyun Wholesale Market", "kind": "wholesale_market", "city": "guangzhou",
         "lat": 23.2, "lon": 113.27, "business_name": "广州市白云区农产品批发市场",
         "address": "广东省广州市白云区机场路18号", "postal_code": "510405",
         "phone": "+86 20 8666 1234", "country": "CN"},
        # master data as senders wrote it before the optional fields existed
        {"schema": "foodtrace/location/v1", "message_id": str(uuid.uuid4()), "location_id": shop,
         "name": "Futian Fresh Mart", "kind": "retailer", "city": "shenzhen",
         "lat": 22.54, "lon": 114.06},
    ])
    _send(conn, "foodtrace/v1/registry/products", {
        "schema": "foodtrace/product/v1", "message_id": str(uuid.uuid4()), "product_code": PRODUCT,
        "name": "Choy sum 菜心", "category": "brassica_vegetables", "brand": "岭南鲜",
        "commodity": "菜心 choy sum", "variety": "四九菜心", "pack_size": "10 kg",
        "pack_style": "塑料周转筐 plastic crate"})
    _send(conn, "foodtrace/v1/epcis/farm-x", _harvest_document())
    line = {"lot_code": LOT, "product_code": PRODUCT, "quantity": 500, "unit": "kg"}
    events = [
        ("farm-x", _event("farm-x", "shipping", FARM, "2026-11-28T06:30:00+08:00", f"{p}-B1",
                          lots=[line], destination_location_id=market,
                          tlc_source_location_id=FARM)),
        (market, _event(market, "receiving", market, "2026-11-28T09:00:00+08:00", f"{p}-B1",
                        lots=[line], source_location_id=FARM, tlc_source_location_id=FARM)),
        (market, _event(market, "shipping", market, "2026-11-28T03:00:00Z", f"{p}-B2",
                        lots=[{**line, "quantity": 40}], destination_location_id=shop)),
        (shop, _event(shop, "receiving", shop, "2026-11-28T13:00:00+08:00", f"{p}-B2",
                      lots=[{**line, "quantity": 40}], source_location_id=market)),
        (shop, _event(shop, "sale", shop, "2026-11-28T18:00:00+08:00", f"{p}-S1",
                      lots=[{**line, "quantity": 3}])),
    ]
    for actor, event in events:
        _send(conn, f"foodtrace/v1/chain/{actor}/events", event)
    _send(conn, f"foodtrace/v1/epcis/{market}",
          _wrong_shipment(market, f"{p}-shop2", declared=False))
    validate_and_promote(conn, write_reports=False)
    link(conn)
    assert f"{p}-shop2" in {x.location_id for x in trace(conn, LOT, "both").locations}
    _send(conn, f"foodtrace/v1/epcis/{market}",
          _wrong_shipment(market, f"{p}-shop2", declared=True))
    validate_and_promote(conn, write_reports=False)
    link(conn)
    assert conn.execute("SELECT count(*) FROM core.retractions").fetchone()[0] == 1
    return {"market": market, "shop": shop}


def _export(url: str, out: Path) -> dict:
    env = {**os.environ, "FOODTRACE_DATABASE_URL": url}
    done = subprocess.run(
        [sys.executable, "-m", "foodtrace.cli.main", "export", "fsma", LOT, "--out", str(out),
         "--csv", str(out / "csv"), "--json"],
        env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _sheet(book, key: str) -> list[dict[str, Any]]:
    tab = next(t for t in TABS if t.key == key)
    ws = book[tab.title]
    rows = list(ws.iter_rows(values_only=True))
    assert list(rows[0]) == [c.heading for c in tab.columns]
    keys = [c.key for c in tab.columns]
    return [dict(zip(keys, r, strict=True)) for r in rows[1:]]


def test_the_spreadsheet_as_fda_lays_it_out(fresh_db_url: str, tmp_path: Path) -> None:
    p = f"F{uuid.uuid4().hex[:6]}"
    with connect(fresh_db_url) as conn:
        places = _land_the_story(conn, p)
        traced = trace(conn, LOT, "both")
        events = conn.execute(  # the retracted shipping stays in core.events, for audit
            "SELECT e.event_type, count(*) FROM core.events e JOIN core.event_lots el "
            "ON el.message_id = e.message_id WHERE el.lot_code = %s AND NOT EXISTS "
            "(SELECT 1 FROM core.retractions r WHERE r.message_id = e.message_id) "
            "GROUP BY 1", (LOT,)).fetchall()
        findings = conn.execute(
            "SELECT count(*) FROM core.findings f WHERE f.message_id IN "
            "(SELECT message_id FROM core.event_lots WHERE lot_code = %s) AND f.message_id NOT IN "
            "(SELECT message_id FROM core.retractions)", (LOT,)).fetchone()[0]
    result = _export(fresh_db_url, tmp_path / "x")
    assert result["lots"] == sorted({traced.lot.lot_code}
                                    | {x.lot_code for x in [*traced.upstream, *traced.downstream]})

    book = load_workbook(result["xlsx"])
    assert book.sheetnames == [t.title for t in TABS] and len(book.sheetnames) == 13
    assert book.sheetnames[0] == "说明 Read me"
    counts = {f["tab"]: f["rows"] for f in result["files"]}
    expected = {"harvesting": 0, "cooling": 0, "initial_packing": 0, "first_receiving": 0,
                "shipping": 0, "receiving": 0, "transformation": 0, "sale": 0}
    expected.update(dict(events))
    assert {k: counts[k] for k in expected} == expected == {
        **expected, "harvesting": 1, "shipping": 2, "receiving": 2, "sale": 1}
    assert (counts["locations"], counts["products"], counts["documents"]) == (3, 1, 1)
    assert counts["findings"] == findings
    assert "BOL-WRONG" not in json.dumps([list(r) for r in book["发运 Shipping"].values])
    for tab in TABS:  # the workbook holds what the JSON says, the CSVs the same cells
        assert book[tab.title].max_row == 1 + counts[tab.key], tab.key
        with open(tmp_path / "x" / "csv" / f"{tab.key}.csv", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
        assert rows[0] == [c.heading for c in tab.columns] and len(rows) == 1 + counts[tab.key]

    # the early-morning shipment is dated as on its bill of lading, with UTC beside it
    ships = _sheet(book, "shipping")
    first = next(r for r in ships if r["reference_document_number"] == f"{p}-B1")
    assert (first["date_local"], first["time_local"], first["utc_offset"],
            first["datetime_utc"]) == ("2026-11-28", "06:30:00", "+08:00", "2026-11-27T22:30:00Z")
    # a time sent in UTC only: the local date is not invented
    second = next(r for r in ships if r["reference_document_number"] == f"{p}-B2")
    assert (second["date_local"], second["utc_offset"], second["datetime_utc"]) == (
        OFFSET_NOT_RECORDED, OFFSET_NOT_RECORDED, "2026-11-28T03:00:00Z")
    # location descriptions from master data: the ship-from farm and the ship-to market
    assert (first["location_business_name"], first["location_phone"],
            first["location_postal_code"], first["location_city"], first["location_region"],
            first["location_country"]) == ("肇庆市四会市菜心种植专业合作社", "+86 758 4146 2019",
                                            "526200", "肇庆市 Zhaoqing", "广东省 Guangdong", "CN")
    assert (first["ship_to_location_id"], first["ship_to_business_name"],
            first["ship_to_address"]) == (places["market"], "广州市白云区农产品批发市场",
                                          "广东省广州市白云区机场路18号")
    # the product description
    assert (first["brand"], first["commodity"], first["variety"], first["pack_size"],
            first["pack_style"]) == ("岭南鲜", "菜心 choy sum", "四九菜心", "10 kg",
                                     "塑料周转筐 plastic crate")

    # the EPCIS harvest named no next recipient: derived from the lot's first shipping
    [harvest] = _sheet(book, "harvesting")
    assert harvest["next_recipient_location_id"] == places["market"]
    assert harvest["next_recipient_business_name"] == "广州市白云区农产品批发市场"
    assert "next recipient" in harvest["derived_kdes"]
    ws = book["收获 Harvesting"]
    col = 1 + [c.key for c in TABS[1].columns].index("next_recipient_location_id")
    assert ws.cell(row=2, column=col).fill.start_color.rgb.endswith("FFF2CC")  # shaded
    assert (harvest["date_local"], harvest["utc_offset"]) == ("2026-11-28", "+08:00")
    assert harvest["source_document"]

    # a shop sent without the optional fields: its name stands in, the gaps are listed
    locations = {r["location_location_id"]: r for r in _sheet(book, "locations")}
    assert set(locations) == {FARM, places["market"], places["shop"]}
    assert locations[places["shop"]]["location_business_name"] == "Futian Fresh Mart"
    assert locations[places["shop"]]["missing"] == "business_name, phone, address, postal_code"
    assert not locations[FARM]["missing"]  # an empty cell

    # the EPCIS event is longer than a cell: referenced, not pasted
    [doc] = _sheet(book, "documents")
    assert doc["epcis_event_id"] == EPCIS_EVENT_ID and doc["characters"] > EXCEL_CELL_LIMIT
    assert "not pasted" in doc["epcis_event"] and EPCIS_EVENT_ID in doc["where"]
    for ws in book.worksheets:
        assert all(len(str(c.value or "")) <= EXCEL_CELL_LIMIT for row in ws.iter_rows()
                   for c in row)

    # the explanation sheet lists every tab and every column of it
    readme = _sheet(book, "readme")
    assert {r["tab"] for r in readme} >= {t.title for t in TABS}
    ship_tab = next(t for t in TABS if t.key == "shipping")
    assert {r["column"] for r in readme if r["tab"] == ship_tab.title} >= {
        c.heading for c in ship_tab.columns}


def test_the_read_only_role_can_export(fresh_db_url: str, tmp_path: Path) -> None:
    """Regulators export with the reader role (SELECT on core only), not the pipeline's."""
    with connect(fresh_db_url) as conn:
        places = _land_the_story(conn, f"R{uuid.uuid4().hex[:6]}")
        conn.commit()
        conn.execute("SET ROLE foodtrace_reader")
        result = export(conn, LOT, tmp_path / "r")
    counts = {f["tab"]: f["rows"] for f in result.files}
    assert (counts["shipping"], counts["locations"]) == (2, 3), counts
    assert places["shop"] in (tmp_path / "r" / "locations.csv").read_text(encoding="utf-8-sig")


def test_unknown_lot(fresh_db_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "FOODTRACE_DATABASE_URL": fresh_db_url}
    out = subprocess.run(
        [sys.executable, "-m", "foodtrace.cli.main", "export", "fsma", "NO-SUCH-LOT", "--out",
         str(tmp_path)], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 3 and "NO-SUCH-LOT" in out.stderr
