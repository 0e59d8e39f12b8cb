"""`foodtrace demo` on the embedded default, as `make demo` runs it: the alert
matches the ground truth, the notices go out to exactly the ground truth's
businesses, the simulated businesses' answers come back through the ingest edge,
and it ends with the withdrawal progress per city."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_shows_notices_answers_and_progress(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOODTRACE_")}
    done = subprocess.run(
        [sys.executable, "-m", "foodtrace.cli.main", "demo", "--quiet", "--json",
         "--out", str(tmp_path / "demo")],
        env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["matches_ground_truth"]
    w = report["withdrawals"]
    assert w["scope_matches"] and w["over_included"] == [] and w["under_included"] == []
    assert w["businesses_notified"] == len(report["truth"]["affected_locations"])
    assert w["superseded"] >= 1  # the alert widened and upgraded: notices superseded
    assert w["reports_sent"]["acknowledged"] >= 1 and w["reports_sent"]["withdrawn"] >= 1
    assert w["never_answered"] and w["overdue"] >= len(w["never_answered"])
    assert len(w["escalations"]) >= 1
    err = done.stderr
    assert "10. 撤回通知 withdrawal notices" in err
    assert "企业答复 answers back" in err
    progress = err[err.index("撤回进度 withdrawal progress per city"):]
    assert "城市 city" in progress and "通知 issued" in progress
    cities = {"guangzhou": "广州市 Guangzhou", "shenzhen": "深圳市 Shenzhen",
              "foshan": "佛山市 Foshan", "dongguan": "东莞市 Dongguan"}
    for city in report["truth"]["affected_cities"]:
        if city in cities:
            assert cities[city] in progress
