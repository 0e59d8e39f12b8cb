"""The location and product descriptions of the synthetic businesses (the optional
master-data fields of interfaces.md 2.3 that the FDA sortable spreadsheet shows).

Chinese business names, +86 phone numbers with each city's area code, addresses in
the nine cities and their postal codes. Each business's details come from a random
generator seeded by its own id, never from the network's generator: adding them
leaves every id, place and flow of a seeded day as it was.
"""

from __future__ import annotations

import random
from typing import Any

from foodtrace.reference import CITY_FACTS

CITY_ZH = {code: facts.name_zh for code, facts in CITY_FACTS.items()}
# The first three digits of the city's postal codes, and its telephone area code.
POSTAL_PREFIX = {
    "guangzhou": "510", "shenzhen": "518", "zhuhai": "519", "foshan": "528", "huizhou": "516",
    "dongguan": "523", "zhongshan": "528", "jiangmen": "529", "zhaoqing": "526",
}  # fmt: skip
AREA_CODE = {
    "guangzhou": "20", "shenzhen": "755", "zhuhai": "756", "foshan": "757", "huizhou": "752",
    "dongguan": "769", "zhongshan": "760", "jiangmen": "750", "zhaoqing": "758",
}  # fmt: skip
DISTRICT_ZH = {
    "Baiyun": "白云区", "Panyu": "番禺区", "Huadu": "花都区", "Zengcheng": "增城区",
    "Conghua": "从化区", "Tianhe": "天河区", "Haizhu": "海珠区", "Liwan": "荔湾区",
    "Longgang": "龙岗区", "Bao'an": "宝安区", "Futian": "福田区", "Nanshan": "南山区",
    "Luohu": "罗湖区", "Longhua": "龙华区", "Doumen": "斗门区", "Jinwan": "金湾区",
    "Xiangzhou": "香洲区", "Shunde": "顺德区", "Nanhai": "南海区", "Sanshui": "三水区",
    "Gaoming": "高明区", "Chancheng": "禅城区", "Boluo": "博罗县", "Huiyang": "惠阳区",
    "Huidong": "惠东县", "Huicheng": "惠城区", "Humen": "虎门镇", "Chang'an": "长安镇",
    "Songshan Lake": "松山湖", "Dongcheng": "东城街道", "Houjie": "厚街镇",
    "Xiaolan": "小榄镇", "Shiqi": "石岐街道", "Tanzhou": "坦洲镇", "Sanxiang": "三乡镇",
    "Taishan": "台山市", "Kaiping": "开平市", "Xinhui": "新会区", "Heshan": "鹤山市",
    "Enping": "恩平市", "Gaoyao": "高要区", "Sihui": "四会市", "Duanzhou": "端州区",
    "Dinghu": "鼎湖区", "Guangning": "广宁县",
}  # fmt: skip
_CROP_ZH = {
    "VEG-CHOYSUM": "菜心", "VEG-CHCABBAGE": "大白菜", "VEG-SPINACH": "菠菜",
    "VEG-LETTUCE": "生菜", "FRU-LYCHEE": "荔枝", "FRU-BANANA": "香蕉",
}  # fmt: skip
_STYLE_ZH = {
    "Supermarket": "超市", "Fresh Mart": "生鲜店", "Wet Market Stalls": "农贸市场档口",
    "Community Grocery": "社区便利店", "Dim Sum Restaurant": "茶楼", "Cantonese Kitchen": "粤菜馆",
    "Staff Canteen": "职工食堂", "Hotpot Restaurant": "火锅店", "Noodle House": "面馆",
}  # fmt: skip
_ROADS = ("工业大道", "人民路", "建设路", "农业路", "环城路", "迎宾大道", "沿江路", "新兴路")


def business_name(role: str, city: str, district: str, crops: tuple[str, ...], name: str,
                  number: int) -> str:
    """The business's registered name in Chinese, as on its licence."""
    place = f"{CITY_ZH[city]}{DISTRICT_ZH.get(district, '')}"
    style = next((zh for en, zh in _STYLE_ZH.items() if en in name), "")
    crop = _CROP_ZH.get(crops[0], "") if crops else ""
    match role:
        case "veg_farm":
            return f"{place}{crop}种植专业合作社（{number}号）"
        case "fruit_farm":
            return f"{place}{crop}果园（{number}号）"
        case "pig_farm":
            return f"{place}生猪养殖场（{number}号）"
        case "fish_pond":
            return f"{place}水产养殖场（{number}号）"
        case "packer":
            return f"{place}农产品包装厂（{number}号）"
        case "freshcut_plant":
            return f"{place}净菜加工厂（{number}号）"
        case "pork_plant":
            return f"{place}生猪定点屠宰及肉品加工厂（{number}号）"
        case "dumpling_plant":
            return f"{place}速冻食品厂（{number}号）"
        case "distributor":
            return f"{place}冷链配送中心（{number}号）"
        case "market":
            return f"{place}农产品批发市场（{number}号）"
        case "retailer" | "restaurant":
            return f"{place}{style}（{number}号）"
        case "lab":
            return f"{place}食品检验检测中心（{number}号）"
        case "station":
            return f"{place}农产品批发市场快检室（{number}号）"
    raise ValueError(role)


