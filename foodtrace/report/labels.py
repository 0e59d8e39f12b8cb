"""Chinese first, English beside: the words of the report (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from foodtrace.reference import ANALYTE_NAMES_ZH, FOOD_CATEGORIES

CHINA_STANDARD_TIME = timezone(timedelta(hours=8))

SEVERITY = {"critical": "严重", "warning": "警告"}
STATUS = {"open": "未处理", "acknowledged": "已确认", "closed": "已关闭"}
TEST_KIND = {"rapid": "快速检测", "confirmatory": "确证检测"}
MSG_TYPE = {"Alert": "首次告警", "Update": "更新", "Cancel": "撤销"}
ACTION = {
    "raised": "发出", "upgraded": "升级", "cleared": "解除", "acknowledged": "确认",
    "closed": "关闭", "noted": "备注", "rescoped": "范围更新",
}
KIND = {
    "farm": "农场", "packer": "包装厂", "processor": "加工厂", "distributor": "经销商",
    "wholesale_market": "批发市场", "retailer": "零售店", "restaurant": "餐馆", "lab": "实验室",
}
ROLE = {
    "created": "生产(赋码)", "cooled": "冷却", "packed": "包装", "shipped_from": "发出",
    "shipped_to": "发往", "received": "收货", "transformed_into": "投料",
    "transformed_from": "加工产出", "sold": "销售", "sampled": "抽样",
}
FINDING_SEVERITY = {"error": "错误", "warning": "警告", "info": "提示"}
# One home for analyte names: the CAP writer and the dashboards read the same table.
ANALYTE = {code: names[0] for code, names in ANALYTE_NAMES_ZH.items()}


def zh(table: dict[str, str], code: str | None) -> str:
    """The Chinese word for a code, or the code itself when there is none."""
    if code is None:
        return "—"
    return table.get(code, code)


def category(code: str | None) -> tuple[str, str]:
    """(Chinese, English) of a food category code."""
    if code is None or code not in FOOD_CATEGORIES:
        return (code or "未知", code or "unknown")
    _parent, en, cn = FOOD_CATEGORIES[code]
    return (cn, en)


def local_time(value: str | datetime | None) -> str:
    """A timestamp in China Standard Time, to the second, with its offset:
    what a reader in the Pearl River Delta compares with their papers."""
    if value is None or value == "":
        return "—"
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        return moment.isoformat(sep=" ", timespec="seconds") + " (no offset)"
    return moment.astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m-%d %H:%M:%S +08:00")


def number(value: object) -> str:
    if value is None:
        return "—"
    try:
        return f"{float(value):g}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
