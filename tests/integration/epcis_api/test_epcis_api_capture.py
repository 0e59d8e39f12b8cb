"""POST /capture and GET /capture/{id} over real HTTP against the real database, the
server connected as foodtrace_api: the document takes the MQTT landing path
(exactly once, quarantine with reasons), the job tells the sender per event,
only its own sender reads it, and the limits answer as EPCIS 2.0 says."""

from __future__ import annotations

import hashlib
import json
import uuid

from epcis_api_helpers import epcis_document, rows, serving
from foodtrace.ingest import epcis

PACKER = "packer-gz-01"
TOPIC = f"foodtrace/v1/epcis/{PACKER}"


def test_capture_lands_like_mqtt_once_with_a_job(api, fresh_db_url) -> None:
    doc = epcis_document(3)
    body = json.dumps(doc).encode()
    with api.client(PACKER) as http:
        r = http.post("/capture", content=body, headers={"Content-Type": "application/ld+json"})
        assert r.status_code == 202, r.text
        location = r.headers["Location"]
        assert location.startswith("/capture/")
        job = http.get(location).json()
        # the same document again (a client retrying): stored once
        again = http.post("/capture", content=body, headers={"Content-Type": "application/json"})
        assert again.status_code == 202
        job2 = http.get(again.headers["Location"]).json()

    assert job["captureID"] == location.rsplit("/", 1)[1]
    assert job["running"] is False and job["success"] is True and job["errors"] == []
    assert job["captureErrorBehaviour"] == "proceed"
    assert "createdAt" in job and "finishedAt" in job
    assert (job["eventCount"], job["acceptedCount"], job["storedCount"]) == (3, 3, 3)
    assert (job2["storedCount"], job2["duplicateCount"]) == (0, 3)
    assert job2["captureID"] != job["captureID"]

    landed = rows(fresh_db_url, "SELECT message_id, actor_id, topic, source_document_id "
                                "FROM landing.chain_events")
    assert len(landed) == 3
    # the same ids the MQTT path gives these events, the same topic, the document kept once
    expected_ids = {epcis.event_message_id(PACKER, e) for e in doc["epcisBody"]["eventList"]}
    assert {r[0] for r in landed} == expected_ids
    assert {(r[1], r[2]) for r in landed} == {(PACKER, TOPIC)}
    docs = rows(fresh_db_url, "SELECT document_id, raw FROM landing.epcis_documents")
    assert len(docs) == 1 and bytes(docs[0][1]) == body
    assert {r[3] for r in landed} == {docs[0][0]}
    # queued for validation like any landed chain event
    assert rows(fresh_db_url, "SELECT count(*) FROM landing.validation_queue "
                              "WHERE kind = 'chain_event'")[0][0] == 3
    stats = rows(fresh_db_url, "SELECT sum(stored), sum(duplicates) FROM ops.ingest_stats "
                               "WHERE worker_id = 'epcis-api'")[0]
    assert tuple(stats) == (3, 3)


def test_bad_events_are_quarantined_and_reported_per_event(api, fresh_db_url) -> None:
    doc = epcis_document(2)
    events = doc["epcisBody"]["eventList"]
    nowhere = dict(events[1], eventID="urn:uuid:" + str(uuid.uuid4()))
    del nowhere["bizLocation"]
    events.append(nowhere)
    no_time = dict(events[1], eventID=f"ni:///sha-256;{uuid.uuid4().hex}?ver=CBV2.0")
    del no_time["eventTime"]
    events.append(no_time)
    with api.client(PACKER) as http:
        r = http.post("/capture", json=doc)
        assert r.status_code == 202, r.text
        job = http.get(r.headers["Location"]).json()
    assert job["success"] is False and job["running"] is False
    assert (job["eventCount"], job["acceptedCount"], job["rejectedCount"]) == (4, 2, 2)
    by_index = {e["eventIndex"]: e for e in job["errors"]}
    assert set(by_index) == {2, 3}
    for index, err in by_index.items():
        assert err["type"] == "epcisException:ValidationException"
        assert err["status"] == 400 and err["detail"] and err["reasons"]
        assert err["messageID"] == str(epcis.event_message_id(PACKER, events[index]))
    assert by_index[2]["instance"] == events[2]["eventID"]
    assert {r["code"] for e in by_index.values() for r in e["reasons"]} == {"epcis_incomplete"}
    quarantined = rows(fresh_db_url, "SELECT element_index, sender_id, topic, reasons "
                                     "FROM landing.quarantine ORDER BY element_index")
    assert [(q[0], q[1], q[2]) for q in quarantined] == [(2, PACKER, TOPIC), (3, PACKER, TOPIC)]
    # the job's reasons are the quarantine's (and the MQTT notice's) reasons
    assert [q[3] for q in quarantined] == [by_index[2]["reasons"], by_index[3]["reasons"]]
    assert rows(fresh_db_url, "SELECT count(*) FROM landing.chain_events")[0][0] == 2


def test_rollback_stores_no_event_of_a_document_with_a_bad_one(api, fresh_db_url) -> None:
    doc = epcis_document(2)
    bad = dict(doc["epcisBody"]["eventList"][1], eventID="urn:uuid:" + str(uuid.uuid4()))
    del bad["bizLocation"]
    doc["epcisBody"]["eventList"].append(bad)
    with api.client(PACKER) as http:
        r = http.post("/capture", json=doc, headers={"GS1-Capture-Error-Behaviour": "rollback"})
        assert r.status_code == 202
        job = http.get(r.headers["Location"]).json()
    assert job["captureErrorBehaviour"] == "rollback" and job["success"] is False
    assert (job["storedCount"], job["rejectedCount"]) == (0, 3)
    assert rows(fresh_db_url, "SELECT count(*) FROM landing.chain_events")[0][0] == 0
    assert rows(fresh_db_url, "SELECT count(*) FROM landing.quarantine")[0][0] == 1


