"""Sensor reports of "not used" EPCIS events that could not become lab results.

An EPCIS event that is no Critical Tracking Event (a sensor-only ObjectEvent, an
inspection, ...) is kept with its document and not reported as a rejection. But a
sensor report on it with a `chemicalSubstance` or `microorganism` was meant as a
measurement of a lot: when it lacks what a lab result needs (spec 2.1; a
microorganism has no foodtrace analyte code at all), the edge writes why into the
event's `not_used` entry (`sensor_notes`, ingest/epcis_sensor.py) and this step
makes it a finding (`epcis.sensor_report`, warning) told to the sender once, with
`stored: true`: the event is kept, only the lab result is missing.

Idempotent: one finding per event (ON CONFLICT on (message_id, rule)); only the
documents that carry sensor notes are read (a partial index, 0016).
"""

from __future__ import annotations

import psycopg

SENSOR_RULE = "epcis.sensor_report"

_REASONS = """
CREATE TEMP TABLE ft_sensor_reasons ON COMMIT DROP AS
SELECT (n->>'message_id')::uuid AS message_id, d.actor_id, d.topic, d.received_at,
       'sensor_report_not_lab_result' AS code, 'warning' AS severity,
       '传感器报告未成为检测结果 / sensor report not read as a lab result: '
           || (SELECT string_agg(x, '; ') FROM jsonb_array_elements_text(n->'sensor_notes') x)
           AS message,
       format('/epcisBody/eventList/%%s/sensorElementList', n->>'index') AS path,
       n->>'event_id' AS value
FROM landing.epcis_documents d
CROSS JOIN LATERAL jsonb_array_elements(d.not_used) n
WHERE jsonb_path_exists(d.not_used, '$[*].sensor_notes')
  AND jsonb_typeof(n->'sensor_notes') = 'array'
  AND NOT EXISTS (SELECT 1 FROM core.findings f
                  WHERE f.message_id = (n->>'message_id')::uuid AND f.rule = %(rule)s)
"""

_FINDINGS = """
INSERT INTO core.findings (kind, message_id, sender_id, event_type, rule, code, severity,
                           message, path, detail)
SELECT DISTINCT ON (message_id) 'chain_event', message_id, actor_id, 'epcis_not_used',
       %(rule)s::text, code, severity, message, path, jsonb_build_object('value', value)
FROM ft_sensor_reasons
ORDER BY message_id, received_at
ON CONFLICT (message_id, rule) DO NOTHING
"""

_NOTICES = """
INSERT INTO core.sender_notices (kind, message_id, stage, sender_id, topic, stored, body)
SELECT DISTINCT ON (message_id) 'chain_event', message_id, 'validation', actor_id, topic, true,
       jsonb_build_object('message_id', message_id::text, 'stage', 'validation',
                          'stored', true, 'topic', topic, 'received_at', received_at,
                          'reasons', jsonb_build_array(jsonb_build_object(
                              'rule', %(rule)s::text, 'code', code, 'severity', severity,
                              'message', message, 'path', path, 'value', value)))
FROM ft_sensor_reasons
ORDER BY message_id, received_at
ON CONFLICT (message_id, stage) DO NOTHING
"""


def promote_sensor_notes(conn: psycopg.Connection) -> int:
    """Findings and notices for sensor reports not read as lab results; how many
    events got one. The caller owns the transaction (promote.py: one of its own)."""
    params = {"rule": SENSOR_RULE}
    conn.execute(_REASONS, params)
    found = conn.execute(_FINDINGS, params).rowcount
    conn.execute(_NOTICES, params)
    conn.execute("DROP TABLE ft_sensor_reasons")
    return max(found, 0)
