"""The zh-CN text of an alert's CAP document, as a food-safety regulator in the
Pearl River Delta writes it (pure). Codes that have no Chinese name yet (a new
analyte, a sender's free-text reason) are shown as they are, never dropped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from foodtrace.reference import ANALYTE_NAMES_ZH, CITY_FACTS, FOOD_CATEGORIES

_CST = timezone(timedelta(hours=8))
NOT_VERIFIED_ZH = "限量值尚未与标准原文核对"
_TEST_KIND = {"rapid": "快速检测", "confirmatory": "确证检测"}
_CLASSIFICATION = {"alert": "预警通报", "information_for_attention": "关注通报"}
_RISK = {"serious": "严重", "undecided": "待定"}
_RESOLUTION = {"cleared_by_confirmatory": "确证检测未超标，解除", "closed_by_operator": "人工关闭"}
_CHANGE_NAMES = {
    "affected_lots": "受影响批次", "affected_locations": "受影响地点",
    "affected_cities": "受影响城市", "source_lots": "源头批次", "source_locations": "源头地点",
}


def city_name(city: str) -> str:
    facts = CITY_FACTS.get(city)
    return facts.name_zh if facts else ("珠三角以外地区" if city == "other" else city)


def analyte_name(code: str) -> str:
    return ANALYTE_NAMES_ZH.get(code, (code, ""))[0]


def hazard_group(code: str) -> str:
    return ANALYTE_NAMES_ZH.get(code, ("", "有害物质"))[1]


def _product(a: Mapping[str, Any]) -> str:
    return str(a.get("product_name") or a.get("product_code") or "食品")


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else ("?" if value is None else str(value))


def _measure(a: Mapping[str, Any]) -> str:
    if a.get("value") is None:
        return {"positive": "阳性", "negative": "阴性", "inconclusive": "结果不确定"}.get(
            str(a.get("result")), "检出")
    return f"{_num(a['value'])} {a.get('unit') or ''}".strip()


def _limit(a: Mapping[str, Any]) -> str:
    if a.get("limit") is None:
        return "无数值限量（定性快检）"
    text = f"{_num(a['limit'])} {a.get('limit_unit') or ''}".strip()
    source = (a.get("limit_source") or {}).get("citation") or a.get("rule")
    return f"{text}（依据：{source}）" if source else text


def local_time(value: Any) -> str:
    """An ISO timestamp as Beijing time, 'YYYY-MM-DD hh:mm'; shown as given if unparsable."""
    if not value:
        return "未知"
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        return str(value)
    return moment.astimezone(_CST).strftime("%Y-%m-%d %H:%M")


def _category(code: Any) -> str:
    return FOOD_CATEGORIES[code][2] if code in FOOD_CATEGORIES else str(code or "未知")


def event(a: Mapping[str, Any]) -> str:
    kind = "快检阳性" if a["test_kind"] == "rapid" else "超标"
    return f"食品安全预警：{hazard_group(a['analyte'])}{kind}（{analyte_name(a['analyte'])}）"


def headline(a: Mapping[str, Any], msg_type: str, city: str) -> str:
    lot, analyte, where = a["lot_code"], analyte_name(a["analyte"]), city_name(city)
    if msg_type == "Cancel":
        if a.get("resolution") == "cleared_by_confirmatory":
            return f"解除：{where}批次 {lot} 经确证检测{analyte}未超过限量，解除控制"
        return f"关闭：{where}批次 {lot}（{analyte}）预警已关闭"
    if a["severity"] == "critical":
        return (f"食品安全预警：{where}批次 {lot}（{_product(a)}）{analyte}超标"
                f"（{_measure(a)}），立即下架召回")
    return (f"食品安全预警：{where}批次 {lot}（{_product(a)}）{hazard_group(a['analyte'])}快检阳性"
            f"（{analyte}），暂停销售、封存待检")


def description(a: Mapping[str, Any], city: str) -> str:
    in_city = [loc for loc in a.get("affected_locations", []) if loc.get("city") == city]
    sources = "、".join(s["location_id"] for s in a.get("source_locations", [])) or "未知"
    lines = [
        f"批次 {a['lot_code']}（产品 {_product(a)}，编码 {a.get('product_code') or '未知'}，"
        f"类别 {_category(a.get('category'))}）：{analyte_name(a['analyte'])} "
        f"检测结果 {_measure(a)}，限量 {_limit(a)}。",
        f"判定依据（规则原文）：{a.get('reason') or '-'}。",
        f"检测：{_TEST_KIND.get(a['test_kind'], a['test_kind'])}（方法 {a.get('method') or '未知'}），"
        f"检测机构 {a['lab_id']}，样品 {a['sample_id']}，检测时间 {local_time(a.get('tested_at'))}"
        "（北京时间）。",
        f"涉及范围：{len(a.get('affected_lots', []))} 个批次，分布于 "
        f"{len(a.get('affected_cities', []))} 个城市的 {len(a.get('affected_locations', []))} "
        f"个地点；其中{city_name(city)} {len(in_city)} 个地点。",
        f"来源：{len(a.get('source_lots', []))} 个源头批次，来自 {sources}。",
        f"通报分级：{_CLASSIFICATION.get(str(a.get('classification')), a.get('classification'))}，"
        f"风险判定：{_RISK.get(str(a.get('risk_decision')), a.get('risk_decision'))}。",
    ]
    if a.get("changes"):  # a re-scoped version: what late data added or removed
        lines.append(f"迟到数据引起的变更（第 {a.get('version')} 版）：{changes(a['changes'])}。")
    if not a.get("lot_traced", True):
        lines.append("范围为临时范围：尚无供应链事件记录该批次，后续数据到达后将更新。")
    if a.get("limit_verified") is False:
        lines.append(f"注意：{NOT_VERIFIED_ZH}。")
    if a.get("status") == "closed":
        resolution = _RESOLUTION.get(str(a.get("resolution")), a.get("resolution"))
        lines.append(f"已关闭（{resolution}），关闭人 {a.get('closed_by')}："
                     f"{a.get('close_note') or '-'}。")
    return "\n".join(lines)


def _listed(items: Sequence[str], city_codes: bool = False) -> str:
    shown = [city_name(i) if city_codes else i for i in items[:8]]
    more = f" 等 {len(items)} 项" if len(items) > 8 else ""
    return "、".join(shown) + more


def changes(diff: Mapping[str, Any]) -> str:
    """What a new version adds and removes, in Chinese (rescope.describe in English)."""
    parts = []
    for verb, what in (("新增", diff.get("added", {})), ("移除", diff.get("removed", {}))):
        for name, items in what.items():
            label = _CHANGE_NAMES.get(name, name)
            parts.append(f"{verb}{label}：{_listed(items, name == 'affected_cities')}")
    if diff.get("holdings_changed"):
        parts.append(f"库存数量变化：{_listed(diff['holdings_changed'])}")
    if diff.get("locations_completed"):
        parts.append("地点主数据已补全")
    if diff.get("product_completed"):
        parts.append(f"产品主数据已补全：{_listed(diff['product_completed'])}")
    if diff.get("within_category_limit"):
        parts.append(f"按产品所属类别（{diff['within_category_limit']}）的限量未超标，请复核本预警")
    if diff.get("retracted_events"):
        parts.append("发送方声明事件有误（EPCIS errorDeclaration），已从追溯中移除："
                     + _listed(diff["retracted_events"]))
    if "lot_traced" in diff:
        parts.append("该批次已进入批次关系图" if diff["lot_traced"] else "该批次尚未追溯")
    return "；".join(parts) or "范围已重新计算"


def instruction(a: Mapping[str, Any], msg_type: str) -> str:
    lots = "、".join(lot["lot_code"] for lot in a.get("affected_lots", [])) or a["lot_code"]
    if msg_type == "Cancel":
        if a.get("resolution") == "cleared_by_confirmatory":
            return f"解除对批次 {lots} 的控制措施：确证检测结果未超过限量。"
        return f"批次 {lots} 的预警已关闭，请按关闭说明处理。"
    if a["severity"] == "critical":
        return (f"请立即督促相关企业将批次 {lots} 下架，停止销售和使用，召回已售出和已发出的产品；"
                "封存上述地点的库存，并报告已撤回的数量。")
    return (f"请督促相关企业暂停销售和使用批次 {lots}，就地封存并保持可识别，"
            "抽样送检确证；确证检测结果出具前不得解除。")


def area_desc(a: Mapping[str, Any], city: str, n_places: int, n_located: int) -> str:
    text = f"{city_name(city)}：批次 {a['lot_code']} 涉及 {n_places} 个地点"
    if n_located < n_places:  # flagged, never dropped: the city geocode still covers them
        text += f"，其中 {n_places - n_located} 个地点无坐标（以全市行政区划代码覆盖）"
    return text
