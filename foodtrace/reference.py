"""Reference codes of the public contract (spec/interfaces.md), in one place.

JSON Schemas, the simulator, validation and the limits seed all use these names;
tests check that they agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

CITIES: tuple[str, ...] = (
    "guangzhou", "shenzhen", "zhuhai", "foshan", "huizhou",
    "dongguan", "zhongshan", "jiangmen", "zhaoqing",
)
CITY_CODES: tuple[str, ...] = (*CITIES, "other")


@dataclass(frozen=True)
class CityFacts:
    name_zh: str
    name_en: str
    gb2260: str  # GB/T 2260 administrative-division code (prefecture level)


# Checked against the Ministry of Civil Affairs' county-and-above code list as
# republished in public GB/T 2260 tables (docs/cap.md, "Geocodes"). Dongguan and
# Zhongshan have no districts, hence their 4419xx / 4420xx city codes.
CITY_FACTS: dict[str, CityFacts] = {
    "guangzhou": CityFacts("广州市", "Guangzhou", "440100"),
    "shenzhen": CityFacts("深圳市", "Shenzhen", "440300"),
    "zhuhai": CityFacts("珠海市", "Zhuhai", "440400"),
    "foshan": CityFacts("佛山市", "Foshan", "440600"),
    "huizhou": CityFacts("惠州市", "Huizhou", "441300"),
    "dongguan": CityFacts("东莞市", "Dongguan", "441900"),
    "zhongshan": CityFacts("中山市", "Zhongshan", "442000"),
    "jiangmen": CityFacts("江门市", "Jiangmen", "440700"),
    "zhaoqing": CityFacts("肇庆市", "Zhaoqing", "441200"),
}
# Guangdong province: the division a place outside the nine cities falls back to.
GUANGDONG_GB2260 = "440000"

LOCATION_KINDS: tuple[str, ...] = (
    "farm", "packer", "processor", "distributor", "wholesale_market",
    "retailer", "restaurant", "lab",
)

EVENT_TYPES: tuple[str, ...] = (
    "harvesting", "cooling", "initial_packing", "first_receiving",
    "shipping", "receiving", "transformation", "sale",
)
# Events that assign a traceability lot code (their lots are roots of a trace).
ROOT_EVENT_TYPES: frozenset[str] = frozenset({"harvesting", "first_receiving"})

TEST_KINDS: tuple[str, ...] = ("rapid", "confirmatory")
RESULTS: tuple[str, ...] = ("positive", "negative", "inconclusive")
UNITS: tuple[str, ...] = ("mg/kg", "ug/kg", "%")
# The mass-fraction units of UNITS -> the factor to mg/kg ('%' is an enzyme-inhibition
# rate, not a concentration). Python (alerts/limits.py) and SQL (validate/sql.py) use it.
MASS_UNITS_TO_MG_PER_KG: dict[str, Decimal] = {"mg/kg": Decimal(1), "ug/kg": Decimal("0.001")}
QUANTITY_UNITS: tuple[str, ...] = ("kg", "t", "box", "case", "crate", "each")
# A timestamp up to this far ahead of our clock is not "in the future" (sender clocks
# drift): the edge's future_time check and validation's *_not_future rules.
MAX_CLOCK_SKEW = timedelta(minutes=5)

# Food categories as a tree (child -> parent). Limits are inherited downwards:
# a limit on `vegetables` applies to `leafy_vegetables` unless a more specific one exists.
FOOD_CATEGORIES: dict[str, tuple[str | None, str, str]] = {
    # code: (parent, English name, Chinese name)
    "food": (None, "All food", "食品"),
    "vegetables": ("food", "Fresh vegetables", "新鲜蔬菜"),
    "leafy_vegetables": ("vegetables", "Leafy vegetables", "叶菜类蔬菜"),
    "brassica_vegetables": ("vegetables", "Brassica vegetables", "芸薹类蔬菜"),
    "root_tuber_vegetables": ("vegetables", "Root and tuber vegetables", "根茎类和薯芋类蔬菜"),
    "vegetable_products": ("food", "Vegetable products", "蔬菜制品"),
    "fruit": ("food", "Fresh fruit", "新鲜水果"),
    "meat": ("food", "Livestock and poultry meat", "畜禽肉"),
    "livestock_meat": ("meat", "Livestock meat", "畜肉"),
    "meat_products": ("food", "Meat products", "肉制品"),
    "aquatic_products": ("food", "Aquatic products", "水产品"),
    "fish": ("aquatic_products", "Fresh fish", "鲜鱼"),
    "crustaceans": ("aquatic_products", "Crustaceans", "甲壳类"),
}

# Analyte codes a lab result may name.
ANALYTES: tuple[str, ...] = (
    # pesticides (GB 2763) and the enzyme-inhibition screen for them
    "organophosphates_carbamates", "chlorpyrifos", "omethoate", "phorate",
    "carbofuran", "methamidophos",
    # contaminants (GB 2762)
    "lead", "cadmium", "total_mercury", "methylmercury", "total_arsenic",
    "inorganic_arsenic", "chromium", "nitrite",
    # veterinary drugs and prohibited substances
    "clenbuterol", "ractopamine", "salbutamol", "malachite_green",
    "chloramphenicol", "nitrofurans", "enrofloxacin_ciprofloxacin",
    # illegal adulterants screened at markets
    "formaldehyde", "borax", "sudan_dyes",
)

# Analyte code -> (Chinese name, Chinese hazard group as a regulator names it).
ANALYTE_NAMES_ZH: dict[str, tuple[str, str]] = {
    "organophosphates_carbamates": ("有机磷和氨基甲酸酯类农药", "农药残留"),
    "chlorpyrifos": ("毒死蜱", "农药残留"),
    "omethoate": ("氧乐果", "农药残留"),
    "phorate": ("甲拌磷", "农药残留"),
    "carbofuran": ("克百威", "农药残留"),
    "methamidophos": ("甲胺磷", "农药残留"),
    "lead": ("铅", "污染物"),
    "cadmium": ("镉", "污染物"),
    "total_mercury": ("总汞", "污染物"),
    "methylmercury": ("甲基汞", "污染物"),
    "total_arsenic": ("总砷", "污染物"),
    "inorganic_arsenic": ("无机砷", "污染物"),
    "chromium": ("铬", "污染物"),
    "nitrite": ("亚硝酸盐", "污染物"),
    "clenbuterol": ("克伦特罗", "兽药残留"),
    "ractopamine": ("莱克多巴胺", "兽药残留"),
    "salbutamol": ("沙丁胺醇", "兽药残留"),
    "malachite_green": ("孔雀石绿", "兽药残留"),
    "chloramphenicol": ("氯霉素", "兽药残留"),
    "nitrofurans": ("硝基呋喃类", "兽药残留"),
    "enrofloxacin_ciprofloxacin": ("恩诺沙星和环丙沙星", "兽药残留"),
    "formaldehyde": ("甲醛", "非食用物质"),
    "borax": ("硼砂", "非食用物质"),
    "sudan_dyes": ("苏丹红", "非食用物质"),
}