def location_description(actor_id: str, role: str, city: str, district: str,
                         crops: tuple[str, ...], name: str, number: int) -> dict[str, Any]:
    """business_name, address, postal_code, phone and country of one business."""
    if city not in CITY_ZH:
        return {}
    rng = random.Random(f"foodtrace-contact:{actor_id}")
    road = rng.choice(_ROADS)
    street_number = rng.randint(1, 288)
    return {
        "business_name": business_name(role, city, district, crops, name, number),
        "address": f"广东省{CITY_ZH[city]}{DISTRICT_ZH.get(district, '')}{road}{street_number}号",
        "postal_code": f"{POSTAL_PREFIX[city]}{rng.randint(0, 999):03d}",
        "phone": _phone(city, rng),
        "country": "CN",
    }


def _phone(city: str, rng: random.Random) -> str:
    area = AREA_CODE[city]
    # Guangzhou and Shenzhen have 8-digit local numbers, so do the other seven cities.
    local = f"{rng.randint(2, 8)}{rng.randint(0, 9_999_999):07d}"
    return f"+86 {area} {local[:4]} {local[4:]}"


# brand, commodity, variety, packaging size and style of each simulated product
PRODUCT_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "VEG-CHOYSUM": {"brand": "岭南鲜", "commodity": "菜心 choy sum", "variety": "四九菜心",
                    "pack_size": "10 kg", "pack_style": "塑料周转筐 plastic crate"},
    "VEG-CHCABBAGE": {"brand": "岭南鲜", "commodity": "大白菜 Chinese cabbage",
                      "variety": "黄心大白菜", "pack_size": "15 kg",
                      "pack_style": "网袋 mesh bag"},
    "VEG-SPINACH": {"brand": "岭南鲜", "commodity": "菠菜 spinach", "variety": "大叶菠菜",
                    "pack_size": "5 kg", "pack_style": "泡沫箱 foam box"},
    "VEG-LETTUCE": {"brand": "岭南鲜", "commodity": "生菜 lettuce", "variety": "意大利生菜",
                    "pack_size": "5 kg", "pack_style": "泡沫箱 foam box"},
    "FRU-LYCHEE": {"brand": "增城挂绿", "commodity": "荔枝 lychee", "variety": "桂味",
                   "pack_size": "5 kg", "pack_style": "纸箱 carton"},
    "FRU-BANANA": {"brand": "珠江蕉", "commodity": "香蕉 banana", "variety": "巴西蕉",
                   "pack_size": "13 kg", "pack_style": "纸箱 carton"},
    "PRK-PIG": {"commodity": "生猪 live pigs", "variety": "杜长大",
                "pack_size": "1 head 头", "pack_style": "活体运输 live transport"},
    "PRK-CHILLED": {"brand": "粤冷鲜", "commodity": "猪肉 pork", "variety": "白条猪肉",
                    "pack_size": "20 kg", "pack_style": "冷藏周转箱 chilled crate"},
    "AQU-GRASSCARP": {"commodity": "草鱼 grass carp", "variety": "脆肉鲩",
                      "pack_size": "25 kg", "pack_style": "充氧活鱼箱 live tank"},
    "AQU-TILAPIA": {"commodity": "罗非鱼 tilapia", "variety": "吉富罗非鱼",
                    "pack_size": "25 kg", "pack_style": "充氧活鱼箱 live tank"},
    "AQU-SHRIMP": {"commodity": "对虾 shrimp", "variety": "南美白对虾",
                   "pack_size": "10 kg", "pack_style": "充氧袋 oxygenated bag"},
    "VPR-FRESHCUT": {"brand": "鲜切坊", "commodity": "鲜切蔬菜 fresh-cut vegetables",
                     "variety": "混合 mixed", "pack_size": "500 g x 20",
                     "pack_style": "气调盒装 MAP tray"},
    "VPR-SALADPACK": {"brand": "鲜切坊", "commodity": "沙拉 salad", "variety": "混合 mixed",
                      "pack_size": "250 g x 24", "pack_style": "袋装 bag"},
    "MPR-DUMPLING": {"brand": "湾区厨房", "commodity": "速冻饺子 frozen dumplings",
                     "variety": "猪肉菜心", "pack_size": "1 kg x 10",
                     "pack_style": "速冻袋装 frozen bag"},
}  # fmt: skip
