"""Reference codes of the public contract (spec/interfaces.md), in one place.

JSON Schemas, the simulator, validation and the limits seed all use these names;
tests check that they agree.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

CITIES: tuple[str, ...] = (
    "guangzhou", "shenzhen", "zhuhai", "foshan", "huizhou",
    "dongguan", "zhongshan", "jiangmen", "zhaoqing",
)
CITY_CODES: tuple[str, ...] = (*CITIES, "other")

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
