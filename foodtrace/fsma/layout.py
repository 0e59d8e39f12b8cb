"""The tabs and column headings of the sortable spreadsheet, in one place.

FDA's template (June 2024) could not be read from here: these 13 tabs and their
headings are derived from the Key Data Elements of 21 CFR 1.1325-1.1350 and the
location and product descriptions of 21 CFR 1.1310 / 1.1455 as
../shared/domain/fsma204.md lists them (docs/fsma-export.md says so). When FDA's
exact headings are at hand, correct them here: the writers, the CSVs and the
explanation sheet all read this table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    key: str  # stable machine name (the row dicts' keys)
    zh: str
    en: str
    cfr: str = ""  # 21 CFR section it answers, when one
    note: str = ""  # what the explanation sheet says about it (Chinese, then English)

    @property
    def heading(self) -> str:
        """Chinese first, English beside it."""
        return f"{self.zh} {self.en}"


@dataclass(frozen=True)
class Tab:
    key: str  # CSV file name without .csv; for a CTE tab the event type
    zh: str
    en: str
    cfr: str
    columns: tuple[Column, ...]
    event_type: str | None = None

    @property
    def title(self) -> str:
        """The sheet name (Excel: at most 31 characters)."""
        return f"{self.zh} {self.en}"[:31]


LOCATION_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("location_id", "地点编号", "location ID"),
    ("business_name", "企业名称", "business name"),
    ("phone", "电话", "phone"),
    ("address", "地址", "address"),
    ("city", "城市", "city"),
    ("region", "省份", "state/region"),
    ("postal_code", "邮政编码", "postal code"),
    ("country", "国家", "country"),
    ("latitude", "纬度", "latitude"),
    ("longitude", "经度", "longitude"),
)
PRODUCT_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("product_code", "产品代码", "Product code"),
    ("product_name", "产品名称", "Product name"),
    ("brand", "品牌", "Brand"),
    ("commodity", "商品", "Commodity"),
    ("variety", "品种", "Variety"),
    ("pack_size", "包装规格", "Packaging size"),
    ("pack_style", "包装方式", "Packaging style"),
    ("food_category", "食品类别", "Food category"),
)


def location_columns(prefix: str, zh: str, en: str, cfr: str = "") -> tuple[Column, ...]:
    """A location description (21 CFR 1.1310: business name, phone, address, city,
    state, postal code, country; coordinates where no address)."""
    return tuple(Column(f"{prefix}_{k}", f"{zh}{fzh}", f"{en} {fen}", cfr)
                 for k, fzh, fen in LOCATION_FIELDS)


def product_columns(cfr: str = "") -> tuple[Column, ...]:
    return tuple(Column(k, zh, en, cfr) for k, zh, en in PRODUCT_FIELDS)


def _time_columns(zh: str, en: str, cfr: str) -> tuple[Column, ...]:
    return (
        Column("date_local", f"{zh}（当地）", f"{en} (local, as recorded)", cfr,
               "事件发生地记录的日期 the date at the event's place, in the offset it was sent with"),
        Column("time_local", "当地时间", "Time (local)", cfr),
        Column("utc_offset", "UTC时差", "UTC offset", cfr,
               "如 +08:00；未记录时写明 e.g. +08:00; says so when the sender gave none"),
        Column("datetime_utc", "UTC日期时间", "Date and time (UTC)", cfr),
    )


_HEAD = (
    Column("event_id", "事件编号", "Event ID", "", "foodtrace 消息编号 the foodtrace message id"),
    Column("traceability_lot_code", "可追溯批次代码", "Traceability lot code (TLC)"),
    Column("quantity", "数量", "Quantity"),
    Column("unit_of_measure", "计量单位", "Unit of measure"),
)
_TAIL = (
    Column("tlc_source_reference", "批次代码来源参考", "TLC source reference"),
    Column("reference_document_type", "参考文件类型", "Reference document type"),
    Column("reference_document_number", "参考文件编号", "Reference document number"),
    Column("actor_id", "记录企业", "Recorded by (actor ID)"),
    Column("source_document", "原始文件", "Source document", "",
           "EPCIS 文件编号，见“原始文件”表 the EPCIS document, see the Source documents tab"),
    Column("other_kdes", "其他关键数据元素", "Other KDEs (JSON)"),
    Column("derived_kdes", "推导的关键数据元素", "Derived KDEs", "",
           "由批次图推导、非发送方提供 answered by the lot graph, not sent by the sender"),
    Column("findings", "核查发现", "Findings", "", "见“核查发现”表 see the Findings tab"),
)


def _kde(key: str, zh: str, en: str, cfr: str) -> Column:
    return Column(f"kde_{key}", zh, en, cfr)


def _cte(event_type: str, zh: str, en: str, cfr: str, *, own: tuple[str, str],
         party: tuple[str, str, str] | None, date: tuple[str, str],
         kdes: tuple[Column, ...] = ()) -> Tab:
    cols = list(_HEAD)
    if event_type == "transformation":
        cols[2:2] = [Column("transformation_role", "投入/产出", "Input or output", cfr,
                            "input 投入批次, output 产出批次"),
                     Column("line", "行号", "Line")]
    cols += product_columns(cfr)
    cols += location_columns("location", own[0], own[1], cfr)
    if party:
        cols += location_columns(party[0], party[1], party[2], cfr)
    cols += location_columns("tlc_source", "批次代码来源地", "TLC source location", cfr)
    cols += _time_columns(date[0], date[1], cfr)
    cols += kdes
    cols += _TAIL
    return Tab(event_type, zh, en, cfr, tuple(cols), event_type)


CTE_TABS: tuple[Tab, ...] = (
    _cte("harvesting", "收获", "Harvesting", "21 CFR 1.1325(a)",
         own=("收获农场", "Farm"),
         party=("next_recipient", "下一接收方", "Immediate subsequent recipient"),
         date=("收获日期", "Harvest date"),
         kdes=(_kde("field_or_growing_area", "田块或种植区", "Field or growing area",
                    "21 CFR 1.1325(a)(1)(v)"),
               _kde("container_id", "养殖容器", "Container (aquaculture)",
                    "21 CFR 1.1325(a)(1)(vi)"))),
    _cte("cooling", "冷却", "Cooling", "21 CFR 1.1325(b)",
         own=("冷却地点", "Cooling location"),
         party=("next_recipient", "下一接收方", "Immediate subsequent recipient"),
         date=("冷却日期", "Cooling date"),
         kdes=(_kde("harvest_location_id", "收获农场", "Farm where harvested",
                    "21 CFR 1.1325(b)(1)(vi)"),)),
    _cte("initial_packing", "初次包装", "Initial packing", "21 CFR 1.1330",
         own=("包装地点", "Packing location"), party=None,
         date=("包装日期", "Pack date"),
         kdes=(_kde("received_quantity", "接收数量", "Quantity received", "21 CFR 1.1330(a)(3)"),
               _kde("harvest_location_id", "收获农场", "Farm where harvested",
                    "21 CFR 1.1330(a)(4)"),
               _kde("harvester_name", "收获者", "Harvester business name", "21 CFR 1.1330(a)(6)"),
               _kde("harvester_phone", "收获者电话", "Harvester phone", "21 CFR 1.1330(a)(6)"),
               _kde("harvest_date", "收获日期", "Harvest date", "21 CFR 1.1330(a)(8)"),
               _kde("cooling_location_id", "冷却地点", "Cooling location", "21 CFR 1.1330(a)(9)"),
               _kde("cooling_date", "冷却日期", "Cooling date", "21 CFR 1.1330(a)(10)"))),
    _cte("first_receiving", "首次陆上接收", "First land receiving", "21 CFR 1.1335",
         own=("接收地点", "Receiving location"),
         party=("previous_source", "上一来源", "Previous source"),
         date=("上岸日期", "Landing date"),
         kdes=(_kde("harvest_date_range", "捕捞日期范围", "Harvest date range",
                    "21 CFR 1.1335(d)"),
               _kde("harvest_area", "捕捞区域", "Harvest area", "21 CFR 1.1335(d)"))),
    _cte("shipping", "发运", "Shipping", "21 CFR 1.1340",
         own=("发货地点", "Ship-from location"),
         party=("ship_to", "收货方", "Ship-to location"),
         date=("发运日期", "Ship date")),
    _cte("receiving", "接收", "Receiving", "21 CFR 1.1345",
         own=("收货地点", "Receiving location"),
         party=("ship_from", "发货方", "Immediate previous source"),
         date=("接收日期", "Receive date")),
    _cte("transformation", "转化", "Transformation", "21 CFR 1.1350",
         own=("转化地点", "Transformation location"), party=None,
         date=("转化完成日期", "Transformation completion date")),
    _cte("sale", "零售", "Retail sale", "—",
         own=("销售地点", "Sale location"), party=None,
         date=("销售日期", "Sale date")),
)

README_TAB = Tab("readme", "说明", "Read me", "21 CFR 1.1455(c)(3)(ii)", (
    Column("tab", "表", "Tab"),
    Column("column", "列", "Column"),
    Column("cfr", "法规条款", "21 CFR section"),
    Column("meaning", "含义", "Meaning"),
))
LOCATIONS_TAB = Tab("locations", "地点说明", "Location descriptions", "21 CFR 1.1310", (
    *location_columns("location", "", "Location", "21 CFR 1.1310"),
    Column("location_kind", "地点类型", "Location kind"),
    Column("missing", "缺少的信息", "Not in master data", "",
           "主数据未提供的字段 fields the master data did not give"),
))
PRODUCTS_TAB = Tab("products", "产品说明", "Product descriptions", "21 CFR 1.1310",
                   product_columns("21 CFR 1.1310"))
FINDINGS_TAB = Tab("findings", "核查发现", "Findings", "interfaces.md 2.4", (
    Column("event_id", "事件编号", "Event ID"),
    Column("event_type", "事件类型", "Event type"),
    Column("traceability_lot_code", "可追溯批次代码", "Traceability lot code (TLC)"),
    Column("rule", "规则", "Rule"),
    Column("severity", "严重程度", "Severity"),
    Column("cfr", "法规条款", "21 CFR section"),
    Column("message", "说明", "Message"),
    Column("status", "状态", "Status", "",
           "open 未解决, derived 已推导, reference_arrived 引用已到达"),
    Column("resolved_value", "推导值", "Resolved value"),
))
DOCUMENTS_TAB = Tab("documents", "原始文件", "Source documents", "21 CFR 1.1455(b)", (
    Column("event_id", "事件编号", "Event ID"),
    Column("document_id", "EPCIS文件编号", "EPCIS document ID"),
    Column("epcis_event_id", "EPCIS事件编号", "EPCIS eventID"),
    Column("characters", "字符数", "Characters"),
    Column("where", "获取方式", "Where to get it"),
    Column("epcis_event", "EPCIS事件", "EPCIS event (JSON)", "",
           "超过单元格上限时不粘贴 not pasted when over Excel's cell limit"),
))

TABS: tuple[Tab, ...] = (README_TAB, *CTE_TABS, LOCATIONS_TAB, PRODUCTS_TAB, FINDINGS_TAB,
                         DOCUMENTS_TAB)
assert len(TABS) == 13 and len({t.title for t in TABS}) == 13
assert all(len(f"{t.zh} {t.en}") <= 31 for t in TABS)
TAB_BY_EVENT_TYPE = {t.event_type: t for t in CTE_TABS}

# Codes the explanation sheet lists (Chinese first, English beside it).
CODES: tuple[tuple[str, str], ...] = (
    ("derived", "推导：由批次图得出（批次代码来源取自分配该代码的事件；下一接收方取自该批次的首次发运）"
                " derived: answered by the lot graph (a TLC source from the event that assigned"
                " the code; a harvest's next recipient from the lot's first shipping)"),
    ("open", "未解决：发送方尚未提供 open: the sender has not supplied it"),
    ("reference_arrived", "引用已到达：所引用的事件后来到达 reference arrived: the event it named"
                          " arrived later"),
    ("offset not recorded", "时差未记录：发送方只给出 UTC（Z 或 -00:00），当地日期不可知"
                            " the sender gave UTC only (Z or -00:00): the local date is unknown"),
    ("input / output", "转化事件：每个投入批次与产出批次各占一行，以事件编号关联"
                       " transformation: one row per input and per output lot, joined by event ID"),
)
