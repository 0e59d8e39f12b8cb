"""Lot lines of one EPCIS event (ingest/epcis_lines.py): line by line, pallets by time."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from foodtrace.ingest.epcis_lines import (
    CONTAINER_PRODUCT,
    MAX_NESTING,
    Containment,
    containers,
    containment_rows,
    lot_lines,
)
from foodtrace.ingest.schema_check import instant as parse_time

LOT = "urn:epc:class:lgtin:4012345.012345.A1"
LOT_CODE = "(01)04012345123456(10)A1"
SSCC = "urn:epc:id:sscc:0614141.1234567890"
PALLET = "(00)106141412345678908"  # the same SSCC as linking names it


def _agg(at: str, action: str, parent: str = SSCC, children: list[str] | None = None,
         quantities: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"type": "AggregationEvent", "eventTime": at, "action": action, "parentID": parent,
            "childEPCs": children or [], "childQuantityList": quantities or []}


def _at(text: str) -> datetime:
    moment = parse_time(text)
    assert moment is not None
    return moment


def test_lines_of_one_lot_add_up_and_bad_lines_are_findings() -> None:
    findings: list[str] = []
    event = {"quantityList": [{"epcClass": LOT, "quantity": 2, "uom": "KGM"},
                              {"epcClass": LOT, "quantity": 500, "uom": "GRM"},
                              {"epcClass": "urn:epc:idpat:sgtin:4012345.012345.*", "quantity": 1},
                              "junk"],
             "epcList": ["https://id.gs1.org/01/04012345123456/10/A1/21/7",
                         "https://id.gs1.org/01/04012345123456/10/A1/21/8"]}
    lines = lot_lines(event, "quantityList", "epcList", None, None, Containment([]), findings)
    assert lines == [
        {"lot_code": LOT_CODE, "product_code": "04012345123456", "quantity": 2.5, "unit": "kg"},
        {"lot_code": LOT_CODE, "product_code": "04012345123456", "quantity": 2, "unit": "each"},
    ]
    assert [f.split(":")[0].split(" ")[0] for f in findings] == ["quantityList[2]",
                                                                 "quantityList[3]"]


def test_a_pallet_holds_what_was_put_in_and_not_yet_taken_out() -> None:
    other = "urn:epc:class:lgtin:4012345.012345.B2"
    containment = Containment([
        _agg("2026-11-20T10:00:00+08:00", "DELETE"),  # later: empties the pallet
        _agg("2026-11-20T08:00:00+08:00", "ADD", quantities=[
            {"epcClass": LOT, "quantity": 3, "uom": "KGM"},
            {"epcClass": other, "quantity": 4, "uom": "KGM"}]),
        _agg("2026-11-20T09:00:00+08:00", "DELETE", quantities=[{"epcClass": other}]),
    ])
    assert containment.contents("urn:epc:id:sscc:0614141.0000000000", None) is None
    assert containment.contents(SSCC, _at("2026-11-20T07:00:00+08:00")) == ([], [])
    _epcs, quantities = containment.contents(SSCC, _at("2026-11-20T08:30:00+08:00"))
    assert [q["epcClass"] for q in quantities] == [LOT, other]
    _epcs, quantities = containment.contents(SSCC, _at("2026-11-20T09:30:00+08:00"))
    assert [q["epcClass"] for q in quantities] == [LOT]
    assert containment.contents(SSCC, _at("2026-11-20T11:00:00+08:00")) == ([], [])


def test_pallets_in_pallets_are_followed_to_a_depth() -> None:
    parents = [f"urn:epc:id:sscc:0614141.{i:010d}" for i in range(MAX_NESTING + 2)]
    events = [_agg("2026-11-20T08:00:00+08:00", "ADD", parent=p, children=[c])
              for p, c in itertools.pairwise(parents)]
    events.append(_agg("2026-11-20T08:00:00+08:00", "ADD", parent=parents[2],
                       quantities=[{"epcClass": LOT, "quantity": 1, "uom": "KGM"}]))
    at = "2026-11-20T09:00:00+08:00"
    findings: list[str] = []
    ship = {"epcList": [parents[0]], "eventTime": at}
    lines = lot_lines(ship, "quantityList", "epcList", None, _at(at), Containment(events), findings)
    assert [(line["lot_code"], line["quantity"]) for line in lines] == [(LOT_CODE, 1)]
    assert any(f"nested more than {MAX_NESTING} deep" in f for f in findings)


def test_a_pallet_another_document_fills_is_a_line_of_its_own() -> None:
    """Its contents come from an AggregationEvent of any document, at link time."""
    findings: list[str] = []
    event = {"epcList": [SSCC, "https://id.gs1.org/00/106141411234567894"]}
    lines = lot_lines(event, "quantityList", "epcList", None, None, Containment([]), findings)
    assert lines == [
        {"lot_code": PALLET, "product_code": CONTAINER_PRODUCT, "quantity": 1, "unit": "each"},
        {"lot_code": "(00)106141411234567894", "product_code": CONTAINER_PRODUCT,
         "quantity": 1, "unit": "each"},
    ]
    assert containers(lines) == [PALLET, "(00)106141411234567894"]
    # one pallet id whatever form names the SSCC: the URN and its Digital Link agree
    same = lot_lines({"epcList": [f"https://example.com/00/{PALLET[4:]}"]}, "quantityList",
                     "epcList", None, None, Containment([]), [])
    assert containers(same) == [PALLET]
    assert all("once an AggregationEvent (of any document) says what it held" in f
               for f in findings) and len(findings) == 2


def test_what_an_aggregation_declares_is_one_row_per_child_lot() -> None:
    packed = _agg("2026-11-20T08:00:00+08:00", "ADD", children=[
        "https://id.gs1.org/01/04012345123456/10/A1/21/7"], quantities=[
        {"epcClass": LOT, "quantity": 3, "uom": "KGM"}])
    rows = containment_rows(packed, None, Containment([packed]), [])
    assert rows == [
        {"parent_id": PALLET, "action": "ADD", "event_time": "2026-11-20T08:00:00+08:00",
         "lot_code": LOT_CODE, "product_code": "04012345123456", "quantity": 3, "unit": "kg"},
        {"parent_id": PALLET, "action": "ADD", "event_time": "2026-11-20T08:00:00+08:00",
         "lot_code": LOT_CODE, "product_code": "04012345123456", "quantity": 1, "unit": "each"},
    ]
    emptied = _agg("2026-11-20T10:00:00+08:00", "DELETE")
    assert containment_rows(emptied, None, Containment([emptied]), []) == [
        {"parent_id": PALLET, "action": "DELETE", "event_time": "2026-11-20T10:00:00+08:00",
         "lot_code": None, "product_code": None, "quantity": None, "unit": None}]
    assert containment_rows({**emptied, "parentID": None}, None, Containment([]), []) == []
