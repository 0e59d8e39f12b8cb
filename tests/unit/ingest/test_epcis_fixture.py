"""An EPCIS 2.0 document that exercises every chain-event mapping, in the style of
GS1's own examples (shared/vectors/epcis-gs1, Example 9.6.2: LGTIN quantities in
KGM, SGLN locations, typed source/destination lists).

`epcis_document()` is shared: the ingest consumer's integration test publishes it
(`from test_epcis_fixture import epcis_document`) and expects every event to land.
"""

from __future__ import annotations

import copy
from typing import Any

CONTEXT = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
           {"example": "http://ns.example.com/epcis/"}]
FARM = "urn:epc:id:sgln:4012345.00001.0"
PACKHOUSE = "urn:epc:id:sgln:4012345.00002.0"
DISTRIBUTOR = "urn:epc:id:sgln:0614141.00777.0"
RETAILER = "urn:epc:id:sgln:0614141.00888.0"
HARVEST_LOT = "urn:epc:class:lgtin:4012345.012345.H261120"
PACKED_LOT = "urn:epc:class:lgtin:4012345.012345.P261120"
LANDED_LOT = "https://id.gs1.org/01/04012345123456/10/F261120"  # GS1 Digital Link form
CUT_LOT = "urn:epc:class:lgtin:4012345.054321.T261121"

