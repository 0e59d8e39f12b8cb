"""The CAP 1.2 Update that tells a city's emergency office which businesses are
overdue on an alert's withdrawal notices (pure). Chinese first, English beside
it: two <info> blocks, zh-CN then en-US, written by the same XSD-ordered writer
as the alert documents (alerts/cap.py), with expires, web, contact, the city's
GB/T 2260 geocode and a circle per overdue place the alert has coordinates for."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from foodtrace.alerts import cap, cap_zh
from foodtrace.alerts.cap import Area, CapMessage, CapRef, InfoBlock
from foodtrace.alerts.cap_settings import CapSettings


def identifier(alert_id: str, city: str, n: int) -> str:
    """The foodtrace-scheme identifier of the n-th escalation of an alert in a city."""
    return f"foodtrace-{alert_id}-overdue-{city}-{n}"


def _line(n: Mapping[str, Any], zh: bool) -> str:
    lots = ", ".join(f"{x['lot_code']} {x.get('quantity_held', '?')} {x.get('unit') or ''}".strip()
                     for x in n.get("lots", []))
    name = n.get("name") or n["location_id"]
    if zh:
        return (f"{n['actor_id']}（{name}，{n['location_id']}）：{lots or '无批次'}；期限 "
                f"{cap_zh.local_time(n['deadline'])}；状态 {n['state']}；"
                f"电话 {n.get('phone') or '未知'}")
    return (f"{n['actor_id']} ({name}, {n['location_id']}): {lots or 'no lots'}; deadline "
            f"{n['deadline']}; state {n['state']}; phone {n.get('phone') or 'unknown'}")


def overdue_places(alert: Mapping[str, Any],
                   overdue: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The alert's affected locations (with their coordinates) where a business is overdue."""
    wanted = {o["location_id"] for o in overdue}
    return [loc for loc in alert.get("affected_locations", []) if loc.get("location_id") in wanted]


def build(alert: Mapping[str, Any], city: str, overdue: Sequence[Mapping[str, Any]], *,
          n: int, sent: datetime, sender: str, references: Sequence[CapRef],
          settings: CapSettings | None = None, sequence: int | None = None) -> CapMessage:
    """`overdue`: the city's overdue notices of this alert: actor_id, location_id,
    name, phone, lots, deadline, state. `sequence`: N of a GB/T 35965.1 identifier,
    claimed by the sweep (cap_serial.claim); without it, 9 - (n - 1) mod 10."""
    conf = settings or CapSettings.from_env()
    if sequence is None:
        sequence = 9 - (n - 1) % 10
    ident = cap.message_identifier(conf, city=city, sent=sent, sequence=sequence,
                                   foodtrace_id=identifier(str(alert["alert_id"]), city, n))
    msg_type = "Update" if references else "Alert"
    root = cap.header(ident, sender, sent, msg_type, "foodtrace withdrawal coordination",
                      references, str(alert["alert_id"]))
    lot, count = alert["lot_code"], len(overdue)
    located = overdue_places(alert, overdue)
    circles = cap.place_circles(located)
    flagged = count - len({p["location_id"] for p in located
                           if p.get("lat") is not None and p.get("lon") is not None})
    common: dict[str, Any] = {
        "response_type": "Monitor", "urgency": "Immediate",
        "severity": "Severe" if alert.get("severity") == "critical" else "Moderate",
        "certainty": "Observed" if alert.get("test_kind") == "confirmatory" else "Possible",
        "event_code": ("foodtrace:withdrawal", "overdue"), "expires": cap.expires_at(sent, conf),
        "web": conf.web_for(str(alert["alert_id"])), "contact": conf.contact,
        "parameters": [
            ("alert_id", str(alert["alert_id"])),
            ("overdue_actors", ",".join(x["actor_id"] for x in overdue)),
            ("overdue_notices", ",".join(str(x["notice_id"]) for x in overdue)),
        ],
    }
    zh_city, geocodes = cap_zh.city_name(city), cap.area_geocodes(city)
    zh_area = f"{zh_city}：{count} 家逾期企业"
    en_area = f"{city}: {count} overdue business(es)"
    if flagged > 0:  # flagged, never dropped: the city geocode still covers them
        zh_area += f"，其中 {flagged} 处无坐标（以全市行政区划代码覆盖）"
        en_area += f"; {flagged} place(s) without coordinates (covered by the city geocode)"
    blocks = [
        InfoBlock(
            language="zh-CN", event=f"食品撤回逾期：批次 {lot}",
            sender_name=conf.sender_name_zh,
            headline=f"食品撤回逾期：{zh_city} {count} 家企业未按期完成批次 {lot} 的下架撤回",
            description="\n".join(_line(x, True) for x in overdue),
            instruction="请派员现场核查上述企业并督促完成撤回；核查后执行 foodtrace withdrawals "
                        "verify NOTICE --by 姓名 记录核查结果。",
            area=Area(zh_area, circles, geocodes), **common),
        InfoBlock(
            language="en-US", event=f"Withdrawal overdue: lot {lot}",
            sender_name=conf.sender_name_en,
            headline=f"{city}: {count} business(es) overdue withdrawing lot {lot}",
            description="\n".join(_line(x, False) for x in overdue),
            instruction="Send an inspector to the businesses above and see the withdrawal done; "
                        "record the check with foodtrace withdrawals verify NOTICE --by NAME",
            area=Area(en_area, circles, geocodes), **common),
    ]
    for block in blocks:
        cap.append_info(root, block)
    return CapMessage(ident, cap.cap_time(sent), msg_type, cap.serialize(root))
