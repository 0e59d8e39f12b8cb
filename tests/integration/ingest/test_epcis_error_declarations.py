"""EPCIS 2.0 error declarations (7.4.1.4) through the real edge, landing, validation
and linking: the declared event leaves the lot graph whether the declaration comes
after it or before it, stays stored for audit, and what cannot be checked (an event
never received, corrective events not arrived) is a finding told to the sender.

The events are OpenTraceability's GDST test data (tests/data/epcis/SOURCES.md); the
declaration repeats one of them with an `errorDeclaration`, as EPCIS 2.0 writes it.
"""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from foodtrace.ingest.edge import check_message
from foodtrace.ingest.epcis import EVENT_NAMESPACE, document_events
from foodtrace.ingest.landing import LandingItem, write_batch

from foodtrace.db import connect
from foodtrace.trace.api import trace
from foodtrace.trace.link import link
from foodtrace.validate.promote import validate_and_promote

DATA = Path(__file__).resolve().parents[2] / "data" / "epcis"
EVENTS = DATA / "opentraceability" / "cap_tool_events.jsonld"
ACTOR = "gdst-importer"
DOMAIN = "urn:gdst:example.org:product:lot:class:"
# the fish farm's transformation: feed and fingerlings into the farmed tuna
WRONG = "urn:uuid:d00913d2-00af-40c0-af00-380e29bdc504"
PROCESSOR_LOT = f"{DOMAIN}processor.2.v1-0122-2022"
FEED_AND_HATCHERY = {f"{DOMAIN}feedmill.1.ff11252021", f"{DOMAIN}hatchery.1.tf12012021"}


def _declaration_document() -> bytes:
    document = json.loads(EVENTS.read_bytes().decode("utf-8-sig"))
    (event,) = [e for e in document_events(document) if e.get("eventID") == WRONG]
    declared = copy.deepcopy(event)
    declared["errorDeclaration"] = {"declarationTime": "2022-02-01T10:00:00+00:00",
                                    "reason": "urn:epcglobal:cbv:er:incorrect_data"}
    return json.dumps({"@context": document.get("@context", []), "type": "EPCISDocument",
                       "schemaVersion": "2.0", "creationDate": "2022-02-01T10:00:00Z",
                       "epcisBody": {"eventList": [declared]}}).encode()


def _land(conn: psycopg.Connection, raw: bytes) -> Any:
    result = check_message(f"foodtrace/v1/epcis/{ACTOR}", raw)
    write_batch(conn, [LandingItem(result, datetime.now(UTC), raw=raw)], "test-worker")
    return result


def _pipeline(conn: psycopg.Connection) -> None:
    validate_and_promote(conn, write_reports=False)
    link(conn)
    conn.commit()


def _sources(conn: psycopg.Connection) -> set[str]:
    up = trace(conn, PROCESSOR_LOT, "up")
    conn.commit()
    return {lot.lot_code for lot in up.upstream}


def _one(conn: psycopg.Connection, sql: str, params: tuple = ()) -> Any:
    value = conn.execute(sql, params).fetchone()[0]
    conn.commit()
    return value


WRONG_ID = uuid.uuid5(EVENT_NAMESPACE, f"{ACTOR}\n{WRONG}")


