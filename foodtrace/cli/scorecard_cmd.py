"""`foodtrace scorecard [--sender ID] [--days N] [--top K] [--json]`.

The FSMA 204 KDE completeness scorecard: per sender (worst first), event type, food
category and day, with each sender's most frequent gaps and their 21 CFR sections.
Exit codes: 0 done, 2 database not reachable or not migrated.
"""

from __future__ import annotations

import argparse
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from foodtrace.cli.output import (
    add_json_flag,
    database_errors,
    database_failure,
    print_json,
)
from foodtrace.reference import FOOD_CATEGORIES

if TYPE_CHECKING:
    from foodtrace.cli.output import Subcommands

if TYPE_CHECKING:
    from foodtrace.validate.scorecard import Completeness, Gap, Scorecard


# Chinese names of the Critical Tracking Events, shown beside the English code.
EVENT_TYPE_ZH = {
    "harvesting": "采收",
    "cooling": "预冷",
    "initial_packing": "初次包装",
    "first_receiving": "首次接收",
    "shipping": "发货",
    "receiving": "收货",
    "transformation": "加工转化",
    "sale": "销售",
}


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def register(sub: Subcommands) -> None:
    p = sub.add_parser(
        "scorecard",
        help="FSMA 204 KDE completeness per sender, event type, category and day",
        description="How completely each sender reports the FSMA 204 Key Data Elements: "
        "events with every KDE, their share (worst sender first), the trend by day "
        "(Asia/Shanghai) and each sender's most frequent gaps with their 21 CFR sections. "
        "A gap the lot graph filled in later still counts against the sender.",
    )
    p.add_argument("--sender", metavar="ID", help="only this sender (actor id)")
    p.add_argument(
        "--days",
        type=_positive,
        default=30,
        metavar="N",
        help="the last N days in Asia/Shanghai, today included (default 30)",
    )
    p.add_argument(
        "--top",
        type=_positive,
        default=3,
        metavar="K",
        help="most frequent gaps shown per sender (default 3)",
    )
    add_json_flag(p)
    p.set_defaults(handler=run_scorecard)


def run_scorecard(args: argparse.Namespace) -> int:

    from foodtrace.db import connect
    from foodtrace.validate.scorecard import fetch, window

    win = window(args.days, datetime.now(UTC))
    try:
        with connect(autocommit=True) as conn:
            card = fetch(conn, win, args.sender, args.top)
    except database_errors() as exc:
        return database_failure(exc, "scorecard functions")
    if args.json:
        print_json(card.to_json())
    else:
        print("\n".join(render(card)))
    return 0


# --- human output -------------------------------------------------------------------------


def render(card: Scorecard) -> list[str]:
    """The scorecard as bilingual text tables (pure)."""
    w = card.window
    span = f"{w.start.date()} – {(w.end - timedelta(days=1)).date()}"
    lines = [
        "KDE 完整性记分卡 KDE completeness scorecard (FSMA 204)",
        f"时间 window: {span} (Asia/Shanghai, {w.days} 天 days)"
        + (f"  发送方 sender: {card.sender}" if card.sender else ""),
    ]
    if card.total is None:
        return [*lines, "", "无事件 no events in this window"]
    t = card.total
    lines.append(
        f"合计 total: {t.complete_events}/{t.events} 事件要素齐全 events complete "
        f"({_pct(t.completeness)}), {t.kde_gaps} 处缺失 KDE gaps"
    )
    senders = []
    for c in card.by_sender:
        top = card.top_gaps.get(c.key, [])
        first = top[0] if top else None
        senders.append(
            [c.key, *_figures(c), first.rule if first else "", _cfr(first) if first else ""]
        )
    lines += _section(
        "按发送方 by sender (最差在前 worst first)",
        ["发送方 sender", *_FIGURES, "最常缺失 top gap", "CFR 条款 section"],
        senders,
    )
    lines += _section(
        "按事件类型 by event type",
        ["事件类型 event type", *_FIGURES],
        [[_event_type(c.key), *_figures(c)] for c in card.by_event_type],
    )
    lines += _section(
        "按食品类别 by food category",
        ["食品类别 category", *_FIGURES],
        [[_category(c.key), *_figures(c)] for c in card.by_category],
    )
    lines += _section(
        "按日 by day",
        ["日期 day", *_FIGURES],
        [[c.key, *_figures(c)] for c in card.by_day],
    )
    gaps = [  # in the sender table's order: worst sender first
        [c.key, str(g.gaps), str(g.derived), g.rule, _cfr(g), g.message]
        for c in card.by_sender
        for g in card.top_gaps.get(c.key, [])
    ]
    if gaps:
        header = ["发送方 sender", "次数 count", "补全 derived", "规则 rule"]
        header += ["CFR 条款 section", "说明 message"]
        lines += _section("主要缺失 top gaps (图谱补全仍计入 derived still counts)", header, gaps)
    return lines


_FIGURES = ["事件 events", "齐全 complete", "完整率 share", "缺失 gaps"]


def _figures(c: Completeness) -> list[str]:
    return [str(c.events), str(c.complete_events), _pct(c.completeness), str(c.kde_gaps)]


def _pct(share: float) -> str:
    return f"{share * 100:.1f}%"


def _cfr(gap: Gap) -> str:
    return gap.cfr_section or "-"  # contract-only KDEs (a sale's) have no CFR section


def _event_type(code: str) -> str:
    return f"{EVENT_TYPE_ZH[code]} {code}" if code in EVENT_TYPE_ZH else code


def _category(code: str) -> str:
    known = FOOD_CATEGORIES.get(code)
    if code == "unknown":
        return "未知 unknown"
    return f"{known[2]} {code}" if known else code


def _section(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return ["", title, *table(header, rows)]


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns aligned by display width (a Chinese character takes two cells)."""
    widths = [max(_width(r[i]) for r in [header, *rows]) for i in range(len(header))]
    out = [_line(header, widths), "  ".join("-" * w for w in widths)]
    return out + [_line(r, widths) for r in rows]


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    padded = (c + " " * (w - _width(c)) for c, w in zip(cells, widths, strict=True))
    return "  ".join(padded).rstrip()


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
