"""A sensor report that cannot become a lab result is told to its sender (real edge,
landing and validation): OpenEPCIS's SensorData_with_combined_events.json measures
a microorganism (no foodtrace analyte code exists for one: the analyte list, spec
2.1, has none) and a molar concentration (uom C35, not converted). The events are
kept as not used; the sender learns, once, exactly what is missing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import psycopg
from foodtrace.ingest.edge import check_message
from foodtrace.ingest.landing import LandingItem, write_batch

from foodtrace.db import connect
from foodtrace.validate.epcis_notes import SENSOR_RULE
from foodtrace.validate.promote import validate_and_promote

DOCUMENT = (Path(__file__).resolve().parents[2] / "data" / "epcis" / "openepcis"
            / "SensorData_with_combined_events.json")
ACTOR = "lab-gz-01"
MICROBE = "microorganism https://www.ncbi.nlm.nih.gov/taxonomy/1126011 has no foodtrace analyte"


def _arrive(conn: psycopg.Connection) -> None:
    raw = DOCUMENT.read_bytes()
    result = check_message(f"foodtrace/v1/epcis/{ACTOR}", raw)
    write_batch(conn, [LandingItem(result, datetime.now(UTC), raw=raw)], "test-worker")
    conn.commit()
    validate_and_promote(conn, write_reports=False)
    conn.commit()


def test_the_sender_is_told_what_a_microorganism_report_lacks(fresh_db_url: str) -> None:
    with connect(fresh_db_url) as conn:
        _arrive(conn)
        findings = conn.execute(
            "SELECT message_id, sender_id, severity, message FROM core.findings WHERE rule = %s",
            (SENSOR_RULE,)).fetchall()
        notices = conn.execute(
            "SELECT message_id, sender_id, stored, body FROM core.sender_notices"
            " WHERE body->'reasons'->0->>'rule' = %s", (SENSOR_RULE,)).fetchall()
        conn.commit()
        microbe = [f for f in findings if MICROBE in f[3]]
        assert len(microbe) == 1
        message_id, sender, severity, message = microbe[0]
        assert (sender, severity) == (ACTOR, "warning")
        assert message.startswith("传感器报告未成为检测结果 / sensor report not read as a lab result")
        assert "the analyte list, spec 2.1, has no microorganisms" in message
        assert any("uom C35 is not NA (mg/kg) or J33 (ug/kg)" in f[3] for f in findings)
        # the same words reach the sender, as stored (nothing was rejected)
        (notice,) = [n for n in notices if n[0] == message_id]
        assert notice[1:3] == (ACTOR, True)
        assert notice[3]["reasons"][0]["message"] == message
        # a redelivery tells nothing twice
        _arrive(conn)
        assert conn.execute("SELECT count(*) FROM core.findings WHERE rule = %s",
                            (SENSOR_RULE,)).fetchone()[0] == len(findings)
        assert conn.execute("SELECT count(*) FROM core.sender_notices WHERE message_id = %s",
                            (message_id,)).fetchone()[0] == 1
        conn.commit()
