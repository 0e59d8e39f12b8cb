"""The drill's figures from what was observed (pure)."""

from __future__ import annotations

from foodtrace.withdrawals.drill import figures, progress_lines, report_lines

T = "2026-11-28T02:00:00+00:00"
DL = "2026-11-29T02:00:00+00:00"  # 24 h


def n(nid: str, actor: str, version: int = 1, action: str = "withdraw", **kw) -> dict:
    return {"notice_id": nid, "actor_id": actor, "alert_version": version, "issued_at": T,
            "deadline": DL, "action": action, **kw}


def r(nid: str, status: str, at: str) -> dict:
    return {"notice_id": nid, "status": status, "reported_at": at}


def test_figures() -> None:
    notices = [n("a1", "a"), n("b1", "b"), n("c1", "c"), n("d1", "d"),
               n("a2", "a", 2, issued_at="2026-11-28T02:00:01+00:00"),
               n("x1", "x", 2, action="released")]
    reports = [r("a1", "acknowledged", "2026-11-28T03:00:00+00:00"),  # superseded notice
               r("a2", "acknowledged", "2026-11-28T03:00:00+00:00"),
               r("a2", "withdrawn", "2026-11-28T09:00:00+00:00"),
               r("b1", "acknowledged", "2026-11-28T05:00:00+00:00"),
               r("b1", "withdrawn", "2026-11-30T05:00:00+00:00"),  # after the deadline
               r("c1", "not_held", "2026-11-28T04:00:00+00:00")]
    f = figures(t0=100.0, alert_heard=[100.4, 100.5], notices=notices,
                notice_heard=[100.6, 100.9, 101.2], reports=reports,
                truth_businesses=["a", "b", "c", "d", "e"], truth_lots=["L1", "L2"],
                alert_lots=["L1", "L3"], time_scale=21600)
    assert (f["time_to_alert_s"], f["time_to_first_notice_s"], f["time_to_last_notice_s"]) == (
        0.4, 0.6, 1.2)
    assert f["businesses_notified"] == 4 and f["notices_published"] == 6
    assert f["answered_within_deadline"] == 3 and f["answered_within_deadline_share"] == 0.75
    assert f["withdrawn_within_deadline"] == 2  # a (withdrawn) and c (not held)
    assert f["never_answered"] == ["d"]
    assert f["deadline_hours"] == [24] and f["deadline_real_s"] == [4.0]
    s = f["scope"]
    assert s["under_included"] == ["e"] and s["over_included"] == []  # x was released
    assert s["lots_over_included"] == ["L3"] and s["lots_under_included"] == ["L2"]


def test_nothing_observed() -> None:
    f = figures(t0=1.0, alert_heard=[], notices=[], notice_heard=[], reports=[],
                truth_businesses=["a"], truth_lots=[], alert_lots=[], time_scale=1.0)
    assert f["time_to_alert_s"] is None and f["answered_within_deadline_share"] is None
    assert f["scope"]["under_included"] == ["a"]


def test_report_lines_chinese_first() -> None:
    f = figures(t0=0.0, alert_heard=[0.3], notices=[n("a1", "a")], notice_heard=[0.4],
                reports=[r("a1", "withdrawn", T)], truth_businesses=["a"], truth_lots=[],
                alert_lots=[], time_scale=3600)
    report = {"figures": f, "scenario": {"seed": 1, "day": "2026-11-27", "incident": "pesticide",
                                         "lot_code": "L1", "time_scale": 3600.0},
              "answers": {"escalations": []},
              "progress": {"overdue": 0, "share": 1.0},
              "cities": {"guangzhou": {"notices": 1, "answered": 1, "overdue": 0, "share": 1.0}}}
    text = report_lines(report)
    assert text[0].startswith("模拟召回演练 mock-recall drill")
    assert "24 h deadline took 24 s" in text[1]
    assert any(line.strip().startswith("广州市 Guangzhou") for line in text)
    header, row = progress_lines(report["cities"])
    assert header.strip().startswith("城市 city") and row.rstrip().endswith("100%")
