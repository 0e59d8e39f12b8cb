"""The consumer in-process against real Mosquitto and PostgreSQL (as foodtrace_ingest):
every message kind lands with its fields, redelivery stores once, bad input is
quarantined with its bytes and a reason, the sender hears why, and the stream goes on."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from ingest_helpers import (
    chain_event,
    encode,
    epcis_document,
    lab_result,
    landed,
    location,
    product,
    scalar,
    wait_until,
)

LAB_TOPIC = "foodtrace/v1/labs/lab-gz-01/results"
FARM_TOPIC = "foodtrace/v1/chain/farm-zq-01/events"
UNKNOWN_TOPIC = "foodtrace/v1/labs/lab gz 01/results"  # a space: not a sender id


def _rows(db_url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(db_url, autocommit=True) as c:
        return c.execute(sql, params).fetchall()


def test_every_kind_lands_with_its_fields(inprocess_consumer, publisher, fresh_db_url) -> None:
    rc = inprocess_consumer()
    lab = publisher("lab-gz-01")
    farm = publisher("farm-zq-01")
    registry = publisher("foodtrace-registry")

    one_lab = lab_result()
    two_labs = [
        lab_result(
            analyte="lead",
            test_kind="confirmatory",
            method="ICP-MS",
            value=0.12,
            unit="mg/kg",
            result=None,
        ),
        lab_result(),
    ]
    two_labs[0].pop("result")
    one_event = chain_event()
    two_events = [chain_event(), chain_event()]
    one_location = location()
    two_locations = [
        location(
            "MKT-GZ-JIANGNAN", kind="wholesale_market", city="guangzhou", name="Jiangnan market"
        ),
        location("LAB-GZ-01", kind="lab", city="guangzhou", name="Lab"),
    ]
    one_product, two_products = (
        product(),
        [
            product("LETTUCE", name="Lettuce"),
            product("PORK", name="Pork", category="livestock_meat"),
        ],
    )

    lab.send(LAB_TOPIC, one_lab, sent_at=datetime.now(UTC) - timedelta(seconds=5))
    lab.send(LAB_TOPIC, two_labs)
    farm.send(FARM_TOPIC, one_event)
    farm.send(FARM_TOPIC, two_events)
    registry.send("foodtrace/v1/registry/locations", one_location)
    registry.send("foodtrace/v1/registry/locations", two_locations)
    registry.send("foodtrace/v1/registry/products", one_product)
    registry.send("foodtrace/v1/registry/products", two_products)

    wait_until(lambda: landed(fresh_db_url) >= 12)
    result = rc.stop()
    assert result.clean and result.totals.stored == 12 and result.totals.quarantined == 0

    labs = dict(_rows(fresh_db_url, "SELECT message_id::text, payload FROM landing.lab_results"))
    assert labs == {m["message_id"]: m for m in [one_lab, *two_labs]}
    assert {r[0] for r in _rows(fresh_db_url, "SELECT lab_id FROM landing.lab_results")} == {
        "lab-gz-01"
    }
    assert {r[0] for r in _rows(fresh_db_url, "SELECT topic FROM landing.lab_results")} == {
        LAB_TOPIC
    }

    events = _rows(
        fresh_db_url,
        "SELECT message_id::text, actor_id, topic, source_document_id, payload "
        "FROM landing.chain_events",
    )
    assert {e[0]: e[4] for e in events} == {m["message_id"]: m for m in [one_event, *two_events]}
    assert {(e[1], e[2], e[3]) for e in events} == {("farm-zq-01", FARM_TOPIC, None)}

    master = _rows(
        fresh_db_url, "SELECT kind, natural_key, payload->>'message_id' FROM landing.master_data"
    )
    assert sorted(master) == sorted(
        [("location", m["location_id"], m["message_id"]) for m in [one_location, *two_locations]]
        + [("product", m["product_code"], m["message_id"]) for m in [one_product, *two_products]]
    )

    stats = _rows(
        fresh_db_url,
        "SELECT sum(received), sum(stored), sum(duplicates), sum(quarantined), "
        "max(lag_max_s) FROM ops.ingest_stats WHERE worker_id = %s",
        (rc.consumer.config.worker_id,),
    )[0]
    assert stats[:4] == (12, 12, 0, 0)
    assert 5.0 <= stats[4] < 60.0  # the lab result stamped sent_at 5 s in the past


def test_epcis_document_lands_with_its_events(inprocess_consumer, publisher, fresh_db_url) -> None:
    rc = inprocess_consumer()
    raw = encode(epcis_document())
    packer = publisher("packer-gz-01")
    packer.send("foodtrace/v1/epcis/packer-gz-01", raw)
    packer.send("foodtrace/v1/epcis/packer-gz-01", raw)  # redelivered: stored once
    wait_until(
        lambda: scalar(fresh_db_url, "SELECT coalesce(sum(received), 0) FROM ops.ingest_stats") == 4
    )
    result = rc.stop()
    assert (result.totals.stored, result.totals.duplicates, result.totals.quarantined) == (2, 2, 0)
    assert scalar(fresh_db_url, "SELECT count(*) FROM landing.epcis_documents") == 1

    doc_id, actor, stored_raw = _rows(
        fresh_db_url, "SELECT document_id, actor_id, raw FROM landing.epcis_documents"
    )[0]
    assert actor == "packer-gz-01" and stored_raw == raw
    events = _rows(
        fresh_db_url,
        "SELECT actor_id, source_document_id, payload "
        "FROM landing.chain_events ORDER BY payload->>'event_time'",
    )
    assert [(e[0], e[1]) for e in events] == [("packer-gz-01", doc_id)] * 2
    assert [e[2]["event_type"] for e in events] == ["initial_packing", "shipping"]
    assert events[1][2]["destination_location_id"] == "urn:epc:id:sgln:4012345.00099.0"


def test_redelivery_is_stored_once(inprocess_consumer, publisher, fresh_db_url) -> None:
    rc = inprocess_consumer()
    lab = publisher("lab-gz-01")
    msg = lab_result()
    same_id_other_bytes = json.dumps(msg, indent=2, sort_keys=True).encode()
    assert same_id_other_bytes != encode(msg)
    lab.send(LAB_TOPIC, msg)
    lab.send(LAB_TOPIC, msg)  # the same bytes again
    lab.send(LAB_TOPIC, same_id_other_bytes)  # the same message_id, other bytes
    lab.send(LAB_TOPIC, [msg, msg])  # and twice inside one array
    marker = lab_result()
    lab.send(LAB_TOPIC, marker)

    wait_until(
        lambda: scalar(
            fresh_db_url,
            "SELECT count(*) FROM landing.lab_results WHERE message_id = %s",
            (marker["message_id"],),
        )
    )
    wait_until(
        lambda: scalar(fresh_db_url, "SELECT coalesce(sum(received), 0) FROM ops.ingest_stats") >= 6
    )
    result = rc.stop()
    assert scalar(fresh_db_url, "SELECT count(*) FROM landing.lab_results") == 2
    t = result.totals
    assert (t.received, t.stored, t.duplicates, t.quarantined) == (6, 2, 4, 0)


def test_bad_input_is_quarantined_the_sender_is_told_and_ingest_goes_on(
    inprocess_consumer, publisher, fresh_db_url
) -> None:
    rc = inprocess_consumer(max_message_bytes=4096)
    lab = publisher("lab-gz-01")
    lab.listen("foodtrace/v1/rejections/lab-gz-01")
    simulator = publisher("foodtrace-simulator")
    simulator.listen("foodtrace/v1/rejections/#")  # the simulator user may read them all

    missing_field = lab_result()
    del missing_field["lot_code"]
    wrong_type = lab_result(tested_at=12345)
    other_sender = lab_result(lab_id="lab-sz-02")  # lab-gz-01 speaking for lab-sz-02
    oversize = lab_result(operator="x" * 5000)
    good_in_array, bad_in_array = lab_result(), lab_result(test_kind="guesswork")
    bad = {
        "not_json": b"{this is not json",
        "missing_field": encode(missing_field),
        "wrong_type": encode(wrong_type),
        "sender_mismatch": encode(other_sender),
        "oversize": encode(oversize),
        "array_element": encode([good_in_array, bad_in_array]),
    }
    for raw in bad.values():
        lab.send(LAB_TOPIC, raw)
    # A topic the ACL lets through but the contract does not know: no usable sender id.
    unknown_topic_raw = encode(lab_result())
    simulator.send(UNKNOWN_TOPIC, unknown_topic_raw)
    bad_location = encode(location(city="atlantis"))
    simulator.send("foodtrace/v1/registry/locations", bad_location)
    good_after = lab_result()
    lab.send(LAB_TOPIC, good_after)

    # good ones land after (and among) the bad ones
    wait_until(lambda: scalar(fresh_db_url, "SELECT count(*) FROM landing.lab_results") == 2)
    wait_until(lambda: scalar(fresh_db_url, "SELECT count(*) FROM landing.quarantine") == 8)
    stored = {r[0] for r in _rows(fresh_db_url, "SELECT message_id::text FROM landing.lab_results")}
    assert stored == {good_in_array["message_id"], good_after["message_id"]}

    quarantine = _rows(
        fresh_db_url,
        "SELECT topic, sender_id, message_id::text, element_index, "
        "raw, reasons FROM landing.quarantine",
    )
    by_raw = {bytes(q[4]): q for q in quarantine}
    for name, raw in bad.items():
        if name == "array_element":
            continue
        topic, sender, _, _, _, reasons = by_raw[raw]  # the exact bytes are kept
        assert (topic, sender) == (LAB_TOPIC, "lab-gz-01"), name
        assert reasons and all(r["code"] and r["message"] for r in reasons), name
    codes = {
        name: {r["code"] for r in by_raw[raw][5]}
        for name, raw in bad.items()
        if name != "array_element"
    }
    assert "not_json" in codes["not_json"]
    assert "oversize" in codes["oversize"]
    assert "sender_mismatch" in codes["sender_mismatch"]
    assert codes["missing_field"] and codes["wrong_type"]
    missing_msgs = " ".join(r["message"] for r in by_raw[bad["missing_field"]][5])
    assert "lot_code" in missing_msgs  # a reason a person can act on
    element = [q for q in quarantine if q[3] is not None]
    assert len(element) == 1 and element[0][2] == bad_in_array["message_id"] and element[0][3] == 1
    unknown = [q for q in quarantine if q[0] == UNKNOWN_TOPIC]
    assert len(unknown) == 1 and bytes(unknown[0][4]) == unknown_topic_raw
    assert "unknown_topic" in {r["code"] for r in unknown[0][5]}
    registry = by_raw[bad_location]
    assert registry[1] == "registry" and "city" in " ".join(r["message"] for r in registry[5])

    # the senders hear about every rejection, with the message id and the reasons
    notices = wait_until(lambda: len(lab.messages()) >= 6 and lab.messages())
    bodies = [json.loads(m.payload) for m in notices]
    assert all(m.topic == "foodtrace/v1/rejections/lab-gz-01" for m in notices)
    assert all(b["topic"] == LAB_TOPIC and b["reasons"] and b["received_at"] for b in bodies)
    # spec 2.4: {message_id, stage, stored, reasons}; nothing the edge rejects is stored
    assert all((b["stage"], b["stored"]) == ("edge", False) for b in bodies)
    assert {b["message_id"] for b in bodies} >= {
        missing_field["message_id"],
        wrong_type["message_id"],
        other_sender["message_id"],
        bad_in_array["message_id"],
    }
    others = wait_until(lambda: len(simulator.messages()) >= 2 and simulator.messages())
    by_topic = {m.topic: json.loads(m.payload) for m in others}
    assert by_topic["foodtrace/v1/rejections/unknown"]["topic"] == UNKNOWN_TOPIC
    assert by_topic["foodtrace/v1/rejections/registry"]["reasons"]
    assert all((b["stage"], b["stored"]) == ("edge", False) for b in by_topic.values())

    result = rc.stop()
    assert result.clean and result.totals.quarantined == 8 and result.totals.stored == 2
    # The bad messages were acknowledged too: the same session has nothing to redeliver.
    again = inprocess_consumer(worker_id=rc.consumer.config.worker_id, idle_exit_s=1.0)
    again.thread.join(10)
    assert again.result is not None and again.result.totals.messages == 0


def test_a_bad_message_sent_again_is_told_once(inprocess_consumer, publisher, fresh_db_url):
    """Spec 2.4: a redelivery (or the same bad bytes published again) lands once in
    quarantine and reaches the sender once."""
    rc = inprocess_consumer()
    lab = publisher("lab-gz-01")
    lab.listen("foodtrace/v1/rejections/lab-gz-01")
    repeated = lab_result(tested_at=12345)
    lab.send(LAB_TOPIC, repeated)
    lab.send(LAB_TOPIC, repeated)
    marker = lab_result(tested_at=67890)
    lab.send(LAB_TOPIC, marker)
    wait_until(lambda: scalar(fresh_db_url, "SELECT count(*) FROM landing.quarantine") == 2)
    wait_until(lambda: len(lab.messages()) >= 2)
    time.sleep(1.0)  # a second notice for `repeated` would have arrived by now
    told = [json.loads(m.payload)["message_id"] for m in lab.messages()]
    assert sorted(told) == sorted([repeated["message_id"], marker["message_id"]])
    result = rc.stop()
    assert (result.totals.quarantined, result.totals.duplicates) == (2, 1)


def test_works_on_mqtt_311_embedded_broker(fresh_db_url) -> None:
    """The demo's embedded broker speaks MQTT 3.1.1: no shared subscription, no
    user properties; the consumer still lands everything (lag from receive time)."""
    import paho.mqtt.client as mqtt
    from foodtrace.ingest.consumer import ConsumerConfig
    from ingest_helpers import RunningConsumer, as_ingest_role

    from foodtrace.embedded import EmbeddedBroker

    broker = EmbeddedBroker().start()
    try:
        rc = RunningConsumer(
            ConsumerConfig(
                database_url=as_ingest_role(fresh_db_url),
                mqtt=broker.settings,
                worker_id=f"demo-{uuid.uuid4().hex[:6]}",
                batch_ms=50,
            )
        ).start()
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        msgs = [lab_result() for _ in range(5)]
        for m in msgs:
            pub.publish(LAB_TOPIC, encode(m), qos=1).wait_for_publish(5)
        wait_until(lambda: scalar(fresh_db_url, "SELECT count(*) FROM landing.lab_results") == 5)
        pub.disconnect()
        pub.loop_stop()
        result = rc.stop()
        assert result.clean and result.totals.stored == 5
    finally:
        broker.stop()
