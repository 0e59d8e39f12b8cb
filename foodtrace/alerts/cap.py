"""An alert as an OASIS CAP 1.2 document, one per (alert version, city).

Choices (documented in docs/cap.md):
- scope `Restricted` with a <restriction>: the document names businesses and lots,
  and a rapid-test warning is only a suspicion; what the public is told is the
  regulator's decision, so these go to regulators and emergency offices, not to
  public broadcast.
- two <info> blocks, zh-CN first (the readers are Chinese regulators), en-US beside
  it, with the same codes, parameters and area.
- identifier `foodtrace-<alert_id>-v<version>-<city>` by default, or the
  GB/T 35965.1 pattern (cap_settings.py): each city gets its own document (its own
  <area>), so each needs its own identifier. <incidents> carries the alert_id,
  tying every version and city together.
- msgType: `Alert` for the first message to a city, `Update` (with <references> to
  that city's earlier messages) when the alert changes, `Cancel` when it is cleared
  or closed.
- sent and expires: China Standard Time (+08:00), whole seconds, as CAP's dateTime
  pattern requires (no "Z", no fractions).
- area: the city's GB/T 2260 geocode (the whole city: places without coordinates
  are inside it) and one circle per located affected place.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from importlib.resources import files
from typing import Any

from foodtrace.alerts import cap_zh
from foodtrace.alerts.cap_settings import DEFAULT_SENDER as DEFAULT_SENDER  # re-exported
from foodtrace.alerts.cap_settings import SCHEME_GBT35965, CapSettings
from foodtrace.alerts.cap_settings import SENDER_ENV as SENDER_ENV  # re-exported
from foodtrace.reference import CITY_FACTS, GUANGDONG_GB2260

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
CHINA_STANDARD_TIME = timezone(timedelta(hours=8))  # no daylight saving time
NOT_VERIFIED = "limit not verified against the standard text"
RESTRICTION = (
    "仅供珠三角各市食品安全监管部门和应急管理部门使用，含企业和批次信息，不得向公众发布。"
    " For food-safety regulators and emergency offices of the Pearl River Delta. "
    "Names businesses and lots; not for public broadcast."
)
# GB/T 2260 administrative-division codes of the nine cities (reference.CITY_FACTS).
GB2260: dict[str, str] = {city: facts.gb2260 for city, facts in CITY_FACTS.items()}
GEOCODE_GB2260 = "GB/T 2260"  # valueName of the administrative-division geocode
GEOCODE_CITY = "foodtrace:city"
PLACE_RADIUS_KM = 1.0  # a circle around one business's premises

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


@dataclass(frozen=True)
class Area:
    desc: str
    circles: tuple[str, ...] = ()
    geocodes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class InfoBlock:
    """One <info>; `append_info` writes it in the order the CAP 1.2 XSD demands."""

    language: str
    event: str
    response_type: str
    urgency: str
    severity: str
    certainty: str
    event_code: tuple[str, str]
    expires: str
    sender_name: str
    headline: str
    description: str
    instruction: str
    web: str | None
    contact: str | None
    parameters: Sequence[tuple[str, str]]
    area: Area
    categories: tuple[str, ...] = ("Health", "Safety")


def cap_time(moment: datetime) -> str:
    """CAP dateTime: local time with its offset, whole seconds."""
    if moment.tzinfo is None:
        raise ValueError("CAP times need a timezone")
    return moment.astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m-%dT%H:%M:%S+08:00")


def expires_at(sent: datetime, settings: CapSettings) -> str:
    return cap_time(sent + timedelta(hours=settings.expires_hours))


def identifier(alert_id: str, version: int, city: str) -> str:
    """The foodtrace-scheme identifier of an alert document."""
    return f"foodtrace-{alert_id}-v{version}-{city}"


def issuing_unit_code(settings: CapSettings, city: str) -> str:
    """GB/T 35965.1-style issuing-unit code ZZZZZZDDDUUUXX: the city's GB/T 2260 code
    (Guangdong's for a place outside the nine cities), agency, unit, extension."""
    region = GB2260.get(city, GUANGDONG_GB2260)
    return f"{region}{settings.agency_code}{settings.unit_code}{settings.extension_code}"


def gbt35965_identifier(unit_code: str, sent: datetime, sequence: int) -> str:
    """ZZZZZZDDDUUUXX_YYYYMMDDhhmmss_N (31 characters), Beijing time, N in 0..9."""
    if len(unit_code) != 14 or not unit_code.isdigit():
        raise ValueError(f"issuing-unit code must be 14 digits, got {unit_code!r}")
    stamp = sent.astimezone(CHINA_STANDARD_TIME).strftime("%Y%m%d%H%M%S")
    return f"{unit_code}_{stamp}_{sequence % 10}"


def message_identifier(settings: CapSettings, *, city: str, sent: datetime, sequence: int,
                       foodtrace_id: str) -> str:
    """The <identifier> under the configured scheme. `sequence` is N of the
    GB/T 35965.1 pattern: messages of one unit in one second must differ in it."""
    if settings.identifier_scheme == SCHEME_GBT35965:
        return gbt35965_identifier(issuing_unit_code(settings, city), sent, sequence)
    return foodtrace_id


def build(
    alert: Mapping[str, Any],
    *,
    city: str,
    msg_type: str,
    sent: datetime,
    references: Sequence[CapRef] = (),
    sender_id: str | None = None,
    settings: CapSettings | None = None,
    sequence: int | None = None,
) -> CapMessage:
    """The CAP document of `alert` (the alert JSON, spec 4) for one affected city.
    `sequence`: N of a GB/T 35965.1 identifier, claimed by the outbox
    (cap_serial.claim); without it, (version - 1) mod 10 (pure callers)."""
    if msg_type not in ("Alert", "Update", "Cancel"):
        raise ValueError(f"unsupported msgType {msg_type!r}")
    if msg_type != "Alert" and not references:
        raise ValueError(f"a CAP {msg_type} must reference the message(s) it changes")
    conf = settings or CapSettings.from_env()
    version = int(alert["version"])
    ident = message_identifier(
        conf, city=city, sent=sent, sequence=version - 1 if sequence is None else sequence,
        foodtrace_id=identifier(str(alert["alert_id"]), version, city))
    root = header(ident, sender_id or conf.sender, sent, msg_type, "foodtrace alerts engine",
                  references, str(alert["alert_id"]))
    for block in info_blocks(alert, city, msg_type, sent, conf):
        append_info(root, block)
    return CapMessage(ident, cap_time(sent), msg_type, serialize(root))


def header(ident: str, who: str, sent: datetime, msg_type: str, source: str,
           references: Sequence[CapRef], incident: str) -> ET.Element:
    """The <alert> element with its header, in XSD order, before any <info>."""
    root = ET.Element(_q("alert"))
    _sub(root, "identifier", ident)
    _sub(root, "sender", who)
    _sub(root, "sent", cap_time(sent))
    _sub(root, "status", "Actual")
    _sub(root, "msgType", msg_type)
    _sub(root, "source", source)
    _sub(root, "scope", "Restricted")
    _sub(root, "restriction", RESTRICTION)
    if references:
        _sub(root, "references", " ".join(str(r) for r in references))
    _sub(root, "incidents", incident)
    return root


def serialize(root: ET.Element) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def append_info(root: ET.Element, b: InfoBlock) -> None:
    info = _sub(root, "info")
    _sub(info, "language", b.language)
    for category in b.categories:
        _sub(info, "category", category)
    _sub(info, "event", b.event)
    _sub(info, "responseType", b.response_type)
    _sub(info, "urgency", b.urgency)
    _sub(info, "severity", b.severity)
    _sub(info, "certainty", b.certainty)
    _pair(info, "eventCode", *b.event_code)
    _sub(info, "expires", b.expires)
    _sub(info, "senderName", b.sender_name)
    _sub(info, "headline", b.headline[:160])
    _sub(info, "description", b.description)
    _sub(info, "instruction", b.instruction)
    if b.web:
        _sub(info, "web", b.web)
    if b.contact:
        _sub(info, "contact", b.contact)
    for name, value in b.parameters:
        _pair(info, "parameter", name, value)
    area = _sub(info, "area")
    _sub(area, "areaDesc", b.area.desc)
    for circle in b.area.circles:
        _sub(area, "circle", circle)
    for name, value in b.area.geocodes:
        _pair(area, "geocode", name, value)


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


def _grading(a: Mapping[str, Any], msg_type: str) -> tuple[str, str, str, str]:
    """(responseType, urgency, severity, certainty)."""
    if msg_type == "Cancel":
        cleared = a.get("resolution") == "cleared_by_confirmatory"
        return ("AllClear", "Past", "Minor" if cleared else "Unknown",
                "Unlikely" if cleared else "Unknown")
    critical = a["severity"] == "critical"
    return ("Avoid" if critical else "Monitor", "Immediate" if critical else "Expected",
            "Severe" if critical else "Moderate",
            "Observed" if a["test_kind"] == "confirmatory" else "Possible")


def info_blocks(a: Mapping[str, Any], city: str, msg_type: str, sent: datetime,
                settings: CapSettings) -> list[InfoBlock]:
    """zh-CN, then en-US: the same grading, codes, parameters and places (pure)."""
    grading = _grading(a, msg_type)
    common: dict[str, Any] = {
        "response_type": grading[0], "urgency": grading[1], "severity": grading[2],
        "certainty": grading[3], "event_code": ("foodtrace:severity", a["severity"]),
        "expires": expires_at(sent, settings), "web": settings.web_for(str(a["alert_id"])),
        "contact": settings.contact, "parameters": parameters(a),
    }
    in_city = affected_in(a, city)
    circles = place_circles(in_city)
    located = sum(1 for loc in in_city if loc.get("lat") is not None and loc.get("lon") is not None)
    geocodes = area_geocodes(city)
    product = a.get("product_name") or a.get("product_code") or "food"
    zh = InfoBlock(
        language="zh-CN", event=cap_zh.event(a), sender_name=settings.sender_name_zh,
        headline=cap_zh.headline(a, msg_type, city), description=cap_zh.description(a, city),
        instruction=cap_zh.instruction(a, msg_type),
        area=Area(cap_zh.area_desc(a, city, len(in_city), located), circles, geocodes),
        **common)
    en = InfoBlock(
        language="en-US", event=f"Food safety: {a['analyte']} in {product}",
        sender_name=settings.sender_name_en, headline=headline(a, msg_type),
        description=description(a, city), instruction=instruction(a, msg_type),
        area=Area(area_desc(a, city, len(in_city), located), circles, geocodes),
        **common)
    return [zh, en]


def affected_in(a: Mapping[str, Any], city: str) -> list[Mapping[str, Any]]:
    return [loc for loc in a.get("affected_locations", []) if loc.get("city") == city]


def area_geocodes(city: str) -> tuple[tuple[str, str], ...]:
    codes = [(GEOCODE_CITY, city)]
    if city in GB2260:
        codes.append((GEOCODE_GB2260, GB2260[city]))
    return tuple(codes)


def place_circles(places: Sequence[Mapping[str, Any]],
                  radius_km: float = PLACE_RADIUS_KM) -> tuple[str, ...]:
    """'lat,lon radius_km' (CAP 1.2 circle, WGS 84) per distinct located place (pure)."""
    seen: dict[str, None] = {}
    for place in places:
        lat, lon = place.get("lat"), place.get("lon")
        if lat is None or lon is None:
            continue
        seen.setdefault(f"{float(lat):.5f},{float(lon):.5f} {radius_km:.1f}")
    return tuple(seen)


def area_desc(a: Mapping[str, Any], city: str, n_places: int, n_located: int) -> str:
    name = CITY_FACTS[city].name_en if city in CITY_FACTS else city
    text = f"{name}: {n_places} affected location(s) of lot {a['lot_code']}"
    if n_located < n_places:  # flagged, never dropped: the city geocode still covers them
        text += f"; {n_places - n_located} without coordinates (covered by the city geocode)"
    return text


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


def schema_path() -> Any:
    """The OASIS CAP 1.2 XSD shipped with the package (schemas/xsd/CAP-v1.2.xsd)."""
    return files("foodtrace.schemas").joinpath("xsd", "CAP-v1.2.xsd")


def validate(xml: str) -> None:
    """Raise if `xml` is not a valid CAP 1.2 document (needs the xmlschema package)."""
    import xmlschema  # dev dependency: only tests and `alerts show --cap --validate` use it

    schema = xmlschema.XMLSchema(str(schema_path()))
    schema.validate(xml)
