"""`foodtrace alerts ...` as a user runs it: a subprocess against a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from alerts_helpers import Chain, run_pipeline


def foodtrace(db_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FOODTRACE_DATABASE_URL": db_url}
    return subprocess.run(
        [sys.executable, "-m", "foodtrace.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_list_show_ack_close(chain: Chain, fresh_db_url: str) -> None:
    c = chain
    c.lab_result(
        "A",
        kind="rapid",
        analyte="organophosphates_carbamates",
        minutes=400,
        value=62.5,
        unit="%",
        result="positive",
    )
    c.lab_result(
        "C", kind="confirmatory", analyte="lead", minutes=401, value=0.9, unit="mg/kg", at="market"
    )
    warning_id, critical_id = (str(a) for a in run_pipeline(c.conn))

    out = foodtrace(fresh_db_url, "alerts", "list", "--json")
    assert out.returncode == 0, out.stderr
    listed = json.loads(out.stdout)
    assert {a["alert_id"] for a in listed} == {warning_id, critical_id}

    table = foodtrace(fresh_db_url, "alerts")
    assert table.returncode == 0
    assert "severity" in table.stdout and c.code("A") in table.stdout and "critical" in table.stdout

    only_sz = json.loads(foodtrace(fresh_db_url, "alerts", "--city", "shenzhen", "--json").stdout)
    assert [a["alert_id"] for a in only_sz] == [warning_id]  # lot C never reached Shenzhen

    shown = json.loads(foodtrace(fresh_db_url, "alerts", "show", warning_id, "--json").stdout)
    for field in (
        "alert_id",
        "status",
        "severity",
        "raised_at",
        "lot_code",
        "product_code",
        "analyte",
        "value",
        "unit",
        "limit",
        "test_kind",
        "lab_id",
        "sample_id",
        "affected_lots",
        "affected_locations",
        "affected_cities",
        "source_lots",
        "source_locations",
    ):
        assert field in shown
    assert shown["history"][0]["action"] == "raised"
    readable = foodtrace(fresh_db_url, "alerts", "show", warning_id[:8])  # a unique prefix
    assert readable.returncode == 0 and "Affected lots" in readable.stdout

    ack = foodtrace(
        fresh_db_url,
        "alerts",
        "ack",
        warning_id,
        "--by",
        "inspector.chen",
        "--note",
        "hold placed at the market",
    )
    assert ack.returncode == 0, ack.stderr
    again = foodtrace(fresh_db_url, "alerts", "ack", warning_id, "--by", "inspector.li")
    assert again.returncode == 4 and "already acknowledged by inspector.chen" in again.stderr
    acked = json.loads(
        foodtrace(fresh_db_url, "alerts", "list", "--status", "acknowledged", "--json").stdout
    )
    assert [a["alert_id"] for a in acked] == [warning_id]

    close = foodtrace(
        fresh_db_url,
        "alerts",
        "close",
        warning_id,
        "--by",
        "inspector.chen",
        "--note",
        "lot destroyed",
        "--json",
    )
    assert close.returncode == 0, close.stderr
    closed = json.loads(close.stdout)
    assert (closed["status"], closed["resolution"], closed["closed_by"]) == (
        "closed",
        "closed_by_operator",
        "inspector.chen",
    )
    history = c.conn.execute(
        "SELECT actor, action, note FROM core.alert_history WHERE alert_id = %s "
        "ORDER BY history_id",
        (warning_id,),
    ).fetchall()
    assert history == [
        ("engine", "raised", history[0][2]),
        ("inspector.chen", "acknowledged", "hold placed at the market"),
        ("inspector.chen", "closed", "lot destroyed"),
    ]
    cancels = c.conn.execute(
        "SELECT count(*) FROM core.alert_outbox WHERE alert_id = %s AND msg_type = 'Cancel'",
        (warning_id,),
    ).fetchone()[0]
    assert cancels == len(closed["affected_cities"])
    reclose = foodtrace(fresh_db_url, "alerts", "close", warning_id, "--by", "x")
    assert reclose.returncode == 4


def test_unknown_alert_id_is_a_clear_error(fresh_db_url: str) -> None:
    for args in (
        ("show", "00000000-0000-4000-8000-000000000000"),
        ("ack", "deadbeef"),
        ("close", "nope"),
    ):
        out = foodtrace(fresh_db_url, "alerts", *args, "--by", "x")
        assert out.returncode == 3
        assert "no alert" in out.stderr and "foodtrace alerts list" in out.stderr
    missing = foodtrace(fresh_db_url, "alerts", "show")
    assert missing.returncode == 3 and "needs an alert ID" in missing.stderr


def test_limits_listing_shows_the_verified_flag(fresh_db_url: str) -> None:
    rows = json.loads(
        foodtrace(fresh_db_url, "alerts", "limits", "--analyte", "lead", "--json").stdout
    )
    by_category = {r["category"]: r for r in rows}
    assert by_category["brassica_vegetables"]["verified"] is True
    assert by_category["leafy_vegetables"]["verified"] is False
    assert by_category["brassica_vegetables"]["citation"].startswith("GB 2762-2022")
