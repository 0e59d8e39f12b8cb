"""EPCIS error declarations -> core.retractions (part of pipeline step 1).

An event carrying `errorDeclaration` (EPCIS 2.0 7.4.1.4) lands in
landing.epcis_declarations (ingest/epcis.py, ingest/edge.py). `promote_declarations`
records each one, once, in core.retractions: the declared event (`message_id`, the
message id that event has or will have) is retracted from then on, and linking
(foodtrace/trace/link.py) takes it out of the lot graph or never links it.

Nothing here is refused: a declaration is the sender's word about its own data.
What it cannot be checked against is a finding (spec 2.4), told to the sender once:
- `epcis.error_declaration` (warning): the declared event was never received. The
  retraction is stored all the same and applies if the event arrives later; linking
  resolves the finding then (`reference_arrived`).
- `epcis.corrective_events` (info): a listed correctiveEventID has not arrived (yet).
  Corrective events are ordinary events; nothing waits for them.

Idempotent: the work is the declarations not recorded yet (an anti-join on the
declaration's message id: declarations are few), and everything is inserted ON
CONFLICT DO NOTHING. A lot whose code a newly retracted event assigned is given to
the next event that assigns it (`_REASSIGN_LOTS`). Runs in the chain-event lane, after the chain events of the
same run were promoted (a declared or corrective event in the same document is
known by then).
"""

from __future__ import annotations

import psycopg

DECLARATION_RULE = "epcis.error_declaration"
CORRECTIVE_RULE = "epcis.corrective_events"

_NEW = """
CREATE TEMP TABLE ft_new_retractions ON COMMIT DROP AS
WITH fresh AS (
    SELECT l.message_id AS declaration_id, l.actor_id, l.topic, l.received_at,
           l.source_document_id, l.payload AS p
    FROM landing.epcis_declarations l
    WHERE NOT EXISTS (SELECT 1 FROM core.retractions r
                      WHERE r.retracted_by_message_id = l.message_id)
    ORDER BY l.ingest_seq
)
SELECT f.declaration_id, f.actor_id, f.topic, f.received_at, f.source_document_id,
       (f.p->>'declared_message_id')::uuid AS message_id,
       f.p->>'declared_event_id' AS declared_event_id,
       ops.try_timestamptz(f.p->>'declaration_time') AS declaration_time,
       f.p->>'reason' AS reason,
       ARRAY(SELECT jsonb_array_elements_text(COALESCE(f.p->'corrective_event_ids', '[]')))
           AS corrective_event_ids,
       ARRAY(SELECT jsonb_array_elements_text(COALESCE(f.p->'corrective_message_ids', '[]'))
             )::uuid[] AS corrective_message_ids
FROM fresh f
"""

_INSERT = """
INSERT INTO core.retractions (retracted_by_message_id, message_id, actor_id, declared_event_id,
                              declaration_time, reason, corrective_event_ids,
                              corrective_message_ids, source_document_id)
SELECT declaration_id, message_id, actor_id, declared_event_id, declaration_time, reason,
       corrective_event_ids, corrective_message_ids, source_document_id
FROM ft_new_retractions
ON CONFLICT DO NOTHING
"""

# What the new declarations could not be checked against: one reason per rule.
_REASONS = """
CREATE TEMP TABLE ft_retraction_reasons ON COMMIT DROP AS
SELECT n.declaration_id, n.actor_id, n.topic, n.received_at, n.declaration_time,
       %(declaration_rule)s AS rule, 'declared_event_unknown' AS code, 'warning' AS severity,
       format('errorDeclaration for event %%s: no such event of %%s was received; it is '
              'stored as retracted and will not be traced if it arrives',
              n.declared_event_id, n.actor_id) AS message,
       '/eventID' AS path, n.message_id::text AS value
FROM ft_new_retractions n
WHERE NOT EXISTS (SELECT 1 FROM core.events e WHERE e.message_id = n.message_id)
  AND NOT EXISTS (SELECT 1 FROM landing.chain_events c WHERE c.message_id = n.message_id)
UNION ALL
SELECT n.declaration_id, n.actor_id, n.topic, n.received_at, n.declaration_time,
       %(corrective_rule)s, 'corrective_event_missing', 'info',
       format('errorDeclaration for event %%s names corrective event(s) not received yet: %%s',
              n.declared_event_id, string_agg(c.event_id, ', ' ORDER BY c.ord)),
       '/errorDeclaration/correctiveEventIDs', string_agg(c.event_id, ' ' ORDER BY c.ord)
FROM ft_new_retractions n
CROSS JOIN LATERAL unnest(n.corrective_event_ids, n.corrective_message_ids)
    WITH ORDINALITY AS c (event_id, message_id, ord)
WHERE NOT EXISTS (SELECT 1 FROM core.events e WHERE e.message_id = c.message_id)
  AND NOT EXISTS (SELECT 1 FROM landing.chain_events l WHERE l.message_id = c.message_id)
GROUP BY n.declaration_id, n.actor_id, n.topic, n.received_at, n.declaration_time,
         n.declared_event_id
"""

