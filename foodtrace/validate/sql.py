"""The SQL of validation and promotion, set-based, one batch at a time.

Per batch (one transaction): the batch's keys go to ft_keys; the landing rows are
parsed once into ft_ce / ft_lines (chain events), ft_lab or ft_md (temporary,
dropped at COMMIT); the FRAME queries compute every column the expectations assert,
including the ones that need core (referential waits, lot-code uniqueness, mass
balance); after the decisions are copied into ft_decision, the PROMOTE statements
move the passing rows into core (their findings into core.findings), the refused
ones into landing.quarantine, queue what the senders are told (core.sender_notices),
answer earlier findings the new rows resolve (RESOLVE_*), record
core.processed_messages and take the batch's keys off landing.validation_queue.

Parameters are always bound (%(name)s); lists travel as arrays. The statements
that differ by landing table are composed with psycopg.sql (Identifier); the
table aliases written into the constant text below are part of it, not input.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql as pgsql

from foodtrace.reference import MASS_UNITS_TO_MG_PER_KG


def mg_per_kg(value: str, unit: str, *, convert: str = "{}") -> str:
    """The SQL of `value` (in `unit`) in mg/kg, NULL for any other unit, generated from
    reference.MASS_UNITS_TO_MG_PER_KG (the factors alerts/limits.py uses): a factor
    1/n is a division by n, exact in numeric. `convert` wraps each converted value.
    The unit names are quoted as SQL literals (pgsql.Literal): this text is part of
    constant statements built at import, where nothing can be bound."""
    whens = []
    for name, factor in MASS_UNITS_TO_MG_PER_KG.items():
        if factor == 1:
            expr = value
        else:
            divisor = 1 / factor
            assert divisor == divisor.to_integral_value(), name
            expr = convert.format(f"{value} / {divisor:f}")
        whens.append(f"WHEN {pgsql.Literal(name).as_string()} THEN {expr}")
    return f"CASE {unit} {' '.join(whens)} END"


def _table(name: str) -> pgsql.Identifier:
    """A schema-qualified table name ("landing.chain_events") as an identifier."""
    return pgsql.Identifier(*name.split("."))


# --- the run's snapshot of the queue ------------------------------------------------

_DROP_ORPHANS = """
DELETE FROM landing.validation_queue q
WHERE q.kind = %(kind)s
  AND NOT EXISTS (SELECT 1 FROM {table} l WHERE l.message_id = q.message_id)"""


def drop_orphans(table: str) -> pgsql.Composed:
    """Queue rows of a kind whose row in landing `table` is gone."""
    return pgsql.SQL(_DROP_ORPHANS).format(table=_table(table))


# Chain events in event-time order, so a shipping is validated before the
# receiving that matches it and a lot's creation before its first shipment.
_SNAPSHOT = """
CREATE TEMP TABLE ft_snapshot ON COMMIT PRESERVE ROWS AS
SELECT row_number() OVER (ORDER BY {order_by})::integer AS ord, q.message_id
FROM landing.validation_queue q
JOIN {table} l ON l.message_id = q.message_id
WHERE q.kind = %(kind)s"""


def snapshot(table: str, order_by: str) -> pgsql.Composed:
    """The queued rows of landing `table`, numbered in the order `order_by` (an
    expression over its rows `l`, a constant of kinds.py)."""
    return pgsql.SQL(_SNAPSHOT).format(order_by=pgsql.SQL(order_by), table=_table(table))


SNAPSHOT_INDEX = "CREATE UNIQUE INDEX ON ft_snapshot (ord)"
DROP_SNAPSHOT = "DROP TABLE IF EXISTS ft_snapshot"

BATCH_KEYS = """
CREATE TEMP TABLE ft_keys ON COMMIT DROP AS
SELECT message_id, ord FROM ft_snapshot WHERE ord > %(lo)s AND ord <= %(hi)s"""

DECISIONS_TABLE = """
CREATE TEMP TABLE ft_decision (
    message_id uuid PRIMARY KEY,
    outcome    text NOT NULL,
    reasons    jsonb NOT NULL
) ON COMMIT DROP"""

# Repair: queue every landing row that validation never decided about.
_REQUEUE = """
INSERT INTO landing.validation_queue (kind, message_id)
SELECT %(kind)s, l.message_id FROM {table} l
WHERE NOT EXISTS (SELECT 1 FROM core.processed_messages pm
                  WHERE pm.kind = %(kind)s AND pm.message_id = l.message_id)
ON CONFLICT DO NOTHING"""


def requeue(table: str) -> pgsql.Composed:
    return pgsql.SQL(_REQUEUE).format(table=_table(table))


def analyze(tables: Sequence[str]) -> pgsql.Composed:
    """ANALYZE of schema-qualified `tables`."""
    return pgsql.SQL("ANALYZE {}").format(pgsql.SQL(", ").join(_table(t) for t in tables))

# --- chain events ----------------------------------------------------------------------

STAGE_CHAIN = (
    """
