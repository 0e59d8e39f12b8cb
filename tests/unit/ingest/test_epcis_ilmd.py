"""ILMD as KDEs (ingest/epcis_ilmd.py), in the shapes GDST and GS1 documents write it."""

from __future__ import annotations

from typing import Any

import pytest
from foodtrace.ingest.epcis_ilmd import ilmd_kdes, ilmd_lot

VESSEL = {"cbvmda:vesselName": "Vessel 1", "cbvmda:vesselID": "123",
          "cbvmda:vesselFlagState": "US", "cbvmda:fishingGearTypeCode": "urn:gdst:gear:2.2",
          "cbvmda:catchArea": "urn:gdst:fao:87", "gdst:imoNumber": "IMO1", "captain": "x"}
VESSEL_OUT = {"vessel_name": "Vessel 1", "vessel_id": "123", "flag_state": "US",
              "fishing_gear": "urn:gdst:gear:2.2", "catch_area": "urn:gdst:fao:87",
              "imo_number": "IMO1"}


@pytest.mark.parametrize(
    ("ilmd", "kdes"),
    [
        (None, {}),
        ("not an object", {}),
        ({"example:grading": "A"}, {}),  # unknown keys: kept in kdes.epcis_event only
        # OpenTraceability writes harvest dates without a prefix, sometimes start only
        ({"harvestStartDate": "2024-02-07T22:53:15"},
         {"harvest_date_range": ["2024-02-07T22:53:15", "2024-02-07T22:53:15"],
          "harvest_date": "2024-02-07"}),
        ({"cbvmda:harvestStartDate": "2024-02-07", "cbvmda:harvestEndDate": "2024-02-09"},
         {"harvest_date_range": ["2024-02-07", "2024-02-09"], "harvest_date": "2024-02-07"}),
        # the GDST shape: a list object holding vesselCatchInformation entries
        ({"cbvmda:vesselCatchInformationList": {"cbvmda:vesselCatchInformation": [VESSEL]}},
         {"vessels": [VESSEL_OUT], "harvest_area": "urn:gdst:fao:87"}),
        # a plain list, and two vessels in two areas
        ({"cbvmda:vesselCatchInformationList": [
            VESSEL, {**VESSEL, "cbvmda:catchArea": "urn:gdst:fao:27.1", "cbvmda:vesselID": "9"}]},
         {"vessels": [VESSEL_OUT, {**VESSEL_OUT, "catch_area": "urn:gdst:fao:27.1",
                                   "vessel_id": "9"}],
          "harvest_area": "urn:gdst:fao:27.1, urn:gdst:fao:87"}),
        ({"cbvmda:catchArea": "urn:gdst:fao:61"}, {"harvest_area": "urn:gdst:fao:61"}),
        ({"cbvmda:itemExpirationDate": "2023-01-22T03:00:00.000Z",
          "cbvmda:productionDate": "2022-04-29T08:00:00.000Z", "cbvmda:countryOfOrigin": "US",
          "example:bestBeforeDate": "2026-12-01", "cbvmda:sellByDate": ""},
         {"expiration_date": "2023-01-22T03:00:00.000Z",
          "production_date": "2022-04-29T08:00:00.000Z", "country_of_origin": "US",
          "best_before_date": "2026-12-01"}),
    ],
)
def test_ilmd_kdes(ilmd: Any, kdes: dict[str, Any]) -> None:
    assert ilmd_kdes(ilmd, []) == kdes


@pytest.mark.parametrize(
    ("event", "lot"),
    [
        ({"ilmd": {"cbvmda:lotNumber": "V1-0122-2022"}}, "V1-0122-2022"),
        ({"ilmd": {"lotNumber": 4711}}, "4711"),
        ({"ilmd": {"cbvmda:lotNumber": ""}}, None),
        ({"ilmd": {"example:batch": "B1"}}, None),
        ({}, None),
    ],
)
def test_ilmd_lot(event: dict[str, Any], lot: str | None) -> None:
    assert ilmd_lot(event) == lot
