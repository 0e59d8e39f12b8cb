"""`foodtrace report` on a real alert in the real PostgreSQL: the page names the
alert, every version, every lot of the trace, every place and city, the findings and
each CAP message of the outbox, with sender-supplied text escaped."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html import unescape
from pathlib import Path

import psycopg
from alerts_helpers import Chain
from report_helpers import HOSTILE_NAME, alert_with_late_data

from foodtrace.report.page import write
from foodtrace.trace.api import trace


def _outbox(conn: psycopg.Connection, alert_id) -> list[tuple]:
    rows = conn.execute(
        "SELECT version, city, msg_type, cap_identifier FROM core.alert_outbox "
        "WHERE alert_id = %s ORDER BY version, city",
        (alert_id,),
    ).fetchall()
    conn.commit()
    return rows


def test_the_report_shows_the_alert_its_versions_trace_places_and_messages(
    chain: Chain, tmp_path: Path
) -> None:
    c = chain
    made = alert_with_late_data(c)
    path = tmp_path / "nested" / "report.html"
    summary = write(c.conn, str(made.alert_id), path)
    c.conn.commit()
    html = path.read_text("utf-8")

    assert summary["file"] == str(path.resolve()) and summary["bytes"] == len(html.encode())
    assert (summary["alert_id"], summary["version"]) == (str(made.alert_id), 2)
    assert summary["affected_cities"] == ["foshan", "guangzhou", "shenzhen", "zhaoqing", "zhuhai"]
    t = trace(c.conn, c.code("A"), "both")
    c.conn.commit()
    assert summary["trace_lots"] == 1 + len(t.upstream) + len(t.downstream) == 2  # A and X
    assert summary["findings"] == summary["open_findings"] == 1

    assert str(made.alert_id) in html
    # Chinese first, English beside
    assert "食品安全事件报告" in html and "Food-safety incident report" in html
    for zh, en in (("珠海", "Zhuhai"), ("广州", "Guangzhou"), ("佛山", "Foshan"),
                   ("深圳", "Shenzhen"), ("肇庆", "Zhaoqing")):
        assert f"{zh} {en}" in html
    # the trace graph draws both lots, and the edge A -> X
    graph = html[html.index('id="trace-graph"'):html.index("</svg>")]
    for lot in ("A", "X"):
        assert f">{c.code(lot)}</text>" in graph
    assert f"{c.code('A')} → {c.code('X')}" in graph
    # every place of the alert, numbered, with what it held
    for name in ("farm", "market", "plant", "shop", "shop2"):
        assert c.code(name) in html
    assert re.search(r"received 100 kg", html)  # the shop's receipt of X
    assert "收货 received 100 kg" in html and "销售 sold 5 kg" in html  # per role
    # versions: raised, then re-scoped by the late shipment (zhuhai told first)
    assert "v1" in html and "v2" in html and "rescoped" in html
    assert "+ affected_cities: <span class=\"mono\">zhuhai</span>" in html
    # each CAP message of the outbox, with its identifier and its XML
    rows = _outbox(c.conn, made.alert_id)
    assert summary["cap_messages"] == len(rows) and len(rows) >= 9
    for _version, _city, _kind, identifier in rows:
        assert identifier in html
    assert html.count("<details><summary>CAP XML</summary>") == len(rows)
    assert "&lt;alert xmlns=" in html or "&lt;?xml" in html  # the XML shown as text
    # the finding on the late shipment
    assert "shipping_tlc_source" in html and "21 CFR 1.1340(a)(3)" in html
    # sender-supplied text is escaped, never markup
    assert HOSTILE_NAME not in html and "<script" not in html
    assert unescape("&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Zhuhai &amp; Sons") in unescape(html)
    assert "&lt;script&gt;" in html


def test_the_command_writes_the_file_and_prints_a_summary(chain: Chain, tmp_path: Path,
                                                          fresh_db_url: str) -> None:
    made = alert_with_late_data(chain)
    out = tmp_path / "r.html"
    env = {**os.environ, "FOODTRACE_DATABASE_URL": fresh_db_url}
    prefix = str(made.alert_id)[:8]
    done = subprocess.run(
        [sys.executable, "-m", "foodtrace.cli.main", "report", prefix, "--html", str(out),
         "--json"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["file"] == str(out.resolve()) and out.stat().st_size == summary["bytes"]
    assert summary["alert_id"] == str(made.alert_id) and summary["places"] == 5  # farm, market, plant, shop, shop2

    missing = subprocess.run(
        [sys.executable, "-m", "foodtrace.cli.main", "report", "ffffffff", "--html",
         str(tmp_path / "none.html")],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    assert missing.returncode == 3 and "no alert ffffffff" in missing.stderr
    assert not (tmp_path / "none.html").exists()


def test_an_alert_on_a_lot_not_traced_yet_is_reported_and_flagged(chain: Chain,
                                                                  tmp_path: Path) -> None:
    c = chain
    c.lab_result("NEW", kind="rapid", analyte="organophosphates_carbamates", minutes=400,
                 value=70, unit="%", result="positive")
    from alerts_helpers import run_pipeline

    [alert_id] = run_pipeline(c.conn)
    summary = write(c.conn, str(alert_id), tmp_path / "r.html")
    c.conn.commit()
    html = (tmp_path / "r.html").read_text("utf-8")
    assert summary["lot_traced"] is False and summary["trace_lots"] <= 1  # itself, if sampled
    assert "批次尚未进入追溯图" in html and "not in the lot graph yet" in html
    assert f">{c.code('NEW')}</text>" in html  # drawn alone
    assert c.code("market") in html and "广州 Guangzhou" in html  # where it was sampled


def test_the_read_only_role_can_write_the_report(chain: Chain, tmp_path: Path) -> None:
    """Anyone with Grafana's read-only role (foodtrace_reader) can make the report."""
    made = alert_with_late_data(chain)
    conn = chain.conn
    conn.execute("SET ROLE foodtrace_reader")
    try:
        summary = write(conn, str(made.alert_id), tmp_path / "r.html")
        conn.commit()
    finally:
        conn.rollback()
        conn.execute("RESET ROLE")
        conn.commit()
    assert summary["cap_messages"] >= 9 and summary["findings"] == 1


def test_an_alert_on_a_made_lot_draws_its_upstream_to_the_left(chain: Chain,
                                                               tmp_path: Path) -> None:
    from alerts_helpers import run_pipeline

    from foodtrace.report.collect import gather
    from foodtrace.report.render import view

    c = chain
    c.lab_result("X", kind="rapid", analyte="organophosphates_carbamates", minutes=400,
                 value=70, unit="%", result="positive", at="shop")
    [alert_id] = run_pipeline(c.conn)
    data = gather(c.conn, str(alert_id))
    c.conn.commit()
    nodes = {n.lot.lot_code: n for n in view(data)["graph"].nodes}
    assert set(nodes) == {c.code("A"), c.code("B"), c.code("X")}
    assert nodes[c.code("A")].x == nodes[c.code("B")].x < nodes[c.code("X")].x
    assert nodes[c.code("A")].lot.is_root and nodes[c.code("B")].lot.is_root
    assert not nodes[c.code("A")].affected and nodes[c.code("X")].affected
    edges = {(e.source, e.target) for e in view(data)["graph"].edges}
    assert edges == {(c.code("A"), c.code("X")), (c.code("B"), c.code("X"))}
    summary = write(c.conn, str(alert_id), tmp_path / "x.html")
    c.conn.commit()
    assert summary["trace_lots"] == 3