CREATE TEMP TABLE ft_ce ON COMMIT DROP AS
SELECT l.message_id, l.ingest_seq, l.actor_id, l.topic, l.received_at, l.source_document_id,
       l.payload,
       l.payload->>'event_type' AS event_type,
       l.payload->>'event_time' AS event_time_raw,
       ops.try_timestamptz(l.payload->>'event_time') AS event_time,
       nullif(l.payload->>'location_id', '') AS location_id,
       nullif(l.payload->>'source_location_id', '') AS source_location_id,
       nullif(l.payload->>'destination_location_id', '') AS destination_location_id,
       nullif(l.payload->>'tlc_source_location_id', '') AS tlc_source_location_id,
       CASE WHEN jsonb_typeof(l.payload->'kdes') = 'object' THEN l.payload->'kdes'
            ELSE '{}'::jsonb END AS kdes,
       nullif(l.payload #>> '{reference_document,type}', '') AS ref_type,
       nullif(l.payload #>> '{reference_document,number}', '') AS ref_number
FROM ft_keys k JOIN landing.chain_events l ON l.message_id = k.message_id""",
    """
CREATE TEMP TABLE ft_lines ON COMMIT DROP AS
SELECT e.message_id, e.event_time, e.event_type, e.location_id, e.source_location_id,
       e.destination_location_id, r.role, (x.ord - 1)::integer AS position,
       nullif(x.line->>'lot_code', '') AS lot_code,
       nullif(x.line->>'product_code', '') AS product_code,
       ops.try_numeric(x.line->'quantity') AS quantity,
       x.line->>'unit' AS unit,
       CASE x.line->>'unit' WHEN 'kg' THEN ops.try_numeric(x.line->'quantity')
                            WHEN 't' THEN ops.try_numeric(x.line->'quantity') * 1000 END AS qty_kg
FROM ft_ce e
CROSS JOIN (VALUES ('lot', 'lots'), ('input', 'inputs'), ('output', 'outputs')) r(role, key)
CROSS JOIN LATERAL jsonb_array_elements(
    CASE WHEN jsonb_typeof(e.payload->r.key) = 'array' THEN e.payload->r.key
         ELSE '[]'::jsonb END) WITH ORDINALITY x(line, ord)""",
    "CREATE INDEX ON ft_lines (lot_code)",
    # temporary tables get no autovacuum statistics; the payload column is left out
    "ANALYZE ft_ce (message_id, event_type, location_id, event_time)",
    "ANALYZE ft_lines",
)


def _creates(alias: str = "") -> str:
    """Lines that create a lot: harvesting / first land-based receiving, transformation outputs."""
    a = f"{alias}." if alias else ""
    return (
        f"(({a}event_type IN ('harvesting', 'first_receiving') AND {a}role = 'lot')"
        f" OR ({a}event_type = 'transformation' AND {a}role = 'output'))"
    )


_CREATES = _creates()


def _live(alias: str) -> str:
    """The row's event was not retracted (EPCIS errorDeclaration, core.retractions):
    a retracted event is no reference for other events (a shipping a receiving
    matches, a quantity in the mass balance, the event that assigned a lot code)."""
    return f"NOT EXISTS (SELECT 1 FROM core.retractions rx WHERE rx.message_id = {alias}.message_id)"

FRAME_CHAIN = f"""
WITH stats AS (
    SELECT message_id,
           count(*) FILTER (WHERE role = 'lot') AS n_lots,
           count(*) FILTER (WHERE role = 'input') AS n_inputs,
           count(*) FILTER (WHERE role = 'output') AS n_outputs,
           bool_and(lot_code IS NOT NULL) FILTER (WHERE role = 'lot') AS lots_tlc,
           bool_and(coalesce(quantity > 0 AND unit = ANY(%(units)s), false))
               FILTER (WHERE role = 'lot') AS lots_qty,
           bool_and(product_code IS NOT NULL) FILTER (WHERE role = 'lot') AS lots_product,
           bool_and(lot_code IS NOT NULL) FILTER (WHERE role = 'input') AS inputs_tlc,
           bool_and(coalesce(quantity > 0 AND unit = ANY(%(units)s), false))
               FILTER (WHERE role = 'input') AS inputs_qty,
           bool_and(product_code IS NOT NULL) FILTER (WHERE role = 'input') AS inputs_product,
           bool_and(lot_code IS NOT NULL) FILTER (WHERE role = 'output') AS outputs_tlc,
           bool_and(coalesce(quantity > 0 AND unit = ANY(%(units)s), false))
               FILTER (WHERE role = 'output') AS outputs_qty,
           bool_and(product_code IS NOT NULL) FILTER (WHERE role = 'output') AS outputs_product,
           sum(qty_kg) FILTER (WHERE role = 'input') AS inputs_kg,
           bool_and(qty_kg IS NOT NULL) FILTER (WHERE role = 'input') AS inputs_mass,
           sum(qty_kg) FILTER (WHERE role = 'output') AS outputs_kg,
           bool_and(qty_kg IS NOT NULL) FILTER (WHERE role = 'output') AS outputs_mass
    FROM ft_lines GROUP BY message_id
),
first_category AS (
    SELECT DISTINCT ON (l.message_id) l.message_id, p.category
    FROM ft_lines l JOIN core.products p ON p.product_code = l.product_code
    WHERE l.role = 'lot'
    ORDER BY l.message_id, l.position
),
unknown_product AS (
    SELECT DISTINCT ON (l.message_id) l.message_id, l.product_code
    FROM ft_lines l
    WHERE l.product_code IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM core.products p WHERE p.product_code = l.product_code)
    ORDER BY l.message_id, l.role, l.position
),
-- A receiving matches a shipping of the same lot from its source to this location,
-- promoted earlier or in this batch.
unmatched AS (
    SELECT DISTINCT ON (r.message_id) r.message_id, r.lot_code
    FROM ft_lines r
    -- LATERAL + LIMIT 1: index lookups per receiving line, whatever the (possibly
    -- stale, right after a big promotion) statistics of core make the planner think
    LEFT JOIN LATERAL (
        SELECT 1 AS found
        FROM core.event_lots el
        JOIN core.events e ON e.message_id = el.message_id AND e.event_time = el.event_time
        WHERE el.lot_code = r.lot_code AND el.role = 'lot' AND e.event_type = 'shipping'
          AND e.location_id = r.source_location_id
          AND e.destination_location_id = r.location_id AND {_live("e")}
        LIMIT 1
    ) promoted_match ON true
    WHERE r.event_type = 'receiving' AND r.role = 'lot' AND r.lot_code IS NOT NULL
      AND promoted_match.found IS NULL
      AND NOT EXISTS (
          SELECT 1 FROM ft_lines s
          WHERE s.lot_code = r.lot_code AND s.role = 'lot' AND s.event_type = 'shipping'
            AND s.location_id = r.source_location_id
            AND s.destination_location_id = r.location_id AND {_live("s")})
    ORDER BY r.message_id, r.position
),
-- A receiving dated well before the earliest shipping it matches (a time anomaly).
early_receipt AS (
    SELECT DISTINCT ON (r.message_id) r.message_id, r.lot_code, m.shipped_at
    FROM ft_lines r
    CROSS JOIN LATERAL (
        SELECT min(x.t) AS shipped_at FROM (
            SELECT e.event_time AS t
            FROM core.event_lots el
            JOIN core.events e ON e.message_id = el.message_id AND e.event_time = el.event_time
            WHERE el.lot_code = r.lot_code AND el.role = 'lot' AND e.event_type = 'shipping'
              AND e.location_id = r.source_location_id
              AND e.destination_location_id = r.location_id AND {_live("e")}
            UNION ALL
            SELECT s.event_time FROM ft_lines s
            WHERE s.lot_code = r.lot_code AND s.role = 'lot' AND s.event_type = 'shipping'
              AND s.location_id = r.source_location_id
              AND s.destination_location_id = r.location_id AND {_live("s")}
        ) x
    ) m
    WHERE r.event_type = 'receiving' AND r.role = 'lot' AND r.lot_code IS NOT NULL
      AND r.event_time < m.shipped_at - make_interval(secs => %(early_tolerance_s)s)
    ORDER BY r.message_id, r.position
),
-- A lot code is assigned once: by an earlier promoted event (an initial packing
-- that stood in for a creation not seen yet does not count), or by an earlier
-- event of this batch.
created AS (
    SELECT message_id, event_time, role, position, lot_code,
           first_value(message_id) OVER (PARTITION BY lot_code
                                         ORDER BY event_time NULLS LAST, message_id) AS first_creator
    FROM ft_lines f WHERE lot_code IS NOT NULL AND {_CREATES} AND {_live("f")}
),
tlc_conflict AS (
    SELECT DISTINCT ON (c.message_id) c.message_id, c.lot_code
    FROM created c
    WHERE c.first_creator <> c.message_id
       OR EXISTS (SELECT 1 FROM core.lots k
                  JOIN core.events ke ON ke.message_id = k.created_by_message_id
                  WHERE k.lot_code = c.lot_code AND k.created_by_message_id <> c.message_id
                    AND ke.event_type <> 'initial_packing' AND {_live("ke")})
    ORDER BY c.message_id, c.role, c.position
),
-- Mass balance of shipments: per (lot, ship-from location), what arrived there
-- (created there or received) against everything shipped from there so far.
shipped_keys AS (
    SELECT DISTINCT lot_code, location_id FROM ft_lines
    WHERE event_type = 'shipping' AND role = 'lot' AND lot_code IS NOT NULL
      AND location_id IS NOT NULL AND event_time IS NOT NULL
),
moves AS (
    SELECT el.lot_code, e.location_id, e.event_time, e.message_id, el.position,
           e.event_type = 'shipping' AS outbound, false AS in_batch,
           CASE el.unit WHEN 'kg' THEN el.quantity WHEN 't' THEN el.quantity * 1000 END AS qty_kg
    FROM shipped_keys k
    JOIN core.event_lots el ON el.lot_code = k.lot_code
    JOIN core.events e ON e.message_id = el.message_id AND e.event_time = el.event_time
                      AND e.location_id = k.location_id
    WHERE ((el.role = 'lot' AND e.event_type IN ('harvesting', 'first_receiving', 'receiving',
                                                 'shipping'))
           OR (el.role = 'output' AND e.event_type = 'transformation'))
      AND {_live("e")}
    UNION ALL
    SELECT b.lot_code, b.location_id, b.event_time, b.message_id, b.position,
           b.event_type = 'shipping', true, b.qty_kg
    FROM ft_lines b
    JOIN shipped_keys k ON k.lot_code = b.lot_code AND k.location_id = b.location_id
    WHERE b.event_time IS NOT NULL
      AND ((b.role = 'lot' AND b.event_type IN ('harvesting', 'first_receiving', 'receiving',
                                                'shipping'))
           OR (b.role = 'output' AND b.event_type = 'transformation'))
      AND NOT EXISTS (SELECT 1 FROM core.events ce WHERE ce.message_id = b.message_id)
      AND {_live("b")}
),
ledger AS (
    SELECT m.*,
           sum(CASE WHEN NOT m.outbound THEN m.qty_kg ELSE 0 END) OVER w AS arrived_kg,
           sum(CASE WHEN m.outbound THEN m.qty_kg ELSE 0 END) OVER w AS shipped_kg,
           bool_and(m.qty_kg IS NOT NULL) OVER (PARTITION BY m.lot_code, m.location_id) AS all_mass
    FROM moves m
    WINDOW w AS (PARTITION BY m.lot_code, m.location_id
                 ORDER BY m.event_time, m.outbound, m.message_id, m.position
                 ROWS UNBOUNDED PRECEDING)
),
overshipped AS (
    SELECT DISTINCT ON (g.message_id) g.message_id, g.lot_code,
           g.arrived_kg, g.shipped_kg, g.shipped_kg / g.arrived_kg AS ratio
    FROM ledger g
    WHERE g.in_batch AND g.outbound AND g.all_mass AND g.arrived_kg > 0
    ORDER BY g.message_id, g.shipped_kg / g.arrived_kg DESC
)
SELECT e.message_id::text AS message_id,
       e.event_type,
       e.event_time_raw,
       e.event_time AS event_time_utc,
       extract(epoch FROM e.event_time - %(now)s)::float8 AS seconds_in_future,
       e.location_id,
       e.source_location_id,
       e.destination_location_id,
       coalesce(e.tlc_source_location_id, nullif(e.kdes->>'tlc_source_reference', ''))
           AS tlc_source,
       coalesce(nullif(e.kdes->>'immediate_subsequent_recipient_location_id', ''),
                e.destination_location_id) AS next_recipient,
       coalesce(nullif(e.kdes->>'harvest_location_id', ''), e.tlc_source_location_id)
           AS harvest_farm,
       nullif(e.kdes->>'harvest_date', '') AS harvest_date,
       CASE WHEN fc.category = ANY(%(produce)s)
            THEN coalesce(nullif(e.kdes->>'field_id', ''), nullif(e.kdes->>'growing_area', ''))
            ELSE 'not applicable' END AS field_kde,
       CASE WHEN fc.category = ANY(%(aquatic)s) THEN nullif(e.kdes->>'container_id', '')
            ELSE 'not applicable' END AS container_kde,
       CASE WHEN e.kdes ? 'harvest_date_range' AND nullif(e.kdes->>'harvest_area', '') IS NOT NULL
            THEN 'present' END AS catch_kde,
       CASE WHEN e.ref_type IS NOT NULL AND e.ref_number IS NOT NULL
            THEN e.ref_type || ' ' || e.ref_number END AS reference_document,
       CASE WHEN s.n_lots > 0 AND s.lots_tlc THEN 'present' END AS lots_tlc,
       CASE WHEN s.n_lots > 0 AND s.lots_qty THEN 'present' END AS lots_qty,
       CASE WHEN s.n_lots > 0 AND s.lots_product THEN 'present' END AS lots_product,
       CASE WHEN s.n_inputs > 0 AND s.inputs_tlc THEN 'present' END AS inputs_tlc,
       CASE WHEN s.n_inputs > 0 AND s.inputs_qty THEN 'present' END AS inputs_qty,
       CASE WHEN s.n_inputs > 0 AND s.inputs_product THEN 'present' END AS inputs_product,
       CASE WHEN s.n_outputs > 0 AND s.outputs_tlc THEN 'present' END AS outputs_tlc,
       CASE WHEN s.n_outputs > 0 AND s.outputs_qty THEN 'present' END AS outputs_qty,
       CASE WHEN s.n_outputs > 0 AND s.outputs_product THEN 'present' END AS outputs_product,
       CASE WHEN e.event_type = 'transformation' AND coalesce(s.n_lots, 0) > 0 THEN 'lots'
            WHEN e.event_type <> 'transformation'
                 AND coalesce(s.n_inputs, 0) + coalesce(s.n_outputs, 0) > 0 THEN 'inputs/outputs'
       END AS misplaced_lines,
       s.inputs_kg::float8 AS inputs_kg,
       s.outputs_kg::float8 AS outputs_kg,
       CASE WHEN e.event_type = 'transformation' AND s.inputs_mass AND s.outputs_mass
                 AND s.inputs_kg > 0
            THEN (s.outputs_kg / s.inputs_kg)::float8 END AS transformation_yield,
       os.lot_code AS overshipped_lot,
       os.arrived_kg::float8 AS available_kg,
       os.shipped_kg::float8 AS shipped_kg,
       os.ratio::float8 AS shipped_ratio,
       tc.lot_code AS tlc_conflict_lot,
       CASE WHEN e.location_id IS NOT NULL
                 AND NOT EXISTS (SELECT 1 FROM core.locations c WHERE c.location_id = e.location_id)
            THEN e.location_id END AS unknown_location,
       up.product_code AS unknown_product,
       um.lot_code AS unmatched_lot,
       er.lot_code AS early_receipt_lot,
       er.shipped_at AS matched_shipped_at,
       CASE WHEN jsonb_typeof(e.kdes->'epcis_findings') = 'array'
                 AND jsonb_array_length(e.kdes->'epcis_findings') > 0
            THEN (SELECT string_agg(f, '; ') FROM jsonb_array_elements_text(
                      e.kdes->'epcis_findings') f) END AS epcis_mapping_note
FROM ft_ce e
LEFT JOIN stats s ON s.message_id = e.message_id
LEFT JOIN first_category fc ON fc.message_id = e.message_id
LEFT JOIN unknown_product up ON up.message_id = e.message_id
LEFT JOIN unmatched um ON um.message_id = e.message_id
LEFT JOIN tlc_conflict tc ON tc.message_id = e.message_id
LEFT JOIN overshipped os ON os.message_id = e.message_id
LEFT JOIN early_receipt er ON er.message_id = e.message_id
WHERE NOT (e.message_id = ANY(%(excluded)s::uuid[]))
  AND (%(only)s::uuid[] IS NULL OR e.message_id = ANY(%(only)s::uuid[]))
"""

# The rows whose in-batch references may change when `ids` are excluded: the
# references (matching shipping, lot-code assignment, quantities) all go by lot code.
RELATED_CHAIN = """
SELECT DISTINCT l.message_id::text FROM ft_lines l
WHERE l.lot_code IN (SELECT q.lot_code FROM ft_lines q
                     WHERE q.message_id = ANY(%(ids)s::uuid[]) AND q.lot_code IS NOT NULL)
  AND NOT (l.message_id = ANY(%(ids)s::uuid[]))"""

# Rows of the batch that will not be promoted stop counting as in-batch references
# (a quarantined shipping neither matches a receiving nor uses up a lot's quantity);
# the frame is then computed again for the rest.
EXCLUDE_CHAIN = "DELETE FROM ft_lines WHERE message_id = ANY(%(ids)s::uuid[])"

_PROMOTED = "JOIN ft_decision d ON d.message_id = {alias}.message_id AND d.outcome = 'promoted'"

PROMOTE_CHAIN = (
    f"""
INSERT INTO core.events (message_id, event_time, actor_id, event_type, location_id,
                         source_location_id, destination_location_id, tlc_source_location_id,
                         reference_document_type, reference_document_number, kdes,
                         source_document_id, event_time_offset)
SELECT e.message_id, e.event_time, e.actor_id, e.event_type, e.location_id,
       e.source_location_id, e.destination_location_id, e.tlc_source_location_id,
       e.ref_type, e.ref_number, e.kdes, e.source_document_id,
       -- the offset as sent: the FDA export dates an event as its place recorded it
       substring(e.event_time_raw FROM '(Z|z|[+-][0-9]{{2}}:[0-9]{{2}})$')
FROM ft_ce e {_PROMOTED.format(alias="e")}
ON CONFLICT DO NOTHING""",
    f"""
INSERT INTO core.event_lots (message_id, event_time, role, position, lot_code, product_code,
                             quantity, unit)
SELECT l.message_id, l.event_time, l.role, l.position, l.lot_code, l.product_code,
       l.quantity, l.unit
FROM ft_lines l {_PROMOTED.format(alias="l")}
ON CONFLICT DO NOTHING""",
    # The event that assigned a lot code creates its row; it also takes over a row
    # made earlier for a lot first seen elsewhere, or by an initial packing.
    f"""
INSERT INTO core.lots (lot_code, product_code, tlc_source_location_id, created_by_message_id,
                       created_at, quantity, unit)
SELECT DISTINCT ON (l.lot_code) l.lot_code, l.product_code,
       coalesce(e.tlc_source_location_id, e.location_id), l.message_id, l.event_time,
       l.quantity, l.unit
FROM ft_lines l {_PROMOTED.format(alias="l")}
JOIN ft_ce e ON e.message_id = l.message_id
WHERE l.lot_code IS NOT NULL AND {_creates("l")} AND {_live("l")}
ORDER BY l.lot_code, l.event_time, l.message_id
ON CONFLICT (lot_code) DO UPDATE SET
    product_code = EXCLUDED.product_code,
    tlc_source_location_id = EXCLUDED.tlc_source_location_id,
    created_by_message_id = EXCLUDED.created_by_message_id,
    created_at = EXCLUDED.created_at,
    quantity = EXCLUDED.quantity,
    unit = EXCLUDED.unit
WHERE core.lots.created_by_message_id IS NULL
   OR EXISTS (SELECT 1 FROM core.events pe
              WHERE pe.message_id = core.lots.created_by_message_id
                AND pe.event_type = 'initial_packing')
   OR EXISTS (SELECT 1 FROM core.retractions rx
              WHERE rx.message_id = core.lots.created_by_message_id)""",
    # An initial packing assigns the code when nobody did before (21 CFR 1.1320(a)).
    f"""
INSERT INTO core.lots (lot_code, product_code, tlc_source_location_id, created_by_message_id,
                       created_at, quantity, unit)
SELECT DISTINCT ON (l.lot_code) l.lot_code, l.product_code,
       coalesce(e.tlc_source_location_id, e.location_id), l.message_id, l.event_time,
       l.quantity, l.unit
FROM ft_lines l {_PROMOTED.format(alias="l")}
JOIN ft_ce e ON e.message_id = l.message_id
WHERE l.lot_code IS NOT NULL AND l.event_type = 'initial_packing' AND l.role = 'lot'
  AND {_live("l")}
ORDER BY l.lot_code, l.event_time, l.message_id
ON CONFLICT (lot_code) DO NOTHING""",
    # Lots first seen elsewhere (their creation is not on record) still get a row.
    f"""
INSERT INTO core.lots (lot_code, product_code, tlc_source_location_id)
SELECT DISTINCT ON (l.lot_code) l.lot_code, l.product_code, e.tlc_source_location_id
FROM ft_lines l {_PROMOTED.format(alias="l")}
JOIN ft_ce e ON e.message_id = l.message_id
WHERE l.lot_code IS NOT NULL AND l.product_code IS NOT NULL
ORDER BY l.lot_code, l.event_time, l.message_id
ON CONFLICT (lot_code) DO NOTHING""",
)

# --- lab results -----------------------------------------------------------------------

STAGE_LAB = (
    """
CREATE TEMP TABLE ft_lab ON COMMIT DROP AS
SELECT l.message_id, l.lab_id, l.topic, l.received_at, l.payload,
       nullif(p->>'sample_id', '') AS sample_id,
       nullif(p->>'lot_code', '') AS lot_code,
       nullif(p->>'sampled_location_id', '') AS sampled_location_id,
       p->>'test_kind' AS test_kind,
       nullif(p->>'method', '') AS method,
       p->>'analyte' AS analyte,
       ops.try_numeric(p->'value') AS value,
       p->>'unit' AS unit,
       p->>'result' AS result,
       nullif(p->>'product_code', '') AS product_code,
       p->>'operator' AS operator,
       p->>'instrument' AS instrument,
       p->>'sampled_at' AS sampled_at_raw,
       ops.try_timestamptz(p->>'sampled_at') AS sampled_at,
       p->>'tested_at' AS tested_at_raw,
       ops.try_timestamptz(p->>'tested_at') AS tested_at
FROM ft_keys k
JOIN landing.lab_results l ON l.message_id = k.message_id
CROSS JOIN LATERAL (SELECT l.payload AS p) x""",
    "ANALYZE ft_lab (message_id, lot_code, sampled_location_id, analyte)",
)

FRAME_LAB = f"""
SELECT b.message_id::text AS message_id,
       b.sample_id, b.lot_code, b.sampled_location_id, b.test_kind, b.method, b.analyte,
       b.value::float8 AS value, b.unit, b.result,
       CASE WHEN b.value IS NOT NULL THEN 'yes' ELSE 'no' END AS value_present,
       b.sampled_at_raw, b.sampled_at AS sampled_at_utc,
       b.tested_at_raw, b.tested_at AS tested_at_utc,
       extract(epoch FROM b.tested_at - %(now)s)::float8 AS tested_in_future_s,
       extract(epoch FROM b.sampled_at - %(now)s)::float8 AS sampled_in_future_s,
       CASE WHEN b.unit = '%%' AND NOT coalesce(b.analyte = ANY(%(percent_analytes)s), false)
            THEN b.unit END AS unit_mismatch,
       cap.cap AS cap_mg_per_kg,
       ({mg_per_kg("b.value", "b.unit")}
        / cap.cap)::float8 AS value_cap_ratio,
       CASE WHEN b.lot_code IS NOT NULL AND lot.lot_code IS NULL THEN b.lot_code END AS unknown_lot,
       CASE WHEN b.sampled_location_id IS NOT NULL AND loc.location_id IS NULL
            THEN b.sampled_location_id END AS unknown_location,
       CASE WHEN coalesce(b.product_code, lot.product_code) IS NOT NULL
                 AND prod.product_code IS NULL
            THEN coalesce(b.product_code, lot.product_code) END AS unknown_product
FROM ft_lab b
LEFT JOIN core.lots lot ON lot.lot_code = b.lot_code
LEFT JOIN core.locations loc ON loc.location_id = b.sampled_location_id
LEFT JOIN core.products prod ON prod.product_code = coalesce(b.product_code, lot.product_code)
LEFT JOIN unnest(%(cap_analytes)s::text[], %(cap_values)s::numeric[]) cap(analyte, cap)
       ON cap.analyte = b.analyte
"""

PROMOTE_LAB = (
    f"""
INSERT INTO core.lab_results (message_id, tested_at, lab_id, sample_id, lot_code, product_code,
                              sampled_at, sampled_location_id, test_kind, method, analyte, value,
                              unit, value_mg_per_kg, result, operator, instrument)
SELECT b.message_id, b.tested_at, b.lab_id, b.sample_id, b.lot_code,
       coalesce(b.product_code, lot.product_code), b.sampled_at, b.sampled_location_id,
       b.test_kind, b.method, b.analyte, b.value, b.unit,
       {mg_per_kg("b.value", "b.unit", convert="trim_scale({})")},
       b.result, b.operator, b.instrument
FROM ft_lab b {_PROMOTED.format(alias="b")}
LEFT JOIN core.lots lot ON lot.lot_code = b.lot_code
ON CONFLICT DO NOTHING""",
)

# --- master data -----------------------------------------------------------------------

STAGE_MASTER = (
    """
CREATE TEMP TABLE ft_md ON COMMIT DROP AS
SELECT l.message_id, l.ingest_seq, l.kind, l.natural_key, l.topic, l.received_at, l.payload
FROM ft_keys k JOIN landing.master_data l ON l.message_id = k.message_id""",
)

FRAME_LOCATIONS = """
SELECT m.message_id::text AS message_id,
       nullif(m.payload->>'location_id', '') AS location_id,
       nullif(m.payload->>'name', '') AS name,
       m.payload->>'kind' AS kind,
       m.payload->>'city' AS city,
       ops.try_numeric(m.payload->'lat')::float8 AS lat,
       ops.try_numeric(m.payload->'lon')::float8 AS lon
FROM ft_md m WHERE m.kind = 'location'
"""

FRAME_PRODUCTS = """
SELECT m.message_id::text AS message_id,
       nullif(m.payload->>'product_code', '') AS product_code,
       nullif(m.payload->>'name', '') AS name,
       nullif(m.payload->>'category', '') AS category,
       CASE WHEN nullif(m.payload->>'category', '') IS NOT NULL
                 AND NOT m.payload->>'category' = ANY(%(categories)s)
                 AND NOT EXISTS (SELECT 1 FROM core.food_categories c
                                 WHERE c.category = m.payload->>'category')
            THEN m.payload->>'category' END AS unknown_category
FROM ft_md m WHERE m.kind = 'product'
"""

# Latest message per key wins (by ingest_seq), also against what core already has:
# a message that commits late with an older ingest_seq does not overwrite a newer one.
PROMOTE_MASTER = (
    f"""
WITH latest AS (
    SELECT DISTINCT ON (m.natural_key) m.natural_key, m.message_id, m.ingest_seq, m.payload
    FROM ft_md m {_PROMOTED.format(alias="m")}
    WHERE m.kind = 'location'
    ORDER BY m.natural_key, m.ingest_seq DESC
)
INSERT INTO core.locations (location_id, name, kind, city, lat, lon, message_id, updated_at,
                            business_name, address, postal_code, phone, country)
SELECT l.natural_key, l.payload->>'name', l.payload->>'kind', l.payload->>'city',
       ops.try_numeric(l.payload->'lat')::float8, ops.try_numeric(l.payload->'lon')::float8,
       l.message_id, now(), l.payload->>'business_name', l.payload->>'address',
       l.payload->>'postal_code', l.payload->>'phone', l.payload->>'country'
FROM latest l
LEFT JOIN core.locations c ON c.location_id = l.natural_key
LEFT JOIN landing.master_data cur ON cur.message_id = c.message_id
WHERE c.location_id IS NULL OR cur.ingest_seq IS NULL OR cur.ingest_seq < l.ingest_seq
ON CONFLICT (location_id) DO UPDATE SET
    name = EXCLUDED.name, kind = EXCLUDED.kind, city = EXCLUDED.city, lat = EXCLUDED.lat,
    lon = EXCLUDED.lon, message_id = EXCLUDED.message_id, updated_at = EXCLUDED.updated_at,
    business_name = EXCLUDED.business_name, address = EXCLUDED.address,
    postal_code = EXCLUDED.postal_code, phone = EXCLUDED.phone, country = EXCLUDED.country""",
    f"""
WITH latest AS (
    SELECT DISTINCT ON (m.natural_key) m.natural_key, m.message_id, m.ingest_seq, m.payload
    FROM ft_md m {_PROMOTED.format(alias="m")}
    WHERE m.kind = 'product'
    ORDER BY m.natural_key, m.ingest_seq DESC
)
INSERT INTO core.products (product_code, name, category, message_id, updated_at,
                           brand, commodity, variety, pack_size, pack_style)
SELECT l.natural_key, l.payload->>'name', l.payload->>'category', l.message_id, now(),
       l.payload->>'brand', l.payload->>'commodity', l.payload->>'variety',
       l.payload->>'pack_size', l.payload->>'pack_style'
FROM latest l
LEFT JOIN core.products c ON c.product_code = l.natural_key
LEFT JOIN landing.master_data cur ON cur.message_id = c.message_id
WHERE c.product_code IS NULL OR cur.ingest_seq IS NULL OR cur.ingest_seq < l.ingest_seq
ON CONFLICT (product_code) DO UPDATE SET
    name = EXCLUDED.name, category = EXCLUDED.category, message_id = EXCLUDED.message_id,
    updated_at = EXCLUDED.updated_at, brand = EXCLUDED.brand, commodity = EXCLUDED.commodity,
    variety = EXCLUDED.variety, pack_size = EXCLUDED.pack_size,
    pack_style = EXCLUDED.pack_style""",
)

# --- what every kind does with its decisions ------------------------------------------

# The staged rows of each kind, in one shape: the sender (NULL for master data,
# which comes from the registry), what and when, where it came from, the payload.
STAGED: dict[str, str] = {
    "chain_event": "SELECT message_id, actor_id AS sender_id, event_type, event_time, topic, "
    "received_at, payload FROM ft_ce",
    "lab_result": "SELECT message_id, lab_id AS sender_id, 'lab_result'::text AS event_type, "
    "tested_at AS event_time, topic, received_at, payload FROM ft_lab",
    "master_data": "SELECT message_id, NULL::text AS sender_id, kind AS event_type, "
    "NULL::timestamptz AS event_time, topic, received_at, payload FROM ft_md",
}

_QUARANTINE = """
INSERT INTO landing.quarantine (dedup_key, stage, received_at, topic, sender_id, message_id,
                                element_index, raw, reasons)
SELECT sha256(convert_to('validation:' || %(kind)s || ':' || s.message_id::text, 'UTF8')),
       'validation', s.received_at, s.topic, s.sender_id, s.message_id, NULL,
       convert_to(s.payload::text, 'UTF8'), d.reasons
FROM ({staged}) s JOIN ft_decision d ON d.message_id = s.message_id AND d.outcome = 'quarantined'
ON CONFLICT DO NOTHING"""

# A promoted row's reasons are its findings (decide.reason() gives their shape).
_FINDINGS = """
INSERT INTO core.findings (kind, message_id, sender_id, event_type, event_time, rule, code,
                           severity, cfr_section, message, path, detail)
SELECT %(kind)s, s.message_id, s.sender_id, s.event_type, s.event_time, r->>'rule', r->>'code',
       r->>'severity', r->>'cfr_section', r->>'message', r->>'path',
       CASE WHEN r ? 'value' THEN jsonb_build_object('value', r->'value') ELSE '{{}}'::jsonb END
FROM ({staged}) s
JOIN ft_decision d ON d.message_id = s.message_id AND d.outcome = 'promoted'
CROSS JOIN LATERAL jsonb_array_elements(d.reasons) r
ON CONFLICT (message_id, rule) DO NOTHING"""

# Spec 2.4: a rejection, or a stored message's findings, told once per message.
_NOTICES = """
INSERT INTO core.sender_notices (kind, message_id, stage, sender_id, topic, stored, body)
SELECT %(kind)s, s.message_id, 'validation', s.sender_id, s.topic, d.outcome = 'promoted',
       jsonb_build_object('message_id', s.message_id::text, 'stage', 'validation',
                          'stored', d.outcome = 'promoted', 'reasons', d.reasons,
                          'topic', s.topic, 'received_at', s.received_at)
FROM ({staged}) s JOIN ft_decision d ON d.message_id = s.message_id
WHERE jsonb_array_length(d.reasons) > 0
ON CONFLICT (message_id, stage) DO NOTHING"""



def _per_kind(template: str) -> dict[str, str]:
    """One statement per kind from `template`, over that kind's STAGED rows."""
    return {kind: template.format(staged=staged) for kind, staged in STAGED.items()}


QUARANTINE: dict[str, str] = _per_kind(_QUARANTINE)
FINDINGS: dict[str, str] = _per_kind(_FINDINGS)
NOTICES: dict[str, str] = _per_kind(_NOTICES)

# --- findings a new batch answers ----------------------------------------------------------
# Each looks only at the findings the batch can answer: those of its own rows,
# and those naming what it brought (a lot's creation, a shipping, master data).

_PROMOTED_LINES = (
    "SELECT l.lot_code, l.event_type, l.role, l.location_id, l.destination_location_id "
    "FROM ft_lines l JOIN ft_decision d ON d.message_id = l.message_id AND d.outcome = 'promoted' "
    "WHERE l.lot_code IS NOT NULL"
)

# The TLC source of a shipping or receiving: where the codes of its lots were
# assigned, once the events that assigned them are in.
RESOLVE_TLC_SOURCE = f"""
WITH touched AS (
    SELECT message_id FROM ft_ce
    UNION
    SELECT el.message_id FROM core.event_lots el
    WHERE el.lot_code IN (SELECT n.lot_code FROM ({_PROMOTED_LINES}) n WHERE {_creates("n")})
),
derived AS (
    SELECT f.finding_id,
           string_agg(DISTINCT l.tlc_source_location_id, ' ') AS value,
           bool_and(l.created_by_message_id IS NOT NULL AND l.tlc_source_location_id IS NOT NULL)
               AS known
    FROM core.findings f
    JOIN touched t ON t.message_id = f.message_id
    JOIN core.event_lots el ON el.message_id = f.message_id AND el.role = 'lot'
    LEFT JOIN core.lots l ON l.lot_code = el.lot_code
    WHERE f.resolved_at IS NULL AND f.rule = ANY(%(tlc_rules)s)
    GROUP BY f.finding_id
)
UPDATE core.findings f SET resolved_at = now(), resolution = 'derived', resolved_value = d.value
FROM derived d WHERE f.finding_id = d.finding_id AND d.known"""

# A harvest's (or cooling's) next recipient: the destination of the lot's first
# shipping from that place.
RESOLVE_NEXT_RECIPIENT = f"""
WITH touched AS (
    SELECT message_id FROM ft_ce WHERE event_type IN ('harvesting', 'cooling')
    UNION
    SELECT el.message_id FROM core.event_lots el
    WHERE el.lot_code IN (SELECT n.lot_code FROM ({_PROMOTED_LINES}) n
                          WHERE n.event_type = 'shipping' AND n.role = 'lot')
),
derived AS (
    SELECT DISTINCT ON (f.finding_id) f.finding_id, s.destination_location_id AS value
    FROM core.findings f
    JOIN touched t ON t.message_id = f.message_id
    JOIN core.events h ON h.message_id = f.message_id
    JOIN core.event_lots hl ON hl.message_id = h.message_id AND hl.event_time = h.event_time
                           AND hl.role = 'lot'
    JOIN core.event_lots sl ON sl.lot_code = hl.lot_code AND sl.role = 'lot'
    JOIN core.events s ON s.message_id = sl.message_id AND s.event_time = sl.event_time
                      AND s.event_type = 'shipping' AND s.location_id = h.location_id
                      AND {_live("s")}
    WHERE f.resolved_at IS NULL AND f.rule = ANY(%(recipient_rules)s)
    ORDER BY f.finding_id, s.event_time, s.message_id
)
UPDATE core.findings f SET resolved_at = now(), resolution = 'derived', resolved_value = d.value
FROM derived d WHERE f.finding_id = d.finding_id"""

# A receiving that matched no shipping, once the shipping arrives.
RESOLVE_RECEIVING_MATCH = f"""
UPDATE core.findings f SET resolved_at = now(), resolution = 'reference_arrived',
                           resolved_value = n.location_id
FROM (SELECT l.message_id, l.lot_code, l.event_type, l.role, l.location_id,
             l.destination_location_id
      FROM ft_lines l {_PROMOTED.format(alias="l")}
      WHERE l.lot_code IS NOT NULL) n,
     core.events r
WHERE f.resolved_at IS NULL AND f.rule = 'reference.receiving_matches_shipping'
  AND n.event_type = 'shipping' AND n.role = 'lot' AND f.detail->>'value' = n.lot_code
  AND {_live("n")}
  AND r.message_id = f.message_id AND r.location_id = n.destination_location_id
  AND r.source_location_id = n.location_id"""

# A lab result on a lot no chain event had named, once one does.
RESOLVE_LAB_LOT = f"""
UPDATE core.findings f SET resolved_at = now(), resolution = 'reference_arrived'
WHERE f.resolved_at IS NULL AND f.rule = 'reference.lot_known'
  AND f.detail->>'value' IN (SELECT n.lot_code FROM ({_PROMOTED_LINES}) n)"""

# Locations and products named before their master data arrived.
RESOLVE_MASTER = """
UPDATE core.findings f SET resolved_at = now(), resolution = 'reference_arrived'
FROM ft_md m JOIN ft_decision d ON d.message_id = m.message_id AND d.outcome = 'promoted'
WHERE f.resolved_at IS NULL AND f.detail->>'value' = m.natural_key
  AND ((m.kind = 'location' AND f.rule = ANY(%(location_rules)s))
       OR (m.kind = 'product' AND f.rule = ANY(%(product_rules)s)))"""

RESOLVE_CHAIN: tuple[str, ...] = (
    RESOLVE_TLC_SOURCE,
    RESOLVE_NEXT_RECIPIENT,
    RESOLVE_RECEIVING_MATCH,
    RESOLVE_LAB_LOT,
)

# --- bookkeeping (every kind) ------------------------------------------------------------

MARK_PROCESSED = """
INSERT INTO core.processed_messages (kind, message_id, outcome, reasons, held_since,
                                     processed_at, run_id)
SELECT %(kind)s, d.message_id, d.outcome, d.reasons, NULL, %(now)s, %(run_id)s
FROM ft_decision d
ON CONFLICT (kind, message_id) DO UPDATE SET
    outcome = EXCLUDED.outcome,
    reasons = EXCLUDED.reasons,
    held_since = NULL,
    processed_at = EXCLUDED.processed_at,
    run_id = EXCLUDED.run_id"""

DEQUEUE = """
DELETE FROM landing.validation_queue q
USING ft_decision d
WHERE q.kind = %(kind)s AND q.message_id = d.message_id"""

START_RUN = """
INSERT INTO ops.validation_runs (kind, suite_name, started_at) VALUES (%s, %s, %s)
RETURNING run_id"""

FINISH_RUN = """
UPDATE ops.validation_runs
SET finished_at = %(finished_at)s, rows_checked = %(checked)s, rows_passed = %(passed)s,
    rows_failed = %(failed)s, findings = %(findings)s, success = %(success)s
WHERE run_id = %(run_id)s"""

INSERT_RESULT = """
INSERT INTO ops.validation_results (run_id, rule, expectation, column_name, cfr_section,
                                    on_failure, success, element_count, unexpected_count,
                                    sample_message_ids)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::uuid[])
ON CONFLICT (run_id, rule) DO NOTHING"""

SET_REPORT_PATH = "UPDATE ops.validation_runs SET report_path = %s WHERE run_id = ANY(%s)"
