"""KDE completeness scorecard: how completely each sender reports the FSMA 204 Key
Data Elements, per sender, event type, food category and day, with each sender's
most frequent gaps (schemas/sql/0009_scorecard.sql does the counting).

`fetch` runs the three reporting functions; everything else is pure shaping, so
the CLI, its tests and any other caller agree on order and JSON shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import pq
from psycopg.rows import dict_row

TIMEZONE = "Asia/Shanghai"  # the SQL's day boundaries; no DST, so days are 24 h
_TZ = ZoneInfo(TIMEZONE)

COMPLETENESS_SQL = """
SELECT dimension, key, events, complete_events, completeness, kde_gaps
FROM reporting.kde_completeness(%(start)s, %(end)s, %(sender)s)"""
BY_DAY_SQL = """
SELECT day, events, complete_events, completeness, kde_gaps
FROM reporting.kde_completeness_by_day(%(start)s, %(end)s, %(sender)s)"""
TOP_GAPS_SQL = """
SELECT sender_id, rank, rule, event_type, cfr_section, message, gaps, derived
FROM reporting.kde_top_gaps(%(start)s, %(end)s, %(sender)s, %(top)s)"""


@dataclass(frozen=True)
class Window:
    """Whole Asia/Shanghai days: [start, end)."""

    start: datetime
    end: datetime
    days: int


def window(days: int, now: datetime) -> Window:
    """The last `days` calendar days in Asia/Shanghai, today included."""
    if days < 1:
        raise ValueError("days must be 1 or more")
    today = now.astimezone(_TZ).date()
    start = datetime.combine(today - timedelta(days=days - 1), time(), _TZ)
    return Window(start, datetime.combine(today + timedelta(days=1), time(), _TZ), days)


@dataclass(frozen=True)
class Completeness:
    key: str  # a sender id, event type, category, day (ISO) or "all"
    events: int
    complete_events: int
    completeness: float  # complete_events / events, 0..1
    kde_gaps: int  # kde_missing findings on those events

    def to_json(self, key_name: str) -> dict[str, Any]:
        return {
            key_name: self.key,
            "events": self.events,
            "complete_events": self.complete_events,
            "completeness": self.completeness,
            "kde_gaps": self.kde_gaps,
        }


@dataclass(frozen=True)
class Gap:
    sender_id: str
    rule: str  # kde.{event_type}.{column}
    event_type: str | None
    cfr_section: str | None
    message: str
    gaps: int  # events of the sender missing this KDE
    derived: int  # of those, later filled in by the lot graph

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "event_type": self.event_type,
            "cfr_section": self.cfr_section,
            "message": self.message,
            "gaps": self.gaps,
            "derived": self.derived,
        }


@dataclass(frozen=True)
class Scorecard:
    window: Window
    sender: str | None
    total: Completeness | None  # None: no events in the window
    by_sender: list[Completeness] = field(default_factory=list)
    by_event_type: list[Completeness] = field(default_factory=list)
    by_category: list[Completeness] = field(default_factory=list)
    by_day: list[Completeness] = field(default_factory=list)  # oldest first
    top_gaps: dict[str, list[Gap]] = field(default_factory=dict)  # sender -> most frequent

    def to_json(self) -> dict[str, Any]:
        return {
            "window": {
                "from": self.window.start.isoformat(),
                "to": self.window.end.isoformat(),
                "days": self.window.days,
                "timezone": TIMEZONE,
            },
            "sender": self.sender,
            "total": self.total.to_json("key") if self.total else None,
            "by_sender": [
                {
                    **c.to_json("sender_id"),
                    "top_gaps": [g.to_json() for g in self.top_gaps.get(c.key, [])],
                }
                for c in self.by_sender
            ],
            "by_event_type": [c.to_json("event_type") for c in self.by_event_type],
            "by_category": [c.to_json("category") for c in self.by_category],
            "by_day": [c.to_json("day") for c in self.by_day],
        }


def worst_first(rows: Iterable[Completeness]) -> list[Completeness]:
    """Lowest share first; among equals the one with more events (more to fix)."""
    return sorted(rows, key=lambda c: (c.completeness, -c.events, c.key))


def _row(row: Mapping[str, Any], key: str) -> Completeness:
    return Completeness(
        key=key,
        events=int(row["events"]),
        complete_events=int(row["complete_events"]),
        completeness=round(float(row["completeness"]), 4),
        kde_gaps=int(row["kde_gaps"] or 0),
    )


def shape(
    win: Window,
    sender: str | None,
    completeness_rows: Iterable[Mapping[str, Any]],
    day_rows: Iterable[Mapping[str, Any]],
    gap_rows: Iterable[Mapping[str, Any]],
) -> Scorecard:
    """The scorecard from the rows of the three reporting functions (any order)."""
    groups: dict[str, list[Completeness]] = {}
    for row in completeness_rows:
        groups.setdefault(row["dimension"], []).append(_row(row, str(row["key"])))
    days = sorted((_row(r, _iso(r["day"])) for r in day_rows), key=lambda c: c.key)
    gaps: dict[str, list[Gap]] = {}
    for r in sorted(gap_rows, key=lambda r: (r["sender_id"], r["rank"])):
        gaps.setdefault(r["sender_id"], []).append(
            Gap(
                sender_id=r["sender_id"],
                rule=r["rule"],
                event_type=r["event_type"],
                cfr_section=r["cfr_section"],
                message=r["message"],
                gaps=int(r["gaps"]),
                derived=int(r["derived"]),
            )
        )
    total = groups.get("total", [])
    return Scorecard(
        window=win,
        sender=sender,
        total=total[0] if total else None,
        by_sender=worst_first(groups.get("sender", [])),
        by_event_type=worst_first(groups.get("event_type", [])),
        by_category=worst_first(groups.get("category", [])),
        by_day=days,
        top_gaps=gaps,
    )


def _iso(day: date | str) -> str:
    return day.isoformat() if isinstance(day, date) else str(day)


def fetch(
    conn: psycopg.Connection, win: Window, sender: str | None = None, top: int = 3
) -> Scorecard:
    """Run the scorecard's SQL (one read-only snapshot) and shape it."""
    params = {"start": win.start, "end": win.end, "sender": sender, "top": top}
    fresh = conn.info.transaction_status == pq.TransactionStatus.IDLE
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        if fresh:  # one snapshot, so the three results describe the same data
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        completeness = cur.execute(COMPLETENESS_SQL, params).fetchall()
        days = cur.execute(BY_DAY_SQL, params).fetchall()
        gaps = cur.execute(TOP_GAPS_SQL, params).fetchall()
    return shape(win, sender, completeness, days, gaps)
