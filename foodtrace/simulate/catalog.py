"""Static facts the simulator draws from: the nine cities, the products, and how
each kind of business is named. No randomness here."""

from __future__ import annotations

import math
from dataclasses import dataclass

from foodtrace.reference import CITIES, FOOD_CATEGORIES
from foodtrace.simulate.descriptions import PRODUCT_DESCRIPTIONS


@dataclass(frozen=True)
class City:
    code: str  # reference.CITIES
    short: str  # two letters used in ids: farm-zq-01
    name: str
    lat: float
    lon: float
    districts: tuple[str, ...]


# Rough city centres; businesses are placed around them with some jitter.
CITY_INFO: dict[str, City] = {
    c.code: c
    for c in (
        City(
            "guangzhou",
            "gz",
            "Guangzhou",
            23.13,
            113.26,
            ("Baiyun", "Panyu", "Huadu", "Zengcheng", "Conghua", "Tianhe", "Haizhu", "Liwan"),
        ),
        City(
            "shenzhen",
            "sz",
            "Shenzhen",
            22.54,
            114.06,
            ("Longgang", "Bao'an", "Futian", "Nanshan", "Luohu", "Longhua"),
        ),
        City("zhuhai", "zh", "Zhuhai", 22.27, 113.58, ("Doumen", "Jinwan", "Xiangzhou")),
        City(
            "foshan",
            "fs",
            "Foshan",
            23.02,
            113.12,
            ("Shunde", "Nanhai", "Sanshui", "Gaoming", "Chancheng"),
        ),
        City(
            "huizhou", "hz", "Huizhou", 23.11, 114.42, ("Boluo", "Huiyang", "Huidong", "Huicheng")
        ),
        City(
            "dongguan",
            "dg",
            "Dongguan",
            23.02,
            113.75,
            ("Humen", "Chang'an", "Songshan Lake", "Dongcheng", "Houjie"),
        ),
        City(
            "zhongshan",
            "zs",
            "Zhongshan",
            22.52,
            113.39,
            ("Xiaolan", "Shiqi", "Tanzhou", "Sanxiang"),
        ),
        City(
            "jiangmen",
            "jm",
            "Jiangmen",
            22.58,
            113.08,
            ("Taishan", "Kaiping", "Xinhui", "Heshan", "Enping"),
        ),
        City(
            "zhaoqing",
            "zq",
            "Zhaoqing",
            23.05,
            112.47,
            ("Gaoyao", "Sihui", "Duanzhou", "Dinghu", "Guangning"),
        ),
    )
}
assert tuple(CITY_INFO) == CITIES


@dataclass(frozen=True)
class Product:
    code: str
    name: str
    name_zh: str
    category: str  # reference.FOOD_CATEGORIES
    family: str  # vegetable | fruit | pork | aquatic | vegetable_product | pork_product


PRODUCTS: dict[str, Product] = {
    p.code: p
    for p in (
        Product("VEG-CHOYSUM", "Choy sum", "菜心", "brassica_vegetables", "vegetable"),
        Product("VEG-CHCABBAGE", "Chinese cabbage", "大白菜", "leafy_vegetables", "vegetable"),
        Product("VEG-SPINACH", "Spinach", "菠菜", "leafy_vegetables", "vegetable"),
        Product("VEG-LETTUCE", "Lettuce", "生菜", "leafy_vegetables", "vegetable"),
        Product("FRU-LYCHEE", "Lychee", "荔枝", "fruit", "fruit"),
        Product("FRU-BANANA", "Banana", "香蕉", "fruit", "fruit"),
        Product("PRK-PIG", "Live pigs for slaughter", "生猪", "livestock_meat", "pork"),
        Product("PRK-CHILLED", "Chilled pork", "冷鲜猪肉", "livestock_meat", "pork"),
        Product("AQU-GRASSCARP", "Grass carp", "草鱼", "fish", "aquatic"),
        Product("AQU-TILAPIA", "Tilapia", "罗非鱼", "fish", "aquatic"),
        Product("AQU-SHRIMP", "Whiteleg shrimp", "南美白对虾", "crustaceans", "aquatic"),
        Product(
            "VPR-FRESHCUT",
            "Fresh-cut mixed vegetables",
            "鲜切混合蔬菜",
            "vegetable_products",
            "vegetable_product",
        ),
        Product(
            "VPR-SALADPACK",
            "Vegetable salad packs",
            "蔬菜沙拉包",
            "vegetable_products",
            "vegetable_product",
        ),
        Product(
            "MPR-DUMPLING",
            "Pork and choy sum dumplings",
            "猪肉菜心饺子",
            "meat_products",
            "pork_product",
        ),
    )
}
assert all(p.category in FOOD_CATEGORIES for p in PRODUCTS.values())

VEGETABLES = ("VEG-CHOYSUM", "VEG-CHCABBAGE", "VEG-SPINACH", "VEG-LETTUCE")
FRUIT = ("FRU-LYCHEE", "FRU-BANANA")
POND_SPECIES = ("AQU-GRASSCARP", "AQU-TILAPIA", "AQU-SHRIMP")
FISH = ("AQU-GRASSCARP", "AQU-TILAPIA")


def product_message_payload(p: Product) -> dict[str, str]:
    return {
        "schema": "foodtrace/product/v1",
        "product_code": p.code,
        "name": f"{p.name} {p.name_zh}",
        "category": p.category,
        # the FDA spreadsheet's product description (optional master data)
        **PRODUCT_DESCRIPTIONS.get(p.code, {}),
    }


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    rlat1, rlat2 = math.radians(lat1), math.radians(lat2)
    dlat = rlat2 - rlat1
    dlon = math.radians(lon2 - lon1)
    a = math.sin(dlat / 2) ** 2 + math.cos(rlat1) * math.cos(rlat2) * math.sin(dlon / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))
