"""Real EPCIS documents (OpenTraceability's GDST test data, MIT) through the real edge,
landing, validation and linking on the real database: the events that are Critical
Tracking Events reach the lot graph, with the mapping's gaps as findings; the others
stay with the document as not used; a trace runs farm/vessel to processor."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import psycopg
from foodtrace.ingest.edge import check_message
from foodtrace.ingest.landing import LandingItem, write_batch

from foodtrace.db import connect
from foodtrace.trace.api import trace
from foodtrace.trace.link import link
from foodtrace.validate.promote import validate_and_promote

DATA = Path(__file__).resolve().parents[2] / "data" / "epcis" / "opentraceability"
ACTOR = "gdst-importer"
DOMAIN = "urn:gdst:example.org:product:lot:class:"


def _land(conn: psycopg.Connection, name: str) -> tuple[bytes, int, int]:
    raw = (DATA / name).read_bytes()
    result = check_message(f"foodtrace/v1/epcis/{ACTOR}", raw)
    write_batch(conn, [LandingItem(result, datetime.now(UTC), raw=raw)], "test-worker")
    return raw, len(result.accepted), len(result.rejected)


def test_a_gdst_document_reaches_the_trace_with_its_findings(fresh_db_url: str) -> None:
    with connect(fresh_db_url) as conn:
        raw, accepted, rejected = _land(conn, "cap_tool_events.jsonld")
        assert (accepted, rejected) == (12, 0)
        stored_raw, not_used = conn.execute(
            "SELECT raw, not_used FROM landing.epcis_documents").fetchone()
        assert stored_raw == raw  # byte for byte, BOM and all
        assert len(not_used) == 6 and all(e["reason"] for e in not_used)
        assert conn.execute("SELECT count(*) FROM landing.quarantine").fetchone()[0] == 0

        validate_and_promote(conn, write_reports=False)
        link(conn)
        assert conn.execute("SELECT count(*) FROM core.events").fetchone()[0] == 12
        findings = conn.execute(
            "SELECT count(*) FROM core.findings WHERE rule = 'epcis.mapping'").fetchone()[0]
        assert findings >= 1  # shipments and receipts that name a party, not a place

        # the processor's lot goes back to the vessel's catch and the feed mill
        up = trace(conn, f"{DOMAIN}processor.2.v1-0122-2022", "up")
        sources = {lot.lot_code for lot in up.upstream}
        # wild catch and farmed tuna commingled, the farm's feed and its hatchery
        assert sources == {f"{DOMAIN}{lot}" for lot in (
            "processor.10.commingle-01232022", "fisherman01.tuna.v1-0122-2022",
            "fishfarm.1.farmed-tuna-01192022", "feedmill.1.ff11252021",
            "hatchery.1.tf12012021")}
        # the trace carries the mapping's findings on its events
        assert "epcis.mapping" in {f.rule for f in up.findings}

        # a redelivery of the document lands nothing twice
        _land(conn, "cap_tool_events.jsonld")
        assert conn.execute("SELECT count(*) FROM landing.chain_events").fetchone()[0] == 12
        assert conn.execute("SELECT count(*) FROM landing.epcis_documents").fetchone()[0] == 1
