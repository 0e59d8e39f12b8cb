"""An alert as an OASIS CAP 1.2 document, one per (alert version, city).

Choices (documented in docs/alerts.md):
- scope `Restricted` with a <restriction>: the document names businesses and lots,
  and a rapid-test warning is only a suspicion; what the public is told is the
  regulator's decision, so these go to regulators and emergency offices, not to
  public broadcast.
- identifier `foodtrace-<alert_id>-v<version>-<city>`: each city gets its own
  document (its own <area>), so each needs its own identifier. <incidents> carries
  the alert_id, tying every version and city together.
- msgType: `Alert` for the first message to a city, `Update` (with <references> to
  that city's earlier messages) when the alert changes, `Cancel` when it is cleared
  or closed.
- sent: China Standard Time (+08:00), whole seconds, as CAP's dateTime pattern
  requires (no "Z", no fractions).
"""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from importlib.resources import files
from typing import Any

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
SENDER_ENV = "FOODTRACE_CAP_SENDER"
DEFAULT_SENDER = "foodtrace@pearl-river-delta"
CHINA_STANDARD_TIME = timezone(timedelta(hours=8))  # no daylight saving time
NOT_VERIFIED = "limit not verified against the standard text"
RESTRICTION = (
    "For food-safety regulators and emergency offices of the Pearl River Delta. "
    "Names businesses and lots; not for public broadcast."
)
# GB/T 2260 administrative division codes of the nine cities (prefecture level).
GB2260: dict[str, str] = {
    "guangzhou": "440100",
    "shenzhen": "440300",
    "zhuhai": "440400",
    "foshan": "440600",
    "jiangmen": "440700",
    "zhaoqing": "441200",
    "huizhou": "441300",
    "dongguan": "441900",
    "zhongshan": "442000",
}
_MIN_RADIUS_KM = 1.0

ET.register_namespace("", CAP_NS)


@dataclass(frozen=True)
class CapRef:
    """An earlier CAP message, as <references> names it: sender,identifier,sent."""

    sender: str
    identifier: str
    sent: str

    def __str__(self) -> str:
        return f"{self.sender},{self.identifier},{self.sent}"


@dataclass(frozen=True)
class CapMessage:
    identifier: str
    sent: str
    msg_type: str
    xml: str


def sender() -> str:
    return os.environ.get(SENDER_ENV) or DEFAULT_SENDER


def cap_time(moment: datetime) -> str:
    """CAP dateTime: local time with its offset, whole seconds."""
    if moment.tzinfo is None:
        raise ValueError("CAP times need a timezone")
    return moment.astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m-%dT%H:%M:%S+08:00")


def identifier(alert_id: str, version: int, city: str) -> str:
    return f"foodtrace-{alert_id}-v{version}-{city}"


def build(
    alert: Mapping[str, Any],
    *,
    city: str,
    msg_type: str,
    sent: datetime,
    references: Sequence[CapRef] = (),
    sender_id: str | None = None,
) -> CapMessage:
    """The CAP document of `alert` (the alert JSON, spec 4) for one affected city."""
    if msg_type not in ("Alert", "Update", "Cancel"):
        raise ValueError(f"unsupported msgType {msg_type!r}")
    if msg_type != "Alert" and not references:
        raise ValueError(f"a CAP {msg_type} must reference the message(s) it changes")
    who = sender_id or sender()
    ident = identifier(str(alert["alert_id"]), int(alert["version"]), city)
    sent_text = cap_time(sent)

    root = ET.Element(_q("alert"))
    _sub(root, "identifier", ident)
    _sub(root, "sender", who)
    _sub(root, "sent", sent_text)
    _sub(root, "status", "Actual")
    _sub(root, "msgType", msg_type)
    _sub(root, "source", "foodtrace alerts engine")
    _sub(root, "scope", "Restricted")
    _sub(root, "restriction", RESTRICTION)
    if references:
        _sub(root, "references", " ".join(str(r) for r in references))
    _sub(root, "incidents", str(alert["alert_id"]))
    _info(root, alert, city, msg_type)
    xml = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
    return CapMessage(ident, sent_text, msg_type, xml)


def _q(tag: str) -> str:
    return f"{{{CAP_NS}}}{tag}"


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    el = ET.SubElement(parent, _q(tag))
    if text is not None:
        el.text = text
    return el


