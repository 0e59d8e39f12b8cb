"""The drill on the real PostgreSQL and Mosquitto (shipped config: auth and ACLs),
with businesses whose delays are known: its figures must be what those delays
imply, its scope the simulator's ground truth, and the notices' final states
what the withdrawal step makes of the answers (overdue for the silent ones,
escalated; withdrawn for the late ones, after going overdue)."""

from __future__ import annotations

from datetime import date

import pytest

from foodtrace.config import parse_mqtt_url
from foodtrace.db import connect
from foodtrace.simulate import simulate_day
from foodtrace.simulate.responders import Behaviour
from foodtrace.withdrawals.drill import DrillOptions, Logins, report_lines, run_drill

H = 3600.0


@pytest.mark.slow
def test_drill_figures_match_known_delays(fresh_db_url: str, broker, tmp_path) -> None:
    sim = simulate_day(7, date(2026, 11, 27), scale=0.3, incident="pesticide")
    truth = sorted(sim.truth.affected_locations)
    assert len(truth) >= 6
    silent, late = truth[:2], truth[2:4]
    behaviours = {a: Behaviour(a, "answers", 0.5 * H, 3 * H, 1.0, "destroyed")
                  for a in (loc["location_id"] for loc in sim.locations)}
    for a in silent:
        behaviours[a] = Behaviour(a, "silent")
    for a in late:  # acknowledge in time, withdraw 36 h after a 24 h deadline
        behaviours[a] = Behaviour(a, "answers", 1 * H, 36 * H, 1.0, "returned")
    # the businesses with a login of their own on the test broker answer as themselves
    identities = {a: parse_mqtt_url(broker.url(a)) for a in behaviours if a in broker.users}
    logins = Logins(simulator=parse_mqtt_url(broker.url("foodtrace-simulator")),
                    ingest=parse_mqtt_url(broker.url("foodtrace-ingest")),
                    pipeline=parse_mqtt_url(broker.url("foodtrace-pipeline")))
    options = DrillOptions(seed=7, scale=0.3, time_scale=21600.0, behaviours=behaviours,
                           identities=identities)

    report = run_drill(fresh_db_url, logins, options, report_dir=tmp_path, simulated=sim)

    f = report["figures"]
    assert f["scope"]["over_included"] == [] and f["scope"]["under_included"] == []
    assert f["scope"]["lots_over_included"] == [] and f["scope"]["lots_under_included"] == []
    n = len(truth)
    assert f["businesses_notified"] == n
    assert f["deadline_hours"] == [24]  # the confirmed (critical) alert: first-level recall
    assert f["never_answered"] == sorted(silent)
    assert f["answered_within_deadline"] == n - 2  # the late ones acknowledged in time
    assert f["answered_within_deadline_share"] == pytest.approx((n - 2) / n, abs=1e-4)
    assert f["withdrawn_within_deadline"] == n - 4
    assert 0 < f["time_to_alert_s"] <= 30
    assert f["time_to_alert_s"] <= f["time_to_first_notice_s"] <= f["time_to_last_notice_s"]
    assert report["answers"]["errors"] == []
    # every answering business sent an acknowledgement and a withdrawal (or not_held)
    assert report["answers"]["reports_sent"] == 2 * (n - 2)

    with connect(fresh_db_url) as conn:
        states = dict(conn.execute(
            "SELECT actor_id, state FROM core.withdrawal_notices WHERE alert_id = %s "
            "AND state <> 'superseded'", (report["alert_id"],)).fetchall())
        went_overdue = {r[0] for r in conn.execute(
            "SELECT n.actor_id FROM core.withdrawal_notice_history h JOIN "
            "core.withdrawal_notices n USING (notice_id) WHERE n.alert_id = %s "
            "AND h.to_state = 'overdue'", (report["alert_id"],))}
        escalations = conn.execute(
            "SELECT count(*), count(sent_at) FROM core.withdrawal_escalations "
            "WHERE alert_id = %s", (report["alert_id"],)).fetchone()
    assert {a for a, s in states.items() if s == "overdue"} == set(silent)
    assert all(states[a] == "withdrawn" for a in late)
    assert set(late) | set(silent) <= went_overdue
    assert not went_overdue - set(late) - set(silent)  # nobody answering in time
    assert escalations[0] >= 1 and escalations[0] == escalations[1]
    assert report["progress"]["overdue"] == 2
    assert report["progress"]["answered"] == n - 2
    assert sum(c["notices"] for c in report["cities"].values()) == n
    text = "\n".join(report_lines(report))
    assert "模拟召回演练" in text and "×21600" in text and "under-included 0" in text


@pytest.mark.slow
def test_drill_cli_on_configured_services(fresh_db_url: str, broker, tmp_path, monkeypatch,
                                          capsys) -> None:
    import json

    from foodtrace.cli.main import main

    monkeypatch.setenv("FOODTRACE_DATABASE_URL", fresh_db_url)
    monkeypatch.setenv("FOODTRACE_MQTT_URL", broker.url("foodtrace-pipeline"))
    args = ["drill", "--seed", "11", "--scale", "0.2", "--out", str(tmp_path),
            "--simulator-url", broker.url("foodtrace-simulator"),
            "--ingest-url", broker.url("foodtrace-ingest")]
    assert main([*args, "--json"]) == 0
    out = capsys.readouterr()
    report = json.loads(out.out)
    f = report["figures"]
    assert f["scope"]["over_included"] == [] and f["scope"]["under_included"] == []
    assert f["businesses_notified"] == f["scope"]["truth_businesses"] > 0
    assert report["scenario"]["silent_planned"]  # at least one business never answers
    silent_notified = set(report["scenario"]["silent_planned"]) & set(f["never_answered"])
    assert silent_notified == set(f["never_answered"])
    assert report["progress"]["overdue"] >= len(f["never_answered"])
    assert "compressed" in report["clock_note"]
    assert "1. " in out.err  # the steps go to stderr with --json
    # the same seed again on this database: its messages would be deduplicated
    assert main(args) == 2
    assert "drilled seed 11 already" in capsys.readouterr().err
