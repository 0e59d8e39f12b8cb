"""landing.write_batch against the real PostgreSQL, as the least-privilege role
foodtrace_ingest: every kind lands with its fields, repeats are stored once (in a
batch and across batches), one stats row per batch, and nothing outside landing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from devservices import free_port
from foodtrace.ingest.landing import (
    LandingItem,
    LandingWriter,
    StorageUnavailable,
    quarantine_dedup_key,
    write_batch,
)
from foodtrace.ingest.messages import Accepted, EdgeResult, EpcisDocument, Reason, Rejected

from foodtrace.db import connect

INGEST_ROLE = "foodtrace_ingest"


def as_role(db_url: str) -> str:
    return psycopg.conninfo.make_conninfo(db_url, options=f"-c role={INGEST_ROLE}")


@pytest.fixture
def ingest_conn(fresh_db_url: str) -> Iterator[psycopg.Connection]:
    """A session running as foodtrace_ingest from its first statement."""
    with connect(as_role(fresh_db_url)) as c:
        assert c.execute("SELECT current_user").fetchone()[0] == INGEST_ROLE
        yield c


@pytest.fixture
def admin(fresh_db_url: str) -> Iterator[psycopg.Connection]:
    with connect(fresh_db_url, autocommit=True) as c:
        yield c


def _lab(mid: uuid.UUID, lab: str = "lab-gz-01", index: int | None = None) -> Accepted:
    payload = {
        "schema": "foodtrace/lab-result/v1",
        "message_id": str(mid),
        "lab_id": lab,
        "sample_id": f"S-{mid.hex[:6]}",
        "lot_code": "LOT-1",
        "analyte": "lead",
    }
    return Accepted("lab_result", mid, lab, payload, element_index=index)


def _item(result: EdgeResult, sent_ago_s: float | None = None, raw: bytes = b"{}") -> LandingItem:
    now = datetime.now(UTC)
    sent = now - timedelta(seconds=sent_ago_s) if sent_ago_s is not None else None
    return LandingItem(result=result, received_at=now, sent_at=sent, raw=raw)


def test_every_kind_lands_with_its_fields(ingest_conn, admin) -> None:
    lab_id, ev_id, loc_id, prod_id, doc_id = (uuid.uuid4() for _ in range(5))
    chain_from_doc = uuid.uuid4()
    lab_topic = "foodtrace/v1/labs/lab-gz-01/results"
    items = [
        _item(EdgeResult(lab_topic, "lab-gz-01", accepted=[_lab(lab_id)]), sent_ago_s=2.0),
        _item(
            EdgeResult(
                "foodtrace/v1/chain/farm-zq-01/events",
                "farm-zq-01",
                accepted=[
                    Accepted(
                        "chain_event",
                        ev_id,
                        "farm-zq-01",
                        {"message_id": str(ev_id), "event_type": "harvesting", "name": "菜心"},
                    )
                ],
            )
        ),
        _item(
            EdgeResult(
                "foodtrace/v1/registry/locations",
                "foodtrace-registry",
                accepted=[
                    Accepted(
                        "location",
                        loc_id,
                        "foodtrace-registry",
                        {"location_id": "L-1", "city": "foshan"},
                        natural_key="L-1",
                    )
                ],
            )
        ),
        _item(
            EdgeResult(
                "foodtrace/v1/registry/products",
                "foodtrace-registry",
                accepted=[
                    Accepted(
                        "product",
                        prod_id,
                        "foodtrace-registry",
                        {"product_code": "P-1"},
                        natural_key="P-1",
                    )
                ],
            )
        ),
        _item(
            EdgeResult(
                "foodtrace/v1/epcis/packer-gz-01",
                "packer-gz-01",
                accepted=[
                    Accepted(
                        "chain_event",
                        chain_from_doc,
                        "packer-gz-01",
                        {"event_type": "shipping"},
                        document_id=doc_id,
                    )
                ],
                documents=[
                    EpcisDocument(
                        doc_id,
                        "packer-gz-01",
                        b'{"type":"EPCISDocument"}',
                        {"type": "EPCISDocument"},
                    )
                ],
            )
        ),
    ]
    counts = write_batch(ingest_conn, items, "w-test")
    assert (counts.received, counts.stored, counts.duplicates, counts.quarantined) == (5, 5, 0, 0)
    assert counts.lag_max_s is not None and counts.lag_max_s >= 2.0
    # the count behind the batch's average: the dashboard weighs batches by it (0018)
    stats = admin.execute(
        "SELECT lag_count, lag_avg_s FROM ops.ingest_stats WHERE worker_id = 'w-test' "
        "ORDER BY ts DESC LIMIT 1"
    ).fetchone()
    assert stats == (len(items), counts.lag_avg_s) and counts.lag_n == len(items)

    row = admin.execute(
        "SELECT lab_id, topic, payload FROM landing.lab_results WHERE message_id = %s", (lab_id,)
    ).fetchone()
    assert row[0] == "lab-gz-01" and row[1] == lab_topic and row[2]["analyte"] == "lead"
    row = admin.execute(
        "SELECT actor_id, source_document_id, payload->>'name' FROM landing.chain_events "
        "WHERE message_id = %s",
        (ev_id,),
    ).fetchone()
    assert row == ("farm-zq-01", None, "菜心")
    row = admin.execute(
        "SELECT actor_id, source_document_id FROM landing.chain_events WHERE message_id = %s",
        (chain_from_doc,),
    ).fetchone()
    assert row == ("packer-gz-01", doc_id)
    row = admin.execute(
        "SELECT actor_id, raw, document FROM landing.epcis_documents WHERE document_id = %s",
        (doc_id,),
    ).fetchone()
    assert row == ("packer-gz-01", b'{"type":"EPCISDocument"}', {"type": "EPCISDocument"})
    assert admin.execute("SELECT location_id FROM landing.current_locations").fetchall() == [
        ("L-1",)
    ]
    assert admin.execute("SELECT product_code FROM landing.current_products").fetchall() == [
        ("P-1",)
    ]
    stats = admin.execute(
        "SELECT worker_id, received, stored, duplicates, quarantined FROM ops.ingest_stats"
    ).fetchall()
    assert stats == [("w-test", 5, 5, 0, 0)]


def test_repeats_are_stored_once_within_and_across_batches(ingest_conn, admin) -> None:
    mid = uuid.uuid4()
    topic = "foodtrace/v1/labs/lab-gz-01/results"
    bad = Rejected([Reason("not_json", "payload is not JSON")], raw=b"{oops")
    batch = [_item(EdgeResult(topic, "lab-gz-01", accepted=[_lab(mid)], rejected=[bad]))] * 3
    first = write_batch(ingest_conn, batch, "w")
    assert (first.received, first.stored, first.duplicates, first.quarantined) == (6, 1, 4, 1)
    again = write_batch(ingest_conn, batch[:1], "w")
    assert (again.received, again.stored, again.duplicates, again.quarantined) == (2, 0, 2, 0)

    assert admin.execute("SELECT count(*) FROM landing.lab_results").fetchone()[0] == 1
    q = admin.execute(
        "SELECT stage, topic, sender_id, raw, reasons, dedup_key FROM landing.quarantine"
    ).fetchall()
    assert len(q) == 1
    stage, qtopic, sender, raw, reasons, key = q[0]
    assert (stage, qtopic, sender, raw) == ("edge", topic, "lab-gz-01", b"{oops")
    assert reasons == [{"code": "not_json", "message": "payload is not JSON", "path": None}]
    assert key == quarantine_dedup_key("edge", topic, b"{oops", None)
    totals = admin.execute(
        "SELECT sum(received), sum(stored), sum(duplicates), sum(quarantined) FROM ops.ingest_stats"
    ).fetchone()
    assert totals == (8, 1, 6, 1)


def test_same_bytes_as_different_elements_are_different_quarantine_rows(ingest_conn, admin) -> None:
    topic = "foodtrace/v1/chain/farm-zq-01/events"
    rejs = [Rejected([Reason("schema", "x")], raw=b'{"a":1}', element_index=i) for i in (0, 1)]
    counts = write_batch(ingest_conn, [_item(EdgeResult(topic, "farm-zq-01", rejected=rejs))], "w")
    assert counts.quarantined == 2
    assert quarantine_dedup_key("edge", "a|b", b"c", None) != quarantine_dedup_key(
        "edge", "a", b"b|c", None
    )


def test_database_refusal_rolls_back_the_whole_batch(ingest_conn, admin) -> None:
    good, poison = uuid.uuid4(), uuid.uuid4()
    topic = "foodtrace/v1/labs/lab-gz-01/results"
    bad_payload = {"message_id": str(poison), "note": "nul \u0000 byte"}  # jsonb refuses \u0000
    items = [
        _item(EdgeResult(topic, "lab-gz-01", accepted=[_lab(good)])),
        _item(
            EdgeResult(
                topic,
                "lab-gz-01",
                accepted=[Accepted("lab_result", poison, "lab-gz-01", bad_payload)],
            )
        ),
    ]
    with pytest.raises(psycopg.DataError):
        write_batch(ingest_conn, items, "w")
    assert admin.execute("SELECT count(*) FROM landing.lab_results").fetchone()[0] == 0
    assert admin.execute("SELECT count(*) FROM ops.ingest_stats").fetchone()[0] == 0
    # The connection stays usable: the good one alone, the poison one quarantined.
    counts = write_batch(
        ingest_conn,
        items[:1],
        "w",
        extra_rejections=[
            (
                LandingItem(
                    items[1].result, items[1].received_at, raw=json.dumps(bad_payload).encode()
                ),
                Reason("storage", "the database refused it"),
            )
        ],
    )
    assert (counts.received, counts.stored, counts.quarantined) == (2, 1, 1)
    reasons = admin.execute("SELECT reasons FROM landing.quarantine").fetchone()[0]
    assert reasons[0]["code"] == "storage"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT count(*) FROM core.lab_results",
        "SELECT count(*) FROM core.events",
        "INSERT INTO core.food_categories (code) VALUES ('x')",
        "SELECT count(*) FROM landing.lab_results",
        # it reads the dedup keys of quarantine (to tell a rejection once), nothing else
        "SELECT raw FROM landing.quarantine",
        "SELECT reasons, sender_id FROM landing.quarantine",
        "UPDATE landing.lab_results SET topic = 'x'",
        "DELETE FROM landing.chain_events",
        "SELECT count(*) FROM ops.ingest_stats",
    ],
)
def test_ingest_role_reaches_nothing_but_landing_inserts(db_url: str, sql: str) -> None:
    with (
        connect(as_role(db_url)) as c,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        c.execute(sql)


def test_writer_quarantines_a_message_the_database_refuses(fresh_db_url, admin) -> None:
    """A payload the edge let through but PostgreSQL refuses must neither block the
    stream (retried forever) nor vanish: it is quarantined whole, the rest lands."""
    writer = LandingWriter(as_role(fresh_db_url), "w")
    good, poison = uuid.uuid4(), uuid.uuid4()
    topic = "foodtrace/v1/labs/lab-gz-01/results"
    raw = b'{"note": "nul \\u0000"}'
    items = [
        _item(EdgeResult(topic, "lab-gz-01", accepted=[_lab(good)])),
        _item(
            EdgeResult(
                topic,
                "lab-gz-01",
                accepted=[Accepted("lab_result", poison, "lab-gz-01", {"note": "nul \u0000"})],
            ),
            raw=raw,
        ),
    ]
    try:
        counts = writer.write(items)
    finally:
        writer.close()
    assert (counts.received, counts.stored, counts.quarantined) == (2, 1, 1)
    stored = admin.execute("SELECT message_id FROM landing.lab_results").fetchall()
    assert stored == [(good,)]
    q_raw, reasons = admin.execute("SELECT raw, reasons FROM landing.quarantine").fetchone()
    assert q_raw == raw and reasons[0]["code"] == "storage"


def test_writer_reports_an_unreachable_database_as_retryable() -> None:
    writer = LandingWriter(
        f"postgresql://postgres@127.0.0.1:{free_port()}/x", "w", connect_timeout_s=2
    )
    with pytest.raises(StorageUnavailable, match="unreachable"):
        writer.write([_item(EdgeResult("t", "s", accepted=[_lab(uuid.uuid4())]))])
