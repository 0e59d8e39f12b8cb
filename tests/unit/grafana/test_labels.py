"""The one label table: strict (a text without Chinese fails the build), cities in
both languages, and every label of the table really bilingual."""

from __future__ import annotations

import pytest

from foodtrace.grafana.labels import (
    COLUMNS,
    TEXT,
    MissingLabel,
    city_name,
    column_label,
    translate,
)
from foodtrace.reference import CITY_CODES


def test_translate_is_strict_and_keeps_chinese_and_english() -> None:
    assert translate("Emergency coordination", "zh-CN") == "应急协调"
    assert translate("Emergency coordination", "en") == "Emergency coordination"
    assert translate("KDE completeness / 关键数据要素完整性", "zh-CN").startswith("KDE")
    with pytest.raises(MissingLabel):
        translate("A panel nobody translated", "zh-CN")


def test_the_nine_cities_and_other() -> None:
    assert [city_name(c, "zh-CN") for c in CITY_CODES] == [
        "广州", "深圳", "珠海", "佛山", "惠州", "东莞", "中山", "江门", "肇庆", "其他"
    ]
    assert [city_name(c, "en") for c in CITY_CODES] == [
        "Guangzhou", "Shenzhen", "Zhuhai", "Foshan", "Huizhou", "Dongguan", "Zhongshan",
        "Jiangmen", "Zhaoqing", "other",
    ]


def test_every_label_has_chinese() -> None:
    def chinese(text: str) -> bool:
        return any("\u4e00" <= ch <= "\u9fff" for ch in text)

    assert all(chinese(zh) for zh in TEXT.values())
    assert all(chinese(zh) or zh.isupper() for zh, _ in COLUMNS.values())  # "DAG"
    assert column_label("city", "zh-CN") == "城市" and column_label("city", "en") == "city"
    assert column_label("no_such_column", "zh-CN") is None
