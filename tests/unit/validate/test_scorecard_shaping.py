"""The scorecard's pure parts: the Asia/Shanghai window, shaping the SQL rows (worst
first, gaps per sender), the JSON, and the bilingual tables."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from foodtrace.cli.scorecard_cmd import render, table
from foodtrace.validate.scorecard import TIMEZONE, Completeness, shape, window, worst_first

NOW = datetime(2025, 3, 10, 17, 0, tzinfo=UTC)  # 01:00 on 11 March in Shanghai


def _c(dimension: str, key: str, events: int, complete: int, gaps: int = 0) -> dict:
    share = Decimal(complete) / Decimal(events)
    return {
        "dimension": dimension,
        "key": key,
        "events": events,
        "complete_events": complete,
        "completeness": share.quantize(Decimal("0.0001")),
        "kde_gaps": gaps,
    }


def _gap(sender: str, rank: int, rule: str, gaps: int, derived: int = 0) -> dict:
    return {
        "sender_id": sender,
        "rank": rank,
        "rule": rule,
        "event_type": rule.split(".")[1],
        "cfr_section": "21 CFR 1.1345(a)(7)" if "receiving" in rule else None,
        "message": f"lacks {rule}",
        "gaps": gaps,
        "derived": derived,
    }


ROWS = [
    _c("sender", "c", 2, 2),
    _c("sender", "a", 4, 3, 2),
    _c("sender", "b", 2, 0, 3),
    _c("sender", "d", 1, 0, 1),  # as bad as b, fewer events: after b
    _c("event_type", "sale", 2, 2),
    _c("event_type", "receiving", 3, 0, 4),
    _c("category", "unknown", 2, 2),
    _c("category", "aquatic_products", 3, 0, 4),
    _c("total", "all", 9, 5, 6),
]
DAYS = [
    {
        "day": date(2025, 3, 11),
        "events": 5,
        "complete_events": 3,
        "completeness": Decimal("0.6"),
        "kde_gaps": 2,
    },
    {
        "day": date(2025, 3, 10),
        "events": 4,
        "complete_events": 2,
        "completeness": Decimal("0.5"),
        "kde_gaps": 4,
    },
]
GAPS = [
    _gap("b", 2, "kde.receiving.reference_document", 1),
    _gap("b", 1, "kde.receiving.tlc_source", 2, derived=1),
    _gap("a", 1, "kde.sale.lots_qty", 2),
]


def test_window_is_whole_shanghai_days_ending_today() -> None:
    win = window(3, NOW)
    assert win.start.isoformat() == "2025-03-09T00:00:00+08:00"
    assert win.end.isoformat() == "2025-03-12T00:00:00+08:00"  # today (11 March) included
    assert win.start.astimezone(UTC) == datetime(2025, 3, 8, 16, 0, tzinfo=UTC)
    assert (window(1, NOW).end - window(1, NOW).start).days == 1
    with pytest.raises(ValueError):
        window(0, NOW)


def test_worst_first_breaks_ties_by_events_then_key() -> None:
    rows = [
        Completeness("z", 1, 1, 1.0, 0),
        Completeness("b", 2, 0, 0.0, 2),
        Completeness("a", 2, 0, 0.0, 2),
        Completeness("d", 9, 0, 0.0, 9),
    ]
    assert [c.key for c in worst_first(rows)] == ["d", "a", "b", "z"]


def test_shape_orders_and_groups() -> None:
    card = shape(window(2, NOW), None, ROWS, DAYS, GAPS)
    assert [(c.key, c.completeness) for c in card.by_sender] == [
        ("b", 0.0),
        ("d", 0.0),
        ("a", 0.75),
        ("c", 1.0),
    ]
    assert all(isinstance(c.completeness, float) for c in card.by_sender)
    assert [c.key for c in card.by_event_type] == ["receiving", "sale"]
    assert [c.key for c in card.by_category] == ["aquatic_products", "unknown"]
    assert [c.key for c in card.by_day] == ["2025-03-10", "2025-03-11"]  # oldest first
    assert card.total == Completeness("all", 9, 5, 0.5556, 6)
    assert [g.rule for g in card.top_gaps["b"]] == [
        "kde.receiving.tlc_source",
        "kde.receiving.reference_document",
    ]
    assert card.top_gaps["b"][0].derived == 1 and "c" not in card.top_gaps


def test_json_nests_each_senders_gaps() -> None:
    data = shape(window(2, NOW), "b", ROWS, DAYS, GAPS).to_json()
    assert data["window"] == {
        "from": "2025-03-10T00:00:00+08:00",
        "to": "2025-03-12T00:00:00+08:00",
        "days": 2,
        "timezone": TIMEZONE,
    }
    assert data["sender"] == "b"
    assert data["total"] == {
        "key": "all",
        "events": 9,
        "complete_events": 5,
        "completeness": 0.5556,
        "kde_gaps": 6,
    }
    first = data["by_sender"][0]
    assert (first["sender_id"], first["completeness"]) == ("b", 0.0)
    assert first["top_gaps"][0] == {
        "rule": "kde.receiving.tlc_source",
        "event_type": "receiving",
        "cfr_section": "21 CFR 1.1345(a)(7)",
        "message": "lacks kde.receiving.tlc_source",
        "gaps": 2,
        "derived": 1,
    }
    last = data["by_sender"][-1]
    assert (last["sender_id"], last["top_gaps"]) == ("c", [])  # nothing missing
    assert [d["day"] for d in data["by_day"]] == ["2025-03-10", "2025-03-11"]
    assert data["by_event_type"][0]["event_type"] == "receiving"
    assert data["by_category"][0]["category"] == "aquatic_products"


def test_an_empty_window() -> None:
    card = shape(window(7, NOW), None, [], [], [])
    assert card.total is None and card.to_json()["by_sender"] == []
    lines = render(card)
    assert lines[-1] == "无事件 no events in this window"
    assert "2025-03-05 – 2025-03-11" in lines[1]


def test_render_lists_senders_worst_first_with_top_gap_and_cfr() -> None:
    lines = render(shape(window(2, NOW), None, ROWS, DAYS, GAPS))
    start = lines.index("按发送方 by sender (最差在前 worst first)")
    header, _dashes, *rows = lines[start + 1 : start + 7]
    assert header.startswith("发送方 sender") and "CFR 条款 section" in header
    assert [r.split()[0] for r in rows] == ["b", "d", "a", "c"]
    assert rows[0].split()[1:6] == ["2", "0", "0.0%", "3", "kde.receiving.tlc_source"]
    assert rows[0].endswith("21 CFR 1.1345(a)(7)")
    assert rows[2].split()[-1] == "-"  # a sale KDE: required by the contract, no CFR section
    assert "收货 receiving" in "\n".join(lines) and "水产品 aquatic_products" in "\n".join(lines)
    assert lines[2] == "合计 total: 5/9 事件要素齐全 events complete (55.6%), 6 处缺失 KDE gaps"
    gap_rows = lines[lines.index("主要缺失 top gaps (图谱补全仍计入 derived still counts)") + 3 :]
    assert [r.split()[:3] for r in gap_rows] == [["b", "2", "1"], ["b", "1", "0"], ["a", "2", "0"]]


def test_table_aligns_by_display_width() -> None:
    lines = table(["发送方 sender", "n"], [["farm-a", "1"], ["农场", "22"]])
    # "发送方 sender" is 13 cells wide (three double-width characters)
    assert lines[1] == "-" * 13 + "  " + "-" * 2
    assert lines[2] == "farm-a" + " " * 7 + "  1"
    assert lines[3] == "农场" + " " * 9 + "  22"
