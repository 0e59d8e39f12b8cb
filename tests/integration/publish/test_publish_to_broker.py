"""`foodtrace publish` against a real Mosquitto with the shipped ACLs."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from devservices import MosquittoBroker
from foodtrace.ingest.publish import (
    Publisher,
    PublishError,
    RefusedError,
    plan,
    publish_file,
)
from publish_helpers import Recorder, elements

from foodtrace.cli.main import main
from foodtrace.config import parse_mqtt_url


def lab_result(lab_id: str, n: int) -> dict:
    return {
        "schema": "foodtrace/lab-result/v1",
        "message_id": f"00000000-0000-4000-8000-{n:012d}",
        "lab_id": lab_id,
        "sample_id": f"S-{n}",
        "lot_code": f"LOT-菜心-{n}",
        "sampled_at": "2026-11-27T09:30:00+08:00",
        "sampled_location_id": "market-gz-01",
        "tested_at": "2026-11-27T10:00:00+08:00",
        "test_kind": "rapid",
        "method": "GB/T 5009.199 enzyme inhibition",
        "analyte": "organophosphates_carbamates",
        "value": 12.5,
        "unit": "%",
        "result": "negative",
    }


def chain_event(actor_id: str, n: int) -> dict:
    return {
        "schema": "foodtrace/chain-event/v1",
        "message_id": f"00000000-0000-4000-9000-{n:012d}",
        "actor_id": actor_id,
        "event_type": "shipping",
        "event_time": "2026-11-27T06:00:00+08:00",
        "location_id": actor_id,
        "lots": [
            {"lot_code": f"LOT-{n}", "product_code": "VEG-CHOYSUM", "quantity": 120.5, "unit": "kg"}
        ],
        "destination_location_id": "market-gz-01",
        "tlc_source_location_id": actor_id,
        "reference_document": {"type": "BOL", "number": f"BOL-{n}"},
        "kdes": {"ship_date": "2026-11-27"},
    }


def test_json_array_arrives_intact_with_sent_at(
    pub_broker: MosquittoBroker, tmp_path: Path
) -> None:
    records = [lab_result("lab-gz-01", n) for n in range(5)]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    with Recorder(pub_broker.url("foodtrace-ingest")) as rec:
        before = datetime.now(UTC)
        stats = publish_file(parse_mqtt_url(pub_broker.url("lab-gz-01")), "lab-result", path)
        got = rec.wait_for(5)
    assert (stats.elements, stats.messages, stats.refused_elements) == (5, 5, 0)
    assert [body for _, body, _ in got] == records  # bare objects, in order, unchanged
    assert {topic for topic, _, _ in got} == {"foodtrace/v1/labs/lab-gz-01/results"}
    for _, _, props in got:
        sent = datetime.fromisoformat(props["sent_at"])
        assert sent.utcoffset() == timedelta(0)
        assert before - timedelta(seconds=1) <= sent <= datetime.now(UTC)
        assert "." in props["sent_at"]  # microseconds


def test_single_object_file(pub_broker: MosquittoBroker, tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text(json.dumps(lab_result("lab-gz-01", 99)))
    with Recorder(pub_broker.url("foodtrace-ingest")) as rec:
        stats = publish_file(parse_mqtt_url(pub_broker.url("lab-gz-01")), "lab-result", path)
        got = rec.wait_for(1)
    assert stats.elements == 1 and [b for _, b, _ in got] == [lab_result("lab-gz-01", 99)]


def test_json_lines_batched_as_arrays(pub_broker: MosquittoBroker, tmp_path: Path) -> None:
    records = [chain_event("farm-zq-01", n) for n in range(7)]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n\n")
    with Recorder(pub_broker.url("foodtrace-ingest")) as rec:
        stats = publish_file(
            parse_mqtt_url(pub_broker.url("farm-zq-01")), "chain-event", path, batch=3
        )
        got = rec.wait_for(3)
    assert (stats.elements, stats.messages) == (7, 3)
    assert [len(body) for _, body, _ in got] == [3, 3, 1]
    assert all(isinstance(body, list) for _, body, _ in got)
    assert [item for _, item in elements(got)] == records
    assert {t for t, _, _ in got} == {"foodtrace/v1/chain/farm-zq-01/events"}


def test_csv_lab_results_and_chain_events(pub_broker: MosquittoBroker, tmp_path: Path) -> None:
    labs = tmp_path / "labs.csv"
    with labs.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "lab_id",
                "sample_id",
                "lot_code",
                "sampled_at",
                "sampled_location_id",
                "tested_at",
                "test_kind",
                "method",
                "analyte",
                "value",
                "unit",
                "result",
            ]
        )
        w.writerow(
            [
                "lab-gz-01",
                "0042",
                "0001234",
                "2026-11-27T09:00:00+08:00",
                "market-gz-01",
                "2026-11-27T12:00:00+08:00",
                "confirmatory",
                "LC-MS/MS",
                "omethoate",
                "0.125",
                "mg/kg",
                "",
            ]
        )
        w.writerow(
            [
                "lab-gz-01",
                "0043",
                "LOT-2",
                "2026-11-27T09:00:00+08:00",
                "market-gz-01",
                "2026-11-27T09:30:00+08:00",
                "rapid",
                "colloidal gold strip",
                "clenbuterol",
                "",
                "",
                "negative",
            ]
        )
    events = tmp_path / "events.csv"
    with events.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "message_id",
                "actor_id",
                "event_type",
                "event_time",
                "location_id",
                "lots",
                "source_location_id",
                "tlc_source_location_id",
                "reference_document.type",
                "reference_document.number",
                "kdes",
            ]
        )
        w.writerow(
            [
                "8a1f6c2e-1b7e-4a57-9f43-4c8e2a9d7b10",
                "packer-gz-01",
                "receiving",
                "2026-11-27T05:00:00+08:00",
                "packer-gz-01",
                json.dumps(
                    [
                        {
                            "lot_code": "L-1",
                            "product_code": "VEG-CHOYSUM",
                            "quantity": 800,
                            "unit": "kg",
                        }
                    ]
                ),
                "farm-zq-01",
                "farm-zq-01",
                "BOL",
                "BOL-77",
                json.dumps({"receive_date": "2026-11-27"}),
            ]
        )
    with Recorder(pub_broker.url("foodtrace-ingest")) as rec:
        publish_file(parse_mqtt_url(pub_broker.url("lab-gz-01")), "lab-result", labs)
        publish_file(parse_mqtt_url(pub_broker.url("packer-gz-01")), "chain-event", events)
        got = rec.wait_for(3)
    bodies = [b for _, b, _ in got]
    confirm, rapid, event = bodies
    assert confirm["value"] == 0.125 and confirm["unit"] == "mg/kg" and "result" not in confirm
    assert confirm["sample_id"] == "0042" and confirm["lot_code"] == "0001234"  # stay strings
    assert "value" not in rapid and "unit" not in rapid and rapid["result"] == "negative"
    assert confirm["schema"] == "foodtrace/lab-result/v1"
    assert confirm["message_id"] != rapid["message_id"]
    assert event == {
        "message_id": "8a1f6c2e-1b7e-4a57-9f43-4c8e2a9d7b10",
        "schema": "foodtrace/chain-event/v1",
        "actor_id": "packer-gz-01",
        "event_type": "receiving",
        "event_time": "2026-11-27T05:00:00+08:00",
        "location_id": "packer-gz-01",
        "lots": [{"lot_code": "L-1", "product_code": "VEG-CHOYSUM", "quantity": 800, "unit": "kg"}],
        "source_location_id": "farm-zq-01",
        "tlc_source_location_id": "farm-zq-01",
        "reference_document": {"type": "BOL", "number": "BOL-77"},
        "kdes": {"receive_date": "2026-11-27"},
    }
    assert got[2][0] == "foodtrace/v1/chain/packer-gz-01/events"


def test_master_data_goes_to_the_registry(pub_broker: MosquittoBroker, tmp_path: Path) -> None:
    path = tmp_path / "locations.csv"
    path.write_text(
        "location_id,name,kind,city,lat,lon\n"
        "market-gz-01,Jiangnan-style market,wholesale_market,guangzhou,23.18,113.25\n"
    )
    with Recorder(pub_broker.url("foodtrace-ingest")) as rec:
        publish_file(parse_mqtt_url(pub_broker.url("foodtrace-registry")), "locations", path)
        got = rec.wait_for(1)
    topic, body, _ = got[0]
    assert topic == "foodtrace/v1/registry/locations"
    assert body["lat"] == 23.18 and body["lon"] == 113.25
    assert body["schema"] == "foodtrace/location/v1"
    assert body["message_id"]


def test_publishing_for_another_lab_is_refused_loudly(
    pub_broker: MosquittoBroker, tmp_path: Path
) -> None:
    records = [
        lab_result("lab-gz-01", 1),
        lab_result("lab-sz-02", 2),
        lab_result("lab-gz-01", 3),
        lab_result("lab-sz-02", 4),
    ]
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps(records))
    with Recorder(pub_broker.url("foodtrace-ingest")) as rec, pytest.raises(RefusedError) as err:
        publish_file(parse_mqtt_url(pub_broker.url("lab-gz-01")), "lab-result", path)
    stats = err.value.stats
    # Mosquitto 2.0 answers 0x87 and then closes the connection: the rest is not sent.
    assert (stats.elements, stats.refused_elements, stats.unconfirmed_elements) == (1, 1, 2)
    assert stats.dropped_after_refusal
    message = str(err.value)
    assert "Not authorized (0x87)" in message and "refused" in message
    assert "foodtrace/v1/labs/lab-sz-02/results" in message and "'lab-gz-01'" in message
    got = rec.wait_for(stats.elements, timeout=2.0)
    # QoS 1 is at least once: count distinct messages; nothing of lab-sz-02 got through
    assert {b["lab_id"] for _, b, _ in got} == {"lab-gz-01"}
    assert records[0]["message_id"] in {b["message_id"] for _, b, _ in got}


def test_refusal_of_a_whole_day_stops_fast(pub_broker: MosquittoBroker) -> None:
    """Hundreds of messages for other senders: one clear error, no endless reconnects."""
    records = [lab_result("lab-sz-02", n) for n in range(500)]
    settings = parse_mqtt_url(pub_broker.url("lab-gz-01"))
    with Publisher(settings, ack_timeout=5) as pub, pytest.raises(RefusedError) as err:
        pub.publish(plan(("lab_result", r) for r in records))
    stats = err.value.stats
    assert (stats.elements, stats.refused_elements, stats.unconfirmed_elements) == (0, 1, 499)
    assert stats.seconds < 5


def test_cli_publish_json_summary_and_refusal_exit_code(
    pub_broker: MosquittoBroker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(json.dumps(lab_result("lab-gz-01", n)) for n in range(4)))
    monkeypatch.setenv("FOODTRACE_MQTT_URL", pub_broker.url("lab-gz-01"))
    with Recorder(pub_broker.url("foodtrace-ingest")):
        assert main(["publish", "lab-result", str(path), "--batch", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["published"], out["messages"], out["refused"]) == (4, 2, 0)

    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps([lab_result("lab-sz-02", 1)]))
    assert main(["publish", "lab-result", str(foreign)]) == 1
    err = capsys.readouterr().err
    assert "refused 1 message(s)" in err and "Not authorized" in err


def test_bad_password_names_the_setting(
    pub_broker: MosquittoBroker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps(lab_result("lab-gz-01", 1)))
    wrong = pub_broker.url("lab-gz-01").replace(pub_broker.users["lab-gz-01"], "wrong")
    monkeypatch.setenv("FOODTRACE_MQTT_URL", wrong)
    assert main(["publish", "lab-result", str(path)]) == 1
    err = capsys.readouterr().err
    assert "refused the connection" in err and "FOODTRACE_MQTT_URL" in err
    assert "wrong" not in err  # never print the password


def test_unreachable_broker_and_bad_files(tmp_path: Path) -> None:
    settings = parse_mqtt_url("mqtt://lab-gz-01:x@127.0.0.1:9")
    good = tmp_path / "ok.json"
    good.write_text(json.dumps(lab_result("lab-gz-01", 1)))
    with pytest.raises(PublishError, match="cannot reach the MQTT broker"):
        publish_file(settings, "lab-result", good)
    with pytest.raises(PublishError, match="no such file"):
        publish_file(settings, "lab-result", tmp_path / "missing.json")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"lab_id": "lab-gz-01"}\n{"lab_id": oops}\n')
    with pytest.raises(PublishError, match="bad JSON at line 2"):
        publish_file(settings, "lab-result", bad)


def test_pipelined_publishing_of_many_messages(pub_broker: MosquittoBroker) -> None:
    """More messages than the window and the broker's Receive Maximum: all acked, none lost."""
    n = 3000
    records = [lab_result("lab-gz-01", n) for n in range(n)]
    settings = parse_mqtt_url(pub_broker.url("lab-gz-01"))
    with (
        Recorder(pub_broker.url("foodtrace-ingest")) as rec,
        Publisher(settings, window=200) as pub,
    ):
        stats = pub.publish(plan(("lab_result", r) for r in records))
        got = rec.wait_for(n, timeout=20)
    assert stats.elements == n and pub.window == 200
    assert sorted(b["message_id"] for _, b, _ in got) == sorted(r["message_id"] for r in records)