# (chain event type, EPCIS event) in eventList order
_EVENTS: list[tuple[str, dict[str, Any]]] = [
    ("harvesting", {
        "eventID": "ni:///sha-256;1111111111111111111111111111111111111111111111111111111111111111?ver=CBV2.0",
        "type": "ObjectEvent",
        "eventTime": "2026-11-20T06:00:00+08:00",
        "eventTimeZoneOffset": "+08:00",
        "action": "ADD",
        "bizStep": "commissioning",
        "disposition": "active",
        "readPoint": {"id": FARM},
        "bizLocation": {"id": FARM},
        "quantityList": [{"epcClass": HARVEST_LOT, "quantity": 200, "uom": "KGM"}],
        "bizTransactionList": [{"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:4012345000009:PO-7"}],
        "ilmd": {"example:harvestDate": "2026-11-20", "example:field": "F-3"},
    }),
    ("cooling", {
        "type": "ObjectEvent",
        "eventTime": "2026-11-19T23:30:00Z",
        "eventTimeZoneOffset": "+08:00",
        "action": "OBSERVE",
        "bizStep": "urn:epcglobal:cbv:bizstep:storing",
        "disposition": "active",
        "readPoint": {"id": FARM},
        "quantityList": [{"epcClass": HARVEST_LOT, "quantity": 200, "uom": "KGM"}],
        "bizTransactionList": [{"type": "urn:epcglobal:cbv:btt:po",
                                "bizTransaction": "urn:epcglobal:cbv:bt:4012345000009:PO-7"}],
    }),
    ("initial_packing", {
        "eventID": "ni:///sha-256;3333333333333333333333333333333333333333333333333333333333333333?ver=CBV2.0",
        "type": "ObjectEvent",
        "eventTime": "2026-11-20T10:00:00+08:00",
        "eventTimeZoneOffset": "+08:00",
        "action": "ADD",
        "bizStep": "https://ref.gs1.org/cbv/BizStep-packing",
        "disposition": "active",
        "bizLocation": {"id": PACKHOUSE},
        "quantityList": [{"epcClass": PACKED_LOT, "quantity": 190000, "uom": "GRM"}],
        "bizTransactionList": [{"type": "prodorder", "bizTransaction": "urn:epcglobal:cbv:bt:4012345000009:PR-1"}],
    }),
    ("shipping", {
        "eventID": "ni:///sha-256;4444444444444444444444444444444444444444444444444444444444444444?ver=CBV2.0",
        "type": "ObjectEvent",
        "eventTime": "2026-11-20T14:00:00+08:00",
        "eventTimeZoneOffset": "+08:00",
        "action": "OBSERVE",
        "bizStep": "shipping",
        "disposition": "in_transit",
        "readPoint": {"id": PACKHOUSE},
        "quantityList": [{"epcClass": PACKED_LOT, "quantity": 100, "uom": "KGM"}],
        "destinationList": [
            {"type": "owning_party", "destination": "urn:epc:id:pgln:0614141.00001"},
            {"type": "location", "destination": DISTRIBUTOR},
        ],
        "bizTransactionList": [
            {"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:0614141000005:PO-99"},
            {"type": "bol", "bizTransaction": "urn:epcglobal:cbv:bt:4012345000009:BOL-5"},
        ],
    }),
    ("receiving", {
        "eventID": "ni:///sha-256;5555555555555555555555555555555555555555555555555555555555555555?ver=CBV2.0",
        "type": "ObjectEvent",
        "eventTime": "2026-11-20T17:30:00+08:00",
        "eventTimeZoneOffset": "+08:00",
        "action": "OBSERVE",
        "bizStep": "receiving",
        "disposition": "in_progress",
        "readPoint": {"id": DISTRIBUTOR},
        "bizLocation": {"id": DISTRIBUTOR},
        "quantityList": [{"epcClass": PACKED_LOT, "quantity": 100, "uom": "KGM"}],
        "sourceList": [
            {"type": "https://ref.gs1.org/cbv/SDT-possessing_party",
             "source": "urn:epc:id:pgln:4012345.00000"},
            {"type": "https://ref.gs1.org/cbv/SDT-location", "source": PACKHOUSE},
        ],
        "bizTransactionList": [
            {"type": "desadv", "bizTransaction": "urn:epcglobal:cbv:bt:4012345000009:1152"},
        ],
    }),
    ("first_receiving", {
        "eventID": "ni:///sha-256;6666666666666666666666666666666666666666666666666666666666666666?ver=CBV2.0",
        "type": "ObjectEvent",
        "eventTime": "2026-11-20T05:00:00+08:00",
        "eventTimeZoneOffset": "+08:00",
        "action": "ADD",
        "bizStep": "receiving",
        "disposition": "active",
        "bizLocation": {"id": DISTRIBUTOR},
        "quantityList": [{"epcClass": LANDED_LOT, "quantity": 0.5, "uom": "TNE"}],
        "bizTransactionList": [{"type": "inv", "bizTransaction": "INV-2026-0042"}],
        # catch information: ADD receiving of seafood is first land-based receiving
        "ilmd": {
            "cbvmda:harvestStartDate": "2026-11-18T04:00:00+08:00",
            "cbvmda:harvestEndDate": "2026-11-19T20:00:00+08:00",
            "cbvmda:vesselCatchInformationList": {"cbvmda:vesselCatchInformation": [
                {"cbvmda:vesselName": "Yue Dong Yu 01", "cbvmda:vesselID": "440300-1234",
                 "cbvmda:catchArea": "urn:gdst:fao:61"}]},
        },
    }),
    ("transformation", {
        "eventID": "ni:///sha-256;7777777777777777777777777777777777777777777777777777777777777777?ver=CBV2.0",
        "type": "TransformationEvent",
        "eventTime": "2026-11-21T08:00:00+08:00",
        "eventTimeZoneOffset": "+08:00",
        "inputQuantityList": [
            {"epcClass": PACKED_LOT, "quantity": 40, "uom": "KGM"},
            {"epcClass": LANDED_LOT, "quantity": 10, "uom": "KGM"},
        ],
        "outputQuantityList": [{"epcClass": CUT_LOT, "quantity": 48, "uom": "KGM"}],
        "readPoint": {"id": DISTRIBUTOR},
        "bizLocation": {"id": DISTRIBUTOR},
        "bizTransactionList": [{"type": "prodorder", "bizTransaction": "PR-CUT-1"}],
    }),
    ("sale", {
        "type": "ObjectEvent",
        "eventTime": "2026-11-21T18:45:00+08:00",
        "eventTimeZoneOffset": "+08:00",
        "action": "OBSERVE",
        "bizStep": "https://gs1.org/voc/BizStep-retail_selling",
        "disposition": "retail_sold",
        "bizLocation": {"id": RETAILER},
        "quantityList": [{"epcClass": CUT_LOT, "quantity": 12}],
        "bizTransactionList": [{"type": "inv", "bizTransaction": "RCPT-88"}],
    }),
]

EVENT_TYPES = [event_type for event_type, _ in _EVENTS]


def epcis_events() -> list[dict[str, Any]]:
    return [copy.deepcopy(event) for _, event in _EVENTS]


def epcis_document(events: list[Any] | None = None) -> dict[str, Any]:
    """An EPCISDocument holding `events` (default: one event per chain-event type)."""
    return {
        "@context": copy.deepcopy(CONTEXT),
        "id": "https://id.example.org/document-foodtrace-1",
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-11-21T19:00:00+08:00",
        "epcisBody": {"eventList": epcis_events() if events is None else events},
    }


def test_the_fixture_covers_every_event_type_once() -> None:
    from foodtrace.reference import EVENT_TYPES as CONTRACT_TYPES

    assert sorted(EVENT_TYPES) == sorted(CONTRACT_TYPES)
    assert epcis_document()["epcisBody"]["eventList"] == epcis_events()
    assert epcis_document() is not epcis_document()  # callers may change their copy
