"""`foodtrace scorecard` on the seeded database: --json as a subprocess (JSON alone on
stdout), the human tables through main(), --days and --sender, and a clear error
when the database cannot be reached."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from scorecard_seed import FIELD, TLC, A, B, C, Seeded

from foodtrace.cli.main import main


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FOODTRACE_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "foodtrace.cli.main", "scorecard", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_json_is_the_whole_scorecard(scorecard_db: tuple[str, Seeded]) -> None:
    url, seeded = scorecard_db
    done = _cli(url, "--days", "3", "--json")
    assert done.returncode == 0, done.stderr
    card = json.loads(done.stdout)  # stdout is JSON and nothing else
    assert card["window"]["days"] == 3 and card["window"]["timezone"] == "Asia/Shanghai"
    assert card["window"]["from"] == seeded.start.isoformat()
    assert card["total"] == {
        "key": "all",
        "events": 8,
        "complete_events": 5,
        "completeness": 0.625,
        "kde_gaps": 5,
    }
    senders = [
        (s["sender_id"], s["events"], s["complete_events"], s["completeness"])
        for s in card["by_sender"]
    ]
    assert senders == [(B, 2, 0, 0.0), (A, 4, 3, 0.75), (C, 2, 2, 1.0)]
    b_top = card["by_sender"][0]["top_gaps"][0]
    assert (b_top["rule"], b_top["cfr_section"], b_top["gaps"], b_top["derived"]) == (
        TLC[0],
        TLC[1],
        2,
        1,
    )
    assert [g["rule"] for g in card["by_sender"][1]["top_gaps"]] == [
        FIELD[0],
        "kde.harvesting.next_recipient",
    ]
    assert card["by_sender"][2]["top_gaps"] == []
    assert [(c["category"], c["completeness"]) for c in card["by_category"]] == [
        ("aquatic_products", 0.0),
        ("leafy_vegetables", 0.75),
        ("unknown", 1.0),
    ]
    assert card["by_event_type"][0] == {
        "event_type": "receiving",
        "events": 2,
        "complete_events": 0,
        "completeness": 0.0,
        "kde_gaps": 3,
    }
    assert [(d["day"], d["events"], d["completeness"]) for d in card["by_day"]] == [
        (seeded.day1.isoformat(), 4, 0.5),
        (seeded.day2.isoformat(), 4, 0.75),
    ]


def test_days_and_sender_narrow_it(scorecard_db: tuple[str, Seeded]) -> None:
    url, seeded = scorecard_db
    # --days 2: yesterday and today in Shanghai, i.e. day2 only
    recent = json.loads(_cli(url, "--days", "2", "--json").stdout)
    assert recent["total"]["events"] == 4 and recent["total"]["completeness"] == 0.75
    assert [d["day"] for d in recent["by_day"]] == [seeded.day2.isoformat()]
    # --days 60 reaches farm-a's harvest of 40 days before: field is now its top gap
    only_a = json.loads(_cli(url, "--days", "60", "--sender", A, "--top", "1", "--json").stdout)
    assert only_a["sender"] == A
    assert [(s["sender_id"], s["events"], s["completeness"]) for s in only_a["by_sender"]] == [
        (A, 5, 0.6)
    ]
    (top,) = only_a["by_sender"][0]["top_gaps"]
    assert (top["rule"], top["cfr_section"], top["gaps"]) == (FIELD[0], FIELD[1], 2)


def test_human_tables_are_bilingual_and_worst_first(
    scorecard_db: tuple[str, Seeded], monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("FOODTRACE_DATABASE_URL", scorecard_db[0])
    assert main(["scorecard", "--days", "3"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "发送方 sender" in out and "完整率 share" in out and "CFR 条款 section" in out
    assert "合计 total: 5/8" in out and "62.5%" in out
    start = lines.index("按发送方 by sender (最差在前 worst first)")
    rows = lines[start + 3 : start + 6]
    assert [r.split()[0] for r in rows] == [B, A, C]
    assert TLC[0] in rows[0] and TLC[1] in rows[0] and "0.0%" in rows[0]
    assert "75.0%" in rows[1] and "100.0%" in rows[2]
    assert "水产品 aquatic_products" in out and "未知 unknown" in out and "收货 receiving" in out


def test_unreachable_database_is_a_clear_error() -> None:
    done = _cli("postgresql://nobody@127.0.0.1:1/nothing?connect_timeout=3", "--json")
    assert done.returncode == 2
    assert done.stdout == ""
    assert "cannot reach the database" in done.stderr and "FOODTRACE_DATABASE_URL" in done.stderr
    assert "Traceback" not in done.stderr


def test_unset_database_url_says_how_to_set_it() -> None:
    env = {k: v for k, v in os.environ.items() if k != "FOODTRACE_DATABASE_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "foodtrace.cli.main", "scorecard"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "FOODTRACE_DATABASE_URL is not set" in done.stderr
