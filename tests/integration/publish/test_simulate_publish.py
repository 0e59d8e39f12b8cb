"""`foodtrace simulate` publishes a whole day through the real broker."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from devservices import MosquittoBroker
from foodtrace.ingest.publish import topic_for as _topic
from publish_helpers import Recorder, elements

from foodtrace.cli.main import main
from foodtrace.simulate import simulate_day

DAY = "2026-11-27"


def test_simulate_publishes_every_message_in_order(
    pub_broker: MosquittoBroker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim = simulate_day(7, date(2026, 11, 27), scale=0.1, incident="malachite_green")
    total = sum(sim.counts().values())
    monkeypatch.setenv("FOODTRACE_MQTT_URL", pub_broker.url("foodtrace-simulator"))
    truth_file = tmp_path / "truth.json"
    with Recorder(pub_broker.url("foodtrace-ingest")) as rec:
        code = main(
            [
                "simulate",
                "--seed",
                "7",
                "--date",
                DAY,
                "--scale",
                "0.1",
                "--incident",
                "malachite_green",
                "--batch",
                "5",
                "--truth-out",
                str(truth_file),
                "--json",
            ]
        )
        got = rec.wait_for(total, timeout=15, unpack=True)
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["publish"]["published"] == total and summary["publish"]["refused"] == 0
    assert summary["truth"] == sim.truth.to_json() == json.loads(truth_file.read_text())

    received = elements(got)
    expected = list(sim.messages())
    # intact, each sender's messages in order, kinds in order (batches are per topic)
    assert sorted(json.dumps(p, sort_keys=True) for _, p in received) == sorted(
        json.dumps(p, sort_keys=True) for _, p in expected
    )
    for topic in {t for t, _ in received}:
        sent = [p["message_id"] for k, p in expected if _topic(k, p) == topic]
        assert [p["message_id"] for t, p in received if t == topic] == sent
    order = ["registry", "chain", "labs"]
    kinds = [order.index(t.split("/")[2]) for t, _ in received]
    assert kinds == sorted(kinds)
    topics = Counter(t.split("/")[2] for t, _ in received)
    assert topics == {
        "registry": len(sim.locations) + len(sim.products),
        "chain": len(sim.chain_events),
        "labs": len(sim.lab_results),
    }
    for topic, payload in received:
        sender = payload.get("actor_id") or payload.get("lab_id")
        if sender:
            assert topic.split("/")[3] == sender


def test_simulate_as_a_single_lab_is_refused(
    pub_broker: MosquittoBroker, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FOODTRACE_MQTT_URL", pub_broker.url("lab-gz-01"))
    assert main(["simulate", "--seed", "7", "--date", DAY, "--scale", "0.1", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "refused" in err and "foodtrace-simulator" in err


def test_dry_run_needs_no_broker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FOODTRACE_MQTT_URL", raising=False)
    out = tmp_path / "day"
    assert (
        main(
            [
                "simulate",
                "--seed",
                "3",
                "--date",
                DAY,
                "--scale",
                "0.1",
                "--incident",
                "pesticide",
                "--dry-run",
                "--out",
                str(out),
                "--print-truth",
            ]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out)  # JSON alone on stdout
    sim = simulate_day(3, date(2026, 11, 27), scale=0.1, incident="pesticide")
    assert printed == sim.truth.to_json() == json.loads((out / "truth.json").read_text())
    for name, items in (
        ("locations.jsonl", sim.locations),
        ("products.jsonl", sim.products),
        ("chain-events.jsonl", sim.chain_events),
        ("lab-results.jsonl", sim.lab_results),
    ):
        lines = (out / name).read_text(encoding="utf-8").splitlines()
        assert [json.loads(x) for x in lines] == items
    # without --dry-run, a missing broker setting is a clear error
    assert main(["simulate", "--date", DAY, "--scale", "0.1"]) == 2
    assert "FOODTRACE_MQTT_URL is not set" in capsys.readouterr().err