_FINDINGS = """
INSERT INTO core.findings (kind, message_id, sender_id, event_type, event_time, rule, code,
                           severity, message, path, detail)
SELECT 'chain_event', declaration_id, actor_id, 'error_declaration', declaration_time, rule,
       code, severity, message, path, jsonb_build_object('value', value)
FROM ft_retraction_reasons
ON CONFLICT (message_id, rule) DO NOTHING
"""

# A lot whose code was assigned by an event now retracted: the code's assignment
# falls to the earliest event still standing that assigns it (an initial packing
# only when nothing else does, as in promotion), else the row keeps only what a lot
# first seen elsewhere has (its product). The same rule as the promotion statements
# in sql.py, which skip retracted events as creators.
_REASSIGN_LOTS = """
WITH orphaned AS (
    SELECT DISTINCT k.lot_code
    FROM core.lots k JOIN ft_new_retractions n ON n.message_id = k.created_by_message_id
),
creator AS (
    SELECT DISTINCT ON (el.lot_code) el.lot_code, el.message_id, el.event_time, el.quantity,
           el.unit, coalesce(e.tlc_source_location_id, e.location_id) AS tlc_source
    FROM orphaned o
    JOIN core.event_lots el ON el.lot_code = o.lot_code
    JOIN core.events e ON e.message_id = el.message_id AND e.event_time = el.event_time
    WHERE ((el.role = 'lot' AND e.event_type IN ('harvesting', 'first_receiving',
                                                 'initial_packing'))
           OR (el.role = 'output' AND e.event_type = 'transformation'))
      AND NOT EXISTS (SELECT 1 FROM core.retractions rx WHERE rx.message_id = el.message_id)
    ORDER BY el.lot_code, e.event_type = 'initial_packing', el.event_time, el.message_id
)
UPDATE core.lots k
SET created_by_message_id = c.message_id, created_at = c.event_time,
    tlc_source_location_id = c.tlc_source, quantity = c.quantity, unit = c.unit
FROM orphaned o LEFT JOIN creator c ON c.lot_code = o.lot_code
WHERE k.lot_code = o.lot_code
"""

_NOTICES = """
INSERT INTO core.sender_notices (kind, message_id, stage, sender_id, topic, stored, body)
SELECT 'chain_event', declaration_id, 'validation', actor_id, topic, true,
       jsonb_build_object('message_id', declaration_id::text, 'stage', 'validation',
                          'stored', true, 'topic', topic, 'received_at', received_at,
                          'reasons', jsonb_agg(jsonb_build_object(
                              'rule', rule, 'code', code, 'severity', severity,
                              'message', message, 'path', path, 'value', value)
                              ORDER BY rule))
FROM ft_retraction_reasons
GROUP BY declaration_id, actor_id, topic, received_at
ON CONFLICT (message_id, stage) DO NOTHING
"""


def promote_declarations(conn: psycopg.Connection) -> int:
    """Record every landed declaration not recorded yet; return how many. The caller
    owns the transaction (promote.py: one of its own, after the chain-event batches)."""
    conn.execute(_NEW)
    recorded = conn.execute(_INSERT).rowcount
    conn.execute(_REASSIGN_LOTS)
    conn.execute(_REASONS, {"declaration_rule": DECLARATION_RULE,
                            "corrective_rule": CORRECTIVE_RULE})
    conn.execute(_FINDINGS)
    conn.execute(_NOTICES)
    conn.execute("DROP TABLE ft_new_retractions, ft_retraction_reasons")
    return max(recorded, 0)