def test_a_declaration_after_its_event_takes_it_out_of_the_trace(fresh_db_url: str) -> None:
    with connect(fresh_db_url) as conn:
        _land(conn, EVENTS.read_bytes())
        _pipeline(conn)
        assert _sources(conn) >= FEED_AND_HATCHERY
        assert _one(conn, "SELECT count(*) FROM core.lot_edges WHERE message_id = %s",
                    (WRONG_ID,)) == 2

        result = _land(conn, _declaration_document())
        (acc,) = result.accepted
        assert acc.kind == "epcis_declaration" and not result.documents[0].not_used
        _pipeline(conn)

        assert _one(conn, "SELECT count(*) FROM core.lot_edges WHERE message_id = %s",
                    (WRONG_ID,)) == 0
        assert _one(conn, "SELECT count(*) FROM core.lot_locations WHERE message_id = %s",
                    (WRONG_ID,)) == 0
        assert not FEED_AND_HATCHERY & _sources(conn)  # the trace no longer goes through it
        # the event stays stored, marked by its retraction
        assert _one(conn, "SELECT count(*) FROM core.events WHERE message_id = %s",
                    (WRONG_ID,)) == 1
        row = conn.execute(
            "SELECT message_id, declared_event_id, reason, retracted_by_message_id"
            " FROM core.retractions").fetchall()
        conn.commit()
        assert row == [(WRONG_ID, WRONG, "incorrect_data", acc.message_id)]
        # an event that was received: nothing to tell the sender
        assert _one(conn, "SELECT count(*) FROM core.findings WHERE message_id = %s",
                    (acc.message_id,)) == 0
        assert _one(conn, "SELECT count(*) FROM core.sender_notices WHERE message_id = %s",
                    (acc.message_id,)) == 0

        # a redelivery of the declaration is stored once and changes nothing
        _land(conn, _declaration_document())
        _pipeline(conn)
        assert _one(conn, "SELECT count(*) FROM landing.epcis_declarations") == 1
        assert _one(conn, "SELECT count(*) FROM core.retractions") == 1
        # and so is the full re-link (a repair): the retracted event is not linked again
        link(conn, full=True)
        conn.commit()
        assert not FEED_AND_HATCHERY & _sources(conn)


def test_a_declaration_before_its_event_keeps_the_event_out(fresh_db_url: str) -> None:
    with connect(fresh_db_url) as conn:
        (acc,) = _land(conn, _declaration_document()).accepted
        _pipeline(conn)
        # no such event yet: stored, with a finding told to the sender
        finding = conn.execute(
            "SELECT code, severity, resolved_at FROM core.findings WHERE message_id = %s"
            " AND rule = 'epcis.error_declaration'", (acc.message_id,)).fetchone()
        conn.commit()
        assert finding == ("declared_event_unknown", "warning", None)
        stored, body = conn.execute(
            "SELECT stored, body FROM core.sender_notices WHERE message_id = %s",
            (acc.message_id,)).fetchone()
        conn.commit()
        assert stored is True and [r["code"] for r in body["reasons"]] == ["declared_event_unknown"]

        _land(conn, EVENTS.read_bytes())  # the events arrive late
        _pipeline(conn)
        assert _one(conn, "SELECT count(*) FROM core.events WHERE message_id = %s",
                    (WRONG_ID,)) == 1  # stored
        assert _one(conn, "SELECT count(*) FROM core.lot_edges WHERE message_id = %s",
                    (WRONG_ID,)) == 0  # but never linked
        sources = _sources(conn)
        assert f"{DOMAIN}fisherman01.tuna.v1-0122-2022" in sources
        assert not FEED_AND_HATCHERY & sources
        # the event arrived: the finding is answered
        assert _one(conn, "SELECT resolution FROM core.findings WHERE message_id = %s",
                    (acc.message_id,)) == "reference_arrived"


def test_a_real_declaration_of_an_event_never_received(fresh_db_url: str) -> None:
    """OpenEPCIS's TransformationEvent_with_error_declaration: a declaration and its
    corrective event, which the mapping rejects (no output lot): both are findings."""
    raw = (DATA / "openepcis" / "TransformationEvent_with_error_declaration.json").read_bytes()
    with connect(fresh_db_url) as conn:
        result = _land(conn, raw)
        (acc,) = result.accepted
        assert len(result.rejected) == 1  # the corrective event
        _pipeline(conn)
        assert _one(conn, "SELECT declared_event_id FROM core.retractions") == \
            "urn:uuid:374d95fc-9457-4a51-bd6a-0bba133845a8"
        rows = conn.execute(
            "SELECT rule, code, severity, detail->>'value' FROM core.findings"
            " WHERE message_id = %s ORDER BY rule", (acc.message_id,)).fetchall()
        conn.commit()
        assert rows == [
            ("epcis.corrective_events", "corrective_event_missing", "info",
             "urn:uuid:404d95fc-9457-4a51-bd6a-0bba133845a8"),
            ("epcis.error_declaration", "declared_event_unknown", "warning",
             str(uuid.uuid5(EVENT_NAMESPACE,
                            f"{ACTOR}\nurn:uuid:374d95fc-9457-4a51-bd6a-0bba133845a8"))),
        ]
        body = _one(conn, "SELECT body FROM core.sender_notices WHERE message_id = %s",
                    (acc.message_id,))
        assert body["stored"] is True and len(body["reasons"]) == 2
