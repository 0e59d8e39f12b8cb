"""ILMD (instance/lot master data) of an EPCIS event as FSMA 204 KDEs (pure).

Keys are matched by local name whatever their prefix (`cbvmda:harvestStartDate`,
`gdst:...`, or none): harvest start/end -> `harvest_date_range` and
`harvest_date`; vessel catch information -> `vessels` and the catch areas as
`harvest_area`; best-before, expiration, sell-by and production dates and the
country of origin under their own names; `lotNumber` is the batch that makes a
product class a lot.
"""

from __future__ import annotations

from typing import Any

from foodtrace.ingest import cbv

_ILMD_DATES = {
    "bestBeforeDate": "best_before_date",
    "itemExpirationDate": "expiration_date",
    "sellByDate": "sell_by_date",
    "productionDate": "production_date",
    "countryOfOrigin": "country_of_origin",
}
_VESSEL_FIELDS = {
    "vesselName": "vessel_name", "vesselID": "vessel_id", "vesselFlagState": "flag_state",
    "fishingGearTypeCode": "fishing_gear", "catchArea": "catch_area",
    "economicZone": "economic_zone", "imoNumber": "imo_number",
}


def ilmd_lot(event: dict[str, Any]) -> str | None:
    ilmd = event.get("ilmd")
    if isinstance(ilmd, dict):
        for key, value in ilmd.items():
            if cbv.local_name(key) == "lotNumber" and isinstance(value, str | int) and str(value):
                return str(value)
    return None


def ilmd_kdes(ilmd: Any, findings: list[str]) -> dict[str, Any]:
    if not isinstance(ilmd, dict):
        return {}
    by_name = {cbv.local_name(k): v for k, v in ilmd.items()}
    kdes: dict[str, Any] = {}
    for name, kde in _ILMD_DATES.items():
        if isinstance(by_name.get(name), str) and by_name[name]:
            kdes[kde] = by_name[name]
    start, end = by_name.get("harvestStartDate"), by_name.get("harvestEndDate")
    if isinstance(start, str) and start:
        kdes["harvest_date_range"] = [start, end if isinstance(end, str) and end else start]
        kdes["harvest_date"] = start[:10]
    vessels = [_vessel(v) for v in _vessel_entries(by_name.get("vesselCatchInformationList"))]
    vessels = [v for v in vessels if v]
    if vessels:
        kdes["vessels"] = vessels
        areas = sorted({v["catch_area"] for v in vessels if v.get("catch_area")})
        if areas:
            kdes["harvest_area"] = ", ".join(areas)
    if isinstance(by_name.get("catchArea"), str) and "harvest_area" not in kdes:
        kdes["harvest_area"] = by_name["catchArea"]
    return kdes


def _vessel_entries(value: Any) -> list[Any]:
    if isinstance(value, dict):  # {"cbvmda:vesselCatchInformation": [...]}
        inner = [v for k, v in value.items() if cbv.local_name(k) == "vesselCatchInformation"]
        value = inner[0] if inner else [value]
    if isinstance(value, dict):
        return [value]
    return value if isinstance(value, list) else []


def _vessel(entry: Any) -> dict[str, Any]:
    if not isinstance(entry, dict):
        return {}
    return {_VESSEL_FIELDS[cbv.local_name(k)]: v for k, v in entry.items()
            if cbv.local_name(k) in _VESSEL_FIELDS and v not in (None, "")}