def test_rate_limit(pub_broker: MosquittoBroker) -> None:
    records = [lab_result("lab-gz-01", n) for n in range(21)]
    settings = parse_mqtt_url(pub_broker.url("lab-gz-01"))
    with Recorder(pub_broker.url("foodtrace-ingest")), Publisher(settings) as pub:
        stats = pub.publish(plan(("lab_result", r) for r in records), rate=100)
    assert stats.elements == 21
    assert 0.19 <= stats.seconds < 2.0


def test_no_subscriber_is_an_error_not_a_success(pub_broker: MosquittoBroker) -> None:
    # PUBACK 0x10: the broker took the message and dropped it, since no ingest worker
    # was subscribed. Retried for ack_timeout, then reported: never counted as published.
    settings = parse_mqtt_url(pub_broker.url("lab-gz-01"))
    with Publisher(settings, ack_timeout=1.0) as pub, pytest.raises(
        PublishError, match="no subscriber"
    ):
        pub.publish(plan([("lab_result", lab_result("lab-gz-01", 99))]))


def test_a_late_subscriber_gets_the_retried_message(pub_broker: MosquittoBroker) -> None:
    settings = parse_mqtt_url(pub_broker.url("lab-gz-01"))
    record = lab_result("lab-gz-01", 98)
    with Publisher(settings, ack_timeout=20.0) as pub:
        import threading

        late = Recorder(pub_broker.url("foodtrace-ingest"))
        timer = threading.Timer(1.0, late.__enter__)
        timer.start()
        try:
            stats = pub.publish(plan([("lab_result", record)]))
            got = late.wait_for(1)
        finally:
            timer.join()
            late.__exit__(None, None, None)
    assert stats.elements == 1
    assert got[0][1] == record


def test_epcis_document_goes_to_the_senders_topic(
    pub_broker: MosquittoBroker, tmp_path: Path
) -> None:
    source = (
        Path(__file__).resolve().parents[4]
        / "shared/vectors/epcis-gs1/Example_9.6.4-TransformationEvent.jsonld"
    )
    document = json.loads(source.read_text(encoding="utf-8"))
    with Recorder(pub_broker.url("foodtrace-ingest")) as rec:
        stats = publish_file(
            parse_mqtt_url(pub_broker.url("packer-gz-01")), "epcis", source, batch=10
        )
        got = rec.wait_for(1)
    assert (stats.elements, stats.messages) == (1, 1)
    [(topic, body, _)] = got
    assert topic == "foodtrace/v1/epcis/packer-gz-01"  # the MQTT user is the sender
    assert body == document
