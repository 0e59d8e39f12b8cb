"""Reading files and planning MQTT messages for `foodtrace publish` (no broker)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from foodtrace.ingest.mqtt_client import publish_properties
from foodtrace.ingest.publish import (
    SENT_AT_PROPERTY,
    InputError,
    parse_csv,
    plan,
    read_records,
    sent_at_now,
    topic_for,
)
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def test_topics_follow_the_contract() -> None:
    assert topic_for("lab_result", {"lab_id": "lab-gz-01"}) == "foodtrace/v1/labs/lab-gz-01/results"
    assert (
        topic_for("chain_event", {"actor_id": "farm-zq-01"})
        == "foodtrace/v1/chain/farm-zq-01/events"
    )
    assert topic_for("location", {}) == "foodtrace/v1/registry/locations"
    assert topic_for("product", {}) == "foodtrace/v1/registry/products"
    assert topic_for("epcis", {}, sender="packer-gz-01") == "foodtrace/v1/epcis/packer-gz-01"
    with pytest.raises(InputError, match="no usable lab_id"):
        topic_for("lab_result", {"lab_id": "a/b"})
    with pytest.raises(InputError, match="--sender"):
        topic_for("epcis", {})


def test_json_object_array_and_lines(tmp_path: Path) -> None:
    one = tmp_path / "one.json"
    one.write_text('{"lab_id": "x"}')
    many = tmp_path / "many.json"
    many.write_text('[{"lab_id": "x"}, {"lab_id": "y"}]')
    lines = tmp_path / "lines.json"  # JSON lines even without the .jsonl suffix
    lines.write_text('{"lab_id": "x"}\n\n{"lab_id": "y"}\n')
    assert read_records(one, "lab_result") == [{"lab_id": "x"}]
    assert read_records(many, "lab_result") == [{"lab_id": "x"}, {"lab_id": "y"}]
    assert read_records(lines, "lab_result") == [{"lab_id": "x"}, {"lab_id": "y"}]


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("bad.json", '{"a": 1,\n "b": }', "bad JSON at line 2"),
        ("bad.jsonl", '{"a": 1}\n{"a": 2}\n{"a": }\n', "bad JSON at line 3"),
        ("scalar.json", "[1, 2]", "element 0 is a int"),
        ("empty.jsonl", "\n\n", "no messages"),
        ("empty.csv", "", "no header"),
        ("header.csv", "lab_id,value\n", "no rows"),
        ("nan.csv", "lab_id,value\nx,abc\n", "line 2, column 'value': 'abc' is not a number"),
        ("cell.csv", "actor_id,lots\nx,[{oops\n", "line 2, column 'lots': not valid JSON"),
        ("wide.csv", "a,b\n1,2,3\n", "more cells than the header"),
    ],
)
def test_bad_input_says_where(tmp_path: Path, name: str, text: str, expected: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError, match=expected):
        read_records(path, "chain_event")


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_records(tmp_path / "nope.json", "lab_result")
    with pytest.raises(InputError, match="is a directory"):
        read_records(tmp_path, "lab_result")


def test_csv_types_nesting_and_defaults() -> None:
    text = (
        "actor_id,event_type,lots.0.lot_code,lots.0.quantity,lots.0.unit,lots.1.lot_code,"
        "reference_document.type,reference_document.number,kdes,destination_location_id\n"
        'packer-gz-01,shipping,007,12.50,kg,L2,BOL,0099,"{""ship_date"": ""2026-11-27""}",\n'
    )
    [record] = parse_csv(text, "chain_event")
    assert record["lots"] == [
        {"lot_code": "007", "quantity": 12.5, "unit": "kg"},
        {"lot_code": "L2"},
    ]
    assert record["reference_document"] == {"type": "BOL", "number": "0099"}
    assert record["kdes"] == {"ship_date": "2026-11-27"}
    assert "destination_location_id" not in record  # empty cell left out
    assert record["schema"] == "foodtrace/chain-event/v1"
    assert uuid.UUID(record["message_id"]).version == 5
    # the same row always gets the same id (publishing a file twice is stored once)
    assert parse_csv(text, "chain_event")[0]["message_id"] == record["message_id"]
    other = parse_csv(text.replace("12.50", "12.60"), "chain_event")[0]
    assert other["message_id"] != record["message_id"]


def test_csv_keeps_given_ids_and_numbers() -> None:
    text = "message_id,location_id,lat,lon\n11111111-1111-4111-8111-111111111111,m,23,113.25\n"
    [record] = parse_csv(text, "location")
    assert record == {
        "message_id": "11111111-1111-4111-8111-111111111111",
        "location_id": "m",
        "lat": 23,
        "lon": 113.25,
        "schema": "foodtrace/location/v1",
    }


def test_plan_batches_per_topic_keeping_each_topics_order() -> None:
    items = [
        ("lab_result", {"lab_id": lab, "n": i})
        for i, lab in enumerate(["a", "a", "a", "b", "a", "a"])
    ]
    bare = list(plan(items, 1))
    assert [json.loads(m.payload) for m in bare] == [p for _, p in items]  # exact order
    batched = list(plan(items, 2))
    assert [(m.topic.split("/")[3], m.elements) for m in batched] == [
        ("a", 2),
        ("a", 2),
        ("b", 1),
        ("a", 1),
    ]
    bodies = [json.loads(m.payload) for m in batched]
    assert all(isinstance(b, list) for b in bodies)
    assert [p["n"] for b in bodies for p in b if p["lab_id"] == "a"] == [0, 1, 2, 4, 5]
    with pytest.raises(ValueError):
        list(plan(items, 0))


def test_plan_never_mixes_kinds_and_bounds_reordering() -> None:
    items = [("location", {"location_id": f"l{i}"}) for i in range(3)]
    items += [("chain_event", {"actor_id": f"x{i % 50}", "n": i}) for i in range(1000)]
    items += [("lab_result", {"lab_id": "lab", "n": i}) for i in range(3)]
    out = list(plan(items, 10, window=4))
    kinds = [m.topic.split("/")[2] for m in out]
    assert kinds == sorted(kinds, key=["registry", "chain", "labs"].index)
    assert sum(m.elements for m in out) == len(items)
    # with 50 actors and a window of 40 pending payloads, arrays stay small but
    # nothing waits for long: an event is sent within ~40 payloads of its turn
    position = {}
    sent = 0
    for m in out:
        for p in json.loads(m.payload):
            sent += 1
            if "n" in p and "actor_id" in p:
                position[p["n"]] = sent
    assert all(position[n] - (n + 3) < 40 + 10 for n in position)


def test_epcis_documents_are_never_batched() -> None:
    epcis = list(plan([("epcis", {"doc": 1}), ("epcis", {"doc": 2})], 5, sender="s"))
    assert [json.loads(m.payload) for m in epcis] == [{"doc": 1}, {"doc": 2}]


def test_plan_keeps_utf8() -> None:
    [msg] = plan([("product", {"name": "菜心"})])
    assert "菜心".encode() in msg.payload


def test_sent_at_properties_pack_like_paho() -> None:
    stamp = sent_at_now()
    reference = Properties(PacketTypes.PUBLISH)
    reference.UserProperty = ("sent_at", stamp)
    props = publish_properties([(SENT_AT_PROPERTY, stamp)])
    assert SENT_AT_PROPERTY == "sent_at"
    assert props.pack() == reference.pack()
    assert stamp.endswith("+00:00") and len(stamp.split(".")[1]) == len("123456+00:00")