def test_not_an_epcis_document_is_400_and_quarantined(api, fresh_db_url) -> None:
    chain_event_json = {"schema": "foodtrace/chain-event/v1", "actor_id": PACKER}
    with api.client(PACKER) as http:
        r = http.post("/capture", json=chain_event_json)
        garbage = http.post("/capture", content=b"{not json",
                            headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["reasons"][0]["code"] == "not_epcis"
    assert garbage.status_code == 400 and garbage.json()["reasons"][0]["code"] == "not_json"
    quarantined = rows(fresh_db_url, "SELECT sender_id, raw FROM landing.quarantine "
                                     "ORDER BY quarantine_id")
    assert [q[0] for q in quarantined] == [PACKER, PACKER]
    assert bytes(quarantined[1][1]) == b"{not json"


def test_authentication_and_capture_only_as_oneself(api, fresh_db_url) -> None:
    doc = epcis_document(1)
    with api.client(None) as anonymous:
        r = anonymous.post("/capture", json=doc)
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert r.json()["type"] == "epcisException:SecurityException"
        wrong = anonymous.post("/capture", json=doc,
                               headers={"Authorization": "Bearer not-a-token-of-anybody"})
        assert wrong.status_code == 401
        # a token's hash is not a token
        digest = hashlib.sha256(b"farm-token-" + b"a" * 24).hexdigest()
        hashed = anonymous.get("/events", headers={"Authorization": f"Bearer {digest}"})
        assert hashed.status_code == 401
        assert anonymous.get("/events").status_code == 401
    assert rows(fresh_db_url, "SELECT count(*) FROM landing.chain_events")[0][0] == 0

    with api.client("farm-zq-01") as farm:
        r = farm.post("/capture", json=doc)
        assert r.status_code == 202
        own = farm.get(r.headers["Location"])
        assert own.status_code == 200
    # whatever the document says, it is the farm's: the topic of its token
    assert rows(fresh_db_url, "SELECT DISTINCT actor_id, topic FROM landing.chain_events") == [
        ("farm-zq-01", "foodtrace/v1/epcis/farm-zq-01")]
    with api.client(PACKER) as other, api.client("regulator-gd") as regulator:
        assert other.get(r.headers["Location"]).status_code == 404
        assert regulator.get(r.headers["Location"]).status_code == 404
        assert other.get("/capture/not-a-uuid").status_code == 404


def test_limits_and_media_types(fresh_db_url, tmp_path) -> None:
    with serving(fresh_db_url, tmp_path, max_body_bytes=2000) as api, api.client(PACKER) as http:
        big = json.dumps(epcis_document(12)).encode()
        assert len(big) > 2000
        r = http.post("/capture", content=big, headers={"Content-Type": "application/json"})
        assert r.status_code == 413
        assert r.headers["GS1-EPCIS-Capture-File-Size-Limit"] == "2000"
        assert r.json()["type"] == "epcisException:CaptureLimitExceededException"
        assert "2000" in r.json()["detail"]

        def chunks():
            yield big[:1000]
            yield big[1000:]

        streamed = http.post("/capture", content=chunks(),
                             headers={"Content-Type": "application/json"})
        assert streamed.status_code == 413
        xml = http.post("/capture", content=b"<epcis/>", headers={"Content-Type": "application/xml"})
        assert xml.status_code == 415
        odd = http.post("/capture", json={}, headers={"GS1-Capture-Error-Behaviour": "maybe"})
        assert odd.status_code == 400
    assert rows(fresh_db_url, "SELECT count(*) FROM landing.quarantine")[0][0] == 0


def test_rejections_are_told_on_mqtt_too(own_broker, fresh_db_url, tmp_path) -> None:
    from ingest_helpers import Publisher, wait_until

    from foodtrace.config import parse_mqtt_url

    listener = Publisher(own_broker.url(PACKER))
    try:
        listener.listen(f"foodtrace/v1/rejections/{PACKER}")
        doc = epcis_document(1)
        del doc["epcisBody"]["eventList"][0]["eventTime"]
        mqtt = parse_mqtt_url(own_broker.url("foodtrace-ingest"))
        with serving(fresh_db_url, tmp_path, mqtt=mqtt) as api, api.client(PACKER) as http:
            assert http.post("/capture", json=doc).status_code == 202
            assert http.post("/capture", json=doc).status_code == 202  # told once, as on MQTT
            wait_until(lambda: listener.messages())
        notices = [json.loads(m.payload) for m in listener.messages()]
    finally:
        listener.close()
    assert len(notices) == 1
    assert notices[0]["stage"] == "edge" and notices[0]["stored"] is False
    assert notices[0]["topic"] == TOPIC and notices[0]["element_index"] == 0
    assert notices[0]["reasons"][0]["code"] == "epcis_incomplete"


def test_the_api_role_holds_only_what_it_needs(fresh_db_url) -> None:
    import psycopg
    import pytest
    from epcis_api_helpers import as_api_role

    for sql in ("SELECT count(*) FROM landing.lab_results", "SELECT raw FROM landing.quarantine",
                "SELECT count(*) FROM core.alerts",
                "INSERT INTO landing.lab_results (message_id, lab_id, topic, payload) "
                "VALUES (gen_random_uuid(), 'x', 'x', '{}')",
                "DELETE FROM landing.chain_events", "UPDATE ops.epcis_capture_jobs SET success = true"):
        with psycopg.connect(as_api_role(fresh_db_url), autocommit=True) as conn, \
                pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(sql)
