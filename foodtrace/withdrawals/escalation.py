"""The CAP 1.2 Update that tells a city's emergency office which businesses are
overdue on an alert's withdrawal notices (pure). Chinese first, English beside
it: two <info> blocks, zh-CN then en-US."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from foodtrace.alerts.cap import CAP_NS, GB2260, RESTRICTION, CapMessage, CapRef, cap_time


def identifier(alert_id: str, city: str, n: int) -> str:
    return f"foodtrace-{alert_id}-overdue-{city}-{n}"


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    el = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        el.text = text
    return el


def _pair(parent: ET.Element, tag: str, name: str, value: str) -> None:
    el = _sub(parent, tag)
    _sub(el, "valueName", name)
    _sub(el, "value", value)


def _line(n: Mapping[str, Any], zh: bool) -> str:
    lots = ", ".join(f"{x['lot_code']} {x.get('quantity_held', '?')} {x.get('unit') or ''}".strip()
                     for x in n.get("lots", []))
    name = n.get("name") or n["location_id"]
    if zh:
        return (f"{n['actor_id']}（{name}，{n['location_id']}）：{lots or '无批次'}；期限 "
                f"{n['deadline']}；状态 {n['state']}；电话 {n.get('phone') or '未知'}")
    return (f"{n['actor_id']} ({name}, {n['location_id']}): {lots or 'no lots'}; deadline "
            f"{n['deadline']}; state {n['state']}; phone {n.get('phone') or 'unknown'}")


def build(alert: Mapping[str, Any], city: str, overdue: Sequence[Mapping[str, Any]], *,
          n: int, sent: datetime, sender: str, references: Sequence[CapRef]) -> CapMessage:
    """`overdue`: the city's overdue notices of this alert: actor_id, location_id,
    name, phone, lots, deadline, state."""
    ident = identifier(str(alert["alert_id"]), city, n)
    msg_type = "Update" if references else "Alert"
    root = ET.Element(f"{{{CAP_NS}}}alert")
    _sub(root, "identifier", ident)
    _sub(root, "sender", sender)
    _sub(root, "sent", cap_time(sent))
    _sub(root, "status", "Actual")
    _sub(root, "msgType", msg_type)
    _sub(root, "source", "foodtrace withdrawal coordination")
    _sub(root, "scope", "Restricted")
    _sub(root, "restriction", RESTRICTION)
    if references:
        _sub(root, "references", " ".join(str(r) for r in references))
    _sub(root, "incidents", str(alert["alert_id"]))
    lot = alert["lot_code"]
    count = len(overdue)
    for lang in ("zh-CN", "en-US"):
        zh = lang == "zh-CN"
        info = _sub(root, "info")
        _sub(info, "language", lang)
        _sub(info, "category", "Health")
        _sub(info, "category", "Safety")
        _sub(info, "event", f"食品撤回逾期：批次 {lot}" if zh else f"Withdrawal overdue: lot {lot}")
        _sub(info, "responseType", "Monitor")
        _sub(info, "urgency", "Immediate")
        _sub(info, "severity", "Severe" if alert.get("severity") == "critical" else "Moderate")
        _sub(info, "certainty", "Observed" if alert.get("test_kind") == "confirmatory"
             else "Possible")
        _pair(info, "eventCode", "foodtrace:withdrawal", "overdue")
        _sub(info, "senderName", "foodtrace 食品撤回协调" if zh else "foodtrace withdrawals")
        _sub(info, "headline", (f"{city}：{count} 家企业未按期完成批次 {lot} 的撤回" if zh else
                                f"{city}: {count} business(es) overdue withdrawing lot {lot}")[:160])
        _sub(info, "description", "\n".join(_line(x, zh) for x in overdue))
        _sub(info, "instruction", "请派员现场核查上述企业并督促撤回；核查后执行 foodtrace "
             "withdrawals verify NOTICE --by 姓名" if zh else
             "Send an inspector to the businesses above and see the withdrawal done; record "
             "the check with foodtrace withdrawals verify NOTICE --by NAME")
        _pair(info, "parameter", "alert_id", str(alert["alert_id"]))
        _pair(info, "parameter", "overdue_actors", ",".join(x["actor_id"] for x in overdue))
        _pair(info, "parameter", "overdue_notices", ",".join(str(x["notice_id"]) for x in overdue))
        area = _sub(info, "area")
        _sub(area, "areaDesc", f"{city}：{count} 家逾期企业" if zh else
             f"{city}: {count} overdue business(es)")
        _pair(area, "geocode", "foodtrace:city", city)
        if city in GB2260:
            _pair(area, "geocode", "GB/T 2260", GB2260[city])
    xml = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
    return CapMessage(ident, cap_time(sent), msg_type, xml)