def _pair(parent: ET.Element, tag: str, name: str, value: Any) -> None:
    el = _sub(parent, tag)
    _sub(el, "valueName", name)
    _sub(el, "value", "" if value is None else str(value))


def _fmt(value: Any) -> str:
    if value is None:
        return "?"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _info(root: ET.Element, a: Mapping[str, Any], city: str, msg_type: str) -> None:
    info = _sub(root, "info")
    _sub(info, "language", "en-US")
    _sub(info, "category", "Health")
    _sub(info, "category", "Safety")
    product = a.get("product_name") or a.get("product_code") or "food"
    _sub(info, "event", f"Food safety: {a['analyte']} in {product}")
    critical = a["severity"] == "critical"
    confirmatory = a["test_kind"] == "confirmatory"
    if msg_type == "Cancel":
        _sub(info, "responseType", "AllClear")
        _sub(info, "urgency", "Past")
        cleared = a.get("resolution") == "cleared_by_confirmatory"
        _sub(info, "severity", "Minor" if cleared else "Unknown")
        _sub(info, "certainty", "Unlikely" if cleared else "Unknown")
    else:
        _sub(info, "responseType", "Avoid" if critical else "Monitor")
        _sub(info, "urgency", "Immediate" if critical else "Expected")
        _sub(info, "severity", "Severe" if critical else "Moderate")
        _sub(info, "certainty", "Observed" if confirmatory else "Possible")
    _pair(info, "eventCode", "foodtrace:severity", a["severity"])
    _sub(info, "senderName", "foodtrace food-safety alerts")
    _sub(info, "headline", headline(a, msg_type)[:160])
    _sub(info, "description", description(a, city))
    _sub(info, "instruction", instruction(a, msg_type))
    for name, value in parameters(a):
        _pair(info, "parameter", name, value)
    _area(info, a, city)


def headline(a: Mapping[str, Any], msg_type: str) -> str:
    lot, analyte = a["lot_code"], a["analyte"]
    if msg_type == "Cancel":
        if a.get("resolution") == "cleared_by_confirmatory":
            return f"Cleared: lot {lot}, {analyte} within the limit on confirmation"
        return f"Closed: alert on lot {lot} ({analyte})"
    if a["severity"] == "critical":
        return f"Withdraw lot {lot}: {analyte} {_measure(a)} above the limit"
    return f"Hold lot {lot}: rapid test positive for {analyte}"


def _measure(a: Mapping[str, Any]) -> str:
    if a.get("value") is None:
        return str(a.get("result") or "detected")
    return f"{_fmt(a['value'])} {a.get('unit') or ''}".strip()


def _limit_text(a: Mapping[str, Any]) -> str:
    if a.get("limit") is None:
        return "no numeric limit (qualitative rapid test)"
    text = f"{_fmt(a['limit'])} {a.get('limit_unit') or ''}".strip()
    source = (a.get("limit_source") or {}).get("citation") or a.get("rule")
    return f"{text} ({source})" if source else text


def description(a: Mapping[str, Any], city: str) -> str:
    in_city = [loc for loc in a.get("affected_locations", []) if loc.get("city") == city]
    lines = [
        f"Lot {a['lot_code']} (product {a.get('product_code') or '?'}, category "
        f"{a.get('category') or '?'}): {a['analyte']} {_measure(a)} against limit "
        f"{_limit_text(a)}.",
        f"Finding: {a.get('reason') or '-'}.",
        f"Test: {a['test_kind']} ({a.get('method') or '?'}) by {a['lab_id']}, sample "
        f"{a['sample_id']}, tested {a.get('tested_at') or '?'}.",
        f"Affected: {len(a.get('affected_lots', []))} lot(s) at "
        f"{len(a.get('affected_locations', []))} location(s) in "
        f"{len(a.get('affected_cities', []))} city(ies); {len(in_city)} location(s) in {city}.",
        f"Sources: {len(a.get('source_lots', []))} source lot(s) from "
        f"{', '.join(s['location_id'] for s in a.get('source_locations', [])) or 'unknown'}.",
        f"Classification: {a.get('classification')}, risk {a.get('risk_decision')}.",
    ]
    changes = a.get("changes")
    if changes:  # a re-scoped version: what late data added or removed
        from foodtrace.alerts.rescope import describe

        lines.append(f"Changed by late data (version {a.get('version')}): {describe(changes)}.")
    if not a.get("lot_traced", True):
        lines.append("Scope provisional: no supply-chain event names this lot yet.")
    if a.get("limit_verified") is False:
        lines.append(f"Note: {NOT_VERIFIED}.")
    if a.get("status") == "closed":
        lines.append(
            f"Closed ({a.get('resolution')}) by {a.get('closed_by')}: {a.get('close_note') or '-'}."
        )
    return "\n".join(lines)


