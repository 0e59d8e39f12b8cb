"""EPCIS sensor reports that measure a chemical substance on a lot -> lab results
(spec 2.1), pure, no I/O.

A `sensorReport` with a `chemicalSubstance` (or a `microorganism`) is read as a lab
result when it carries what a lab result needs; otherwise the reason says exactly
what is missing (appended to the event's not-used reason, or to the findings of an
event that is mapped as a chain event). See docs/epcis.md, "Sensor reports as lab
results". Decisions:

- Lab: the sender of the document (the topic's actor id) is `lab_id`, as on
  foodtrace/v1/labs/{lab_id}/results: a sender speaks only for itself (the broker ACL
  lets every sender login publish both topics under its own id, so this gives no
  sender a power it did not have).
- Analyte: only the explicit table `CAS_ANALYTES` (CAS Registry Numbers, as a bare
  number, `cas:`, `urn:cas:` or https://identifiers.org/cas:...). InChIKeys and
  microorganisms have no foodtrace analyte code: not a lab result, with the reason.
- Value: a number with a UN/ECE Rec 20 unit of `UNIT_CODES` is a `confirmatory`
  result, judged against the limits table like any other; a booleanValue alone is a
  `rapid` result (true positive, false negative). Other units (e.g. C35, a molar
  concentration: no molar mass here) are not converted.
- Method: the report's (else the sensorMetadata's) `dataProcessingMethod`.
- Times: sampled_at = time, else startTime, else eventTime; tested_at = time, else
  endTime, else eventTime (report first, then sensorMetadata).
- Lots: the event's lot lines (epcis_lines.lot_lines: quantityList/epcList, the
  children of an AggregationEvent, the outputs of a TransformationEvent); one lab
  result per lot (a measurement on a pallet of two lots applies to both: missing
  detail widens an alert, never narrows it).
- Idempotency: message_id = uuid5(EVENT_NAMESPACE, actor + "\\n" + event key +
  "#sensorReport/{element}/{report}/{lot_code}").
- An event carrying an errorDeclaration yields no lab result.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from foodtrace.ingest import gs1_ids
from foodtrace.ingest.epcis_ilmd import ilmd_lot
from foodtrace.ingest.epcis_lines import CONTAINER_PRODUCT, Containment, as_list, lot_lines
from foodtrace.ingest.schema_check import instant

LAB_SCHEMA = "foodtrace/lab-result/v1"

# UN/ECE Recommendation 20 common codes -> foodtrace units (checked against the Rec 20
# list as generated in github.com/quadient/unece-units: NA "milligram per kilogram",
# J33 "microgram per kilogram"). Nothing else is converted.
UNIT_CODES: dict[str, str] = {"NA": "mg/kg", "J33": "ug/kg"}

# CAS Registry Number -> foodtrace analyte code (reference.ANALYTES), only analytes with
# a row in the limits seed (0006_alerts.sql).
CAS_ANALYTES: dict[str, str] = {
    "1113-02-6": "omethoate",
    "298-02-2": "phorate",
    "1563-66-2": "carbofuran",
    "10265-92-6": "methamidophos",
    "56-75-7": "chloramphenicol",
    "37148-27-9": "clenbuterol",
    "7439-92-1": "lead",
    "7440-43-9": "cadmium",
}

_CAS = re.compile(r"^(?:https?://identifiers\.org/cas:|urn:cas:|cas:)?\s*(\d{2,7}-\d{2}-\d)$",
                  re.IGNORECASE)
# lot lines per event type, as the chain-event mapping reads them
_LOT_KEYS = {
    "AggregationEvent": ("childQuantityList", "childEPCs"),
    "TransformationEvent": ("outputQuantityList", "outputEPCList"),
}


@dataclass
class SensorReading:
    """What the sensor reports of one event became."""

    lab_results: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # why a report is no lab result


def cas_number(substance: str) -> str | None:
    """The CAS Registry Number a chemicalSubstance names, when its check digit holds."""
    m = _CAS.match(substance.strip())
    if not m:
        return None
    number = m.group(1)
    digits = number.replace("-", "")
    body, check = digits[:-1], int(digits[-1])
    total = sum(int(d) * (i + 1) for i, d in enumerate(reversed(body)))
    return number if total % 10 == check else None


def read_sensor_reports(event: dict[str, Any], actor_id: str, key: str,
                        containment: Containment, namespace: uuid.UUID) -> SensorReading:
    """The lab results of one event's chemical/microorganism sensor reports (module doc)."""
    reading = SensorReading()
    measured = [
        (e, r, element, report)
        for e, element in enumerate(as_list(event.get("sensorElementList")))
        if isinstance(element, dict)
        for r, report in enumerate(as_list(element.get("sensorReport")))
        if isinstance(report, dict)
        and (isinstance(report.get("chemicalSubstance"), str)
             or isinstance(report.get("microorganism"), str))
    ]
    if not measured:
        return reading
    if isinstance(event.get("errorDeclaration"), dict):
        reading.notes.append("its sensor reports are not read as lab results: the event "
                             "carries an errorDeclaration")
        return reading
    lots, lot_problem = _lots(event, containment)
    location = gs1_ids.location_id(_id_of(event.get("bizLocation"))) or gs1_ids.location_id(
        _id_of(event.get("readPoint")))
    for e, r, element, report in measured:
        where = f"sensorElementList[{e}].sensorReport[{r}]"
        metadata = element.get("sensorMetadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        base, missing = _lab_fields(event, report, metadata, location)
        if not lots:
            missing.append(f"a lot ({lot_problem})")
        if missing:
            what = _what(report)
            reading.notes.append(f"{where} ({what}) is no lab result: it lacks "
                                 + "; ".join(missing))
            continue
        for n, line in enumerate(lots):
            mid = uuid.uuid5(namespace, f"{actor_id}\n{key}#sensorReport/{e}/{r}/"
                                        f"{line['lot_code']}")
            sample = f"{key}#sensorReport/{e}/{r}" + (f"/{n}" if len(lots) > 1 else "")
            result = {
                "schema": LAB_SCHEMA,
                "message_id": str(mid),
                "lab_id": actor_id,
                "sample_id": sample if len(sample) <= 128 else f"epcis:{mid}",
                "lot_code": line["lot_code"],
                **base,
            }
            if line.get("product_code"):
                result["product_code"] = line["product_code"]
            device = report.get("deviceID") or metadata.get("deviceID")
            if isinstance(device, str) and 0 < len(device) <= 200 and device == device.strip():
                result["instrument"] = device
            reading.lab_results.append(result)
    return reading


def _lab_fields(event: dict[str, Any], report: dict[str, Any], metadata: dict[str, Any],
                location: str | None) -> tuple[dict[str, Any], list[str]]:
    missing: list[str] = []
    fields: dict[str, Any] = {}
    substance = report.get("chemicalSubstance")
    if isinstance(report.get("microorganism"), str) and not isinstance(substance, str):
        missing.append(f"an analyte: microorganism {report['microorganism']} has no "
                       "foodtrace analyte code (the analyte list, spec 2.1, has no "
                       "microorganisms)")
    elif isinstance(substance, str):
        cas = cas_number(substance)
        analyte = CAS_ANALYTES.get(cas) if cas else None
        if analyte is None:
            missing.append(f"an analyte: chemicalSubstance {substance} is not in foodtrace's "
                           "table (CAS numbers of analytes with a limit: "
                           + ", ".join(f"{c} {a}" for c, a in CAS_ANALYTES.items()) + ")")
        else:
            fields["analyte"] = analyte
    value, boolean, uom = report.get("value"), report.get("booleanValue"), report.get("uom")
    if isinstance(value, int | float) and not isinstance(value, bool):
        unit = UNIT_CODES.get(uom) if isinstance(uom, str) else None
        if unit is None:
            missing.append(f"a unit foodtrace can read: uom {uom if uom else '(none)'} is not "
                           "NA (mg/kg) or J33 (ug/kg)")
        elif value < 0:
            missing.append(f"a value of 0 or more (value {value})")
        else:
            fields.update(test_kind="confirmatory", value=value, unit=unit)
    elif isinstance(boolean, bool):
        fields.update(test_kind="rapid", result="positive" if boolean else "negative")
    else:
        missing.append("a value (a number with its uom, or a booleanValue)")
    method = report.get("dataProcessingMethod") or metadata.get("dataProcessingMethod")
    if isinstance(method, str) and 0 < len(method) <= 200 and method == method.strip():
        fields["method"] = method
    else:
        missing.append("a method (dataProcessingMethod)")
    sampled = _first_time(report, metadata, event, "startTime")
    tested = _first_time(report, metadata, event, "endTime")
    if sampled is None or tested is None:
        missing.append("a time with an offset (time, startTime/endTime or eventTime)")
    else:
        fields.update(sampled_at=sampled, tested_at=tested)
    if location is None:
        missing.append("where it was sampled (bizLocation or readPoint)")
    else:
        fields["sampled_location_id"] = location
    return fields, missing


def _first_time(report: dict[str, Any], metadata: dict[str, Any], event: dict[str, Any],
                bound: str) -> str | None:
    for value in (report.get("time"), metadata.get("time"), report.get(bound),
                  metadata.get(bound), event.get("eventTime")):
        if isinstance(value, str) and instant(value) is not None:
            return value
    return None


def _lots(event: dict[str, Any], containment: Containment) -> tuple[list[dict[str, Any]], str]:
    quantity_key, epc_key = _LOT_KEYS.get(event.get("type"), ("quantityList", "epcList"))  # type: ignore[arg-type]
    findings: list[str] = []
    lines = lot_lines(event, quantity_key, epc_key, ilmd_lot(event),
                      instant(event.get("eventTime")), containment, findings)
    seen: dict[str, dict[str, Any]] = {}
    for line in lines:
        if line["product_code"] != CONTAINER_PRODUCT:  # a pallet is no sample of a lot
            seen.setdefault(line["lot_code"], line)
    problem = "; ".join(findings) if findings else f"the event lists no {quantity_key} or {epc_key}"
    return list(seen.values()), problem


def _what(report: dict[str, Any]) -> str:
    return ", ".join(f"{k} {report[k]}" for k in ("chemicalSubstance", "microorganism")
                     if isinstance(report.get(k), str))


def _id_of(value: object) -> str | None:
    ident = value.get("id") if isinstance(value, dict) else None
    return ident if isinstance(ident, str) and ident else None