def instruction(a: Mapping[str, Any], msg_type: str) -> str:
    lots = ", ".join(lot["lot_code"] for lot in a.get("affected_lots", [])) or a["lot_code"]
    if msg_type == "Cancel":
        if a.get("resolution") == "cleared_by_confirmatory":
            return (
                f"The hold on lot(s) {lots} is lifted: the confirmatory result is within the limit."
            )
        return f"The alert on lot(s) {lots} is closed; follow the closing note."
    if a["severity"] == "critical":
        return (
            f"Withdraw lot(s) {lots} from sale and use now; recall what was shipped onward; "
            "quarantine the stock at the listed locations and report the quantities withdrawn."
        )
    return (
        f"Hold lot(s) {lots}: do not sell or use them until a confirmatory laboratory result "
        "is available; keep the stock identifiable and send a sample for confirmation."
    )


def parameters(a: Mapping[str, Any]) -> list[tuple[str, Any]]:
    params: list[tuple[str, Any]] = [
        ("alert_id", a["alert_id"]),
        ("alert_version", a["version"]),
        ("status", a["status"]),
        ("severity", a["severity"]),
        ("lot_code", a["lot_code"]),
        ("product_code", a.get("product_code")),
        ("analyte", a["analyte"]),
        ("value", a.get("value")),
        ("unit", a.get("unit")),
        ("limit", a.get("limit")),
        ("limit_unit", a.get("limit_unit")),
        ("limit_verified", a.get("limit_verified")),
        ("test_kind", a["test_kind"]),
        ("lab_id", a["lab_id"]),
        ("sample_id", a["sample_id"]),
        ("classification", a.get("classification")),
        ("risk_decision", a.get("risk_decision")),
        ("affected_lots", ",".join(lot["lot_code"] for lot in a.get("affected_lots", []))),
        ("affected_cities", ",".join(a.get("affected_cities", []))),
        ("source_lots", ",".join(lot["lot_code"] for lot in a.get("source_lots", []))),
    ]
    return [(k, _param(v)) for k, v in params if v is not None]


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _fmt(value)


def _area(info: ET.Element, a: Mapping[str, Any], city: str) -> None:
    area = _sub(info, "area")
    in_city = [loc for loc in a.get("affected_locations", []) if loc.get("city") == city]
    _sub(area, "areaDesc", f"{city}: {len(in_city)} affected location(s) of lot {a['lot_code']}")
    points = [
        (loc["lat"], loc["lon"])
        for loc in in_city
        if loc.get("lat") is not None and loc.get("lon") is not None
    ]
    if points:
        _sub(area, "circle", circle(points))
    _pair(area, "geocode", "foodtrace:city", city)
    if city in GB2260:
        _pair(area, "geocode", "GB/T 2260", GB2260[city])


def circle(points: Sequence[tuple[float, float]]) -> str:
    """'lat,lon radius_km' covering every point, with a margin (pure)."""
    lat = sum(p[0] for p in points) / len(points)
    lon = sum(p[1] for p in points) / len(points)
    reach = max(haversine_km(lat, lon, p[0], p[1]) for p in points)
    radius = max(_MIN_RADIUS_KM, math.ceil((reach + _MIN_RADIUS_KM) * 10) / 10)
    return f"{lat:.5f},{lon:.5f} {radius:.1f}"


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    r = 6371.0088
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(min(1.0, math.sqrt(h)))


def schema_path() -> Any:
    """The OASIS CAP 1.2 XSD shipped with the package (schemas/xsd/CAP-v1.2.xsd)."""
    return files("foodtrace.schemas").joinpath("xsd", "CAP-v1.2.xsd")


def validate(xml: str) -> None:
    """Raise if `xml` is not a valid CAP 1.2 document (needs the xmlschema package)."""
    import xmlschema  # dev dependency: only tests and `alerts show --cap --validate` use it

    schema = xmlschema.XMLSchema(str(schema_path()))
    schema.validate(xml)
