-- The lot graph and the trace functions: the ONE home of trace logic.
--
-- foodtrace.trace.link.link() derives these tables from promoted core.events /
-- core.event_lots (and core.lab_results for where a lot was sampled). The CLI,
-- the alerts engine and Grafana all trace through the functions at the end of
-- this file; nothing else walks the graph.

-- "Lot A went into lot B": one row per (input, output) pair of a transformation
-- event. A transformation with 3 inputs and 2 outputs gives 6 edges: each output
-- really was made from each input (a graph edge, not a spreadsheet row).
CREATE TABLE core.lot_edges (
    parent_lot      text NOT NULL,                 -- the input lot
    child_lot       text NOT NULL,                 -- the output lot
    message_id      uuid NOT NULL,                 -- the transformation event
    event_time      timestamptz NOT NULL,
    location_id     text NOT NULL,                 -- where the transformation happened
    input_quantity  numeric,                       -- of parent_lot used by the event
    input_unit      text,
    output_quantity numeric,                       -- of child_lot made by the event
    output_unit     text,
    linked_at       timestamptz NOT NULL DEFAULT now(),
    -- Re-linking the same event inserts nothing (ON CONFLICT DO NOTHING).
    -- Leading parent_lot: the downstream walk is an index-only scan of this key.
    PRIMARY KEY (parent_lot, child_lot, message_id)
);
-- The upstream walk: index-only scan from child to parents.
CREATE INDEX lot_edges_child_idx ON core.lot_edges (child_lot, parent_lot);

-- "Where a lot went": every location that shipped, received, held, transformed,
-- sold or sampled it, with the quantity at that location, one row per
-- (lot, event, role, location).
CREATE TABLE core.lot_locations (
    lot_code                 text NOT NULL,
    location_id              text NOT NULL,
    role                     text NOT NULL CHECK (role IN (
                               'created',           -- harvesting: the lot code was assigned here
                               'cooled',            -- cooling
                               'packed',            -- initial_packing
                               'shipped_from',      -- shipping: at the shipper
                               'shipped_to',        -- shipping: at the destination it was sent to
                               'received',          -- receiving and first_receiving
                               'transformed_into',  -- transformation input: consumed here
                               'transformed_from',  -- transformation output: made here
                               'sold',              -- sale
                               'sampled')),         -- a lab / rapid-test sample was taken here
    message_id               uuid NOT NULL,         -- the chain event or lab result
    event_time               timestamptz NOT NULL,  -- UTC; sampled_at for samples
    event_type               text NOT NULL,         -- core.events.event_type, or 'lab_result'
    quantity                 numeric,
    unit                     text,
    counterparty_location_id text,                  -- shipped_from: destination; shipped_to: the
                                                    -- shipper; received: the source
    linked_at                timestamptz NOT NULL DEFAULT now(),
    -- Leading lot_code: trace_locations() is a range scan of this key.
    PRIMARY KEY (lot_code, message_id, role, location_id)
);
-- "What passed through this location" (dashboards, recalls).
CREATE INDEX lot_locations_location_idx ON core.lot_locations (location_id, event_time DESC);

-- What link() has still to do: the key of every promoted chain event and lab
-- result not linked yet. Triggers fill it in the promoting transaction itself,
-- so a row is queued exactly when it becomes visible: a promotion that commits
-- late is never skipped (as a promoted_at watermark would skip it), and a link
-- run costs O(new rows), not an anti-join over everything ever promoted.
-- link() deletes a batch in the same statement that derives from it. A row
-- queued twice (see link(full=True)) is linked twice, which changes nothing.
CREATE TABLE core.link_queue (
    -- Promotion order: link() works first in, first out, which also reads
    -- core.events roughly in the order it was written.
    queue_no   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source     text NOT NULL CHECK (source IN ('event', 'lab_result')),
    message_id uuid NOT NULL,
    event_time timestamptz NOT NULL,          -- events.event_time / lab_results.tested_at
    queued_at  timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION core.queue_event_for_link() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_LEVEL = 'ROW' THEN
        INSERT INTO core.link_queue (source, message_id, event_time)
        VALUES ('event', NEW.message_id, NEW.event_time);
    ELSE
        INSERT INTO core.link_queue (source, message_id, event_time)
        SELECT 'event', n.message_id, n.event_time FROM new_rows n;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION core.queue_lab_result_for_link() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_LEVEL = 'ROW' THEN
        INSERT INTO core.link_queue (source, message_id, event_time)
        VALUES ('lab_result', NEW.message_id, NEW.tested_at);
    ELSE
        INSERT INTO core.link_queue (source, message_id, event_time)
        SELECT 'lab_result', n.message_id, n.tested_at FROM new_rows n;
    END IF;
    RETURN NULL;
END $$;

-- One statement-level trigger per INSERT/COPY (cheapest: one set-based insert)
-- where the table allows transition tables; a row-level trigger on TimescaleDB
-- hypertables, which do not.
DO $$
DECLARE
    t record;
    is_hypertable boolean;
BEGIN
    FOR t IN SELECT * FROM (VALUES ('events', 'queue_event_for_link'),
                                   ('lab_results', 'queue_lab_result_for_link')) v(tbl, fn)
    LOOP
        is_hypertable := false;
        IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
            EXECUTE 'SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables '
                    'WHERE hypertable_schema = ''core'' AND hypertable_name = $1)'
                INTO is_hypertable USING t.tbl;
        END IF;
        IF is_hypertable THEN
            EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON core.%I '
                           'FOR EACH ROW EXECUTE FUNCTION core.%I()',
                           t.tbl || '_link_queue', t.tbl, t.fn);
        ELSE
            EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON core.%I '
                           'REFERENCING NEW TABLE AS new_rows '
                           'FOR EACH STATEMENT EXECUTE FUNCTION core.%I()',
                           t.tbl || '_link_queue', t.tbl, t.fn);
        END IF;
    END LOOP;
END $$;

-- Rows promoted before this migration (an upgrade) are queued too.
INSERT INTO core.link_queue (source, message_id, event_time)
SELECT 'event', message_id, event_time FROM core.events
UNION ALL
SELECT 'lab_result', message_id, tested_at FROM core.lab_results;

GRANT SELECT, INSERT, UPDATE, DELETE ON core.lot_edges, core.lot_locations, core.link_queue
    TO foodtrace_pipeline;
GRANT SELECT ON core.lot_edges, core.lot_locations, core.link_queue TO foodtrace_reader;


-- ---------------------------------------------------------------------------
-- Trace functions.
--
-- Both walks return the start lot itself as the depth-0 row (parent_lot NULL),
-- then every lot reachable from it, each ONCE, at its minimum depth, with the
-- lot it was reached from at depth - 1 (the smallest lot code when several).
-- No rows at all when the lot is unknown (neither in core.lots nor linked).
--
-- Lookups per reached lot are LATERAL ... LIMIT 1 / OFFSET 0 probes so that
-- they stay index lookups whatever the planner guesses about the walk's size
-- (a hash join would read all of core.lots for every trace). ROWS tells the
-- caller's planner the same.
--
-- Cycle safety without path arrays: the walk keeps (lot, depth, reached-from)
-- triples and UNION discards a triple already produced, so each iteration holds
-- at most one row per edge and the walk stops at p_max_depth. Work is bounded by
-- (p_max_depth + 1) x reachable edges even when bad data has a cycle, whereas a
-- path array (or the CYCLE clause) enumerates every distinct path, which grows
-- exponentially with the diamonds of a real supply chain. Breadth-first
-- iterations make the smallest depth per lot the minimum distance.
--
-- depth_capped (the same on every row): some lot lies beyond p_max_depth, i.e.
-- a lot at depth p_max_depth has an edge to a lot not in the result. A cycle
-- whose lots were all found does NOT count as capped.
-- ---------------------------------------------------------------------------

-- Every lot made from p_lot, transitively. quantity/unit: how much of that lot
-- the transformation that reached it made (the lot's own quantity at depth 0).
-- is_root: the lot has no parents at all.
CREATE FUNCTION core.trace_downstream(p_lot text, p_max_depth integer DEFAULT 64)
RETURNS TABLE (lot_code text, product_code text, depth integer, parent_lot text,
               quantity numeric, unit text, is_root boolean, depth_capped boolean)
LANGUAGE sql STABLE PARALLEL SAFE ROWS 100
AS $$
WITH RECURSIVE walk (lot_code, depth, via) AS (
    SELECT p_lot, 0, NULL::text
    WHERE EXISTS (SELECT 1 FROM core.lots l WHERE l.lot_code = p_lot)
       OR EXISTS (SELECT 1 FROM core.lot_locations ll WHERE ll.lot_code = p_lot)
    UNION
    SELECT e.child_lot, w.depth + 1, w.lot_code
    FROM walk w
    JOIN core.lot_edges e ON e.parent_lot = w.lot_code
    WHERE w.depth < greatest(p_max_depth, 0)
),
reached AS (
    SELECT DISTINCT ON (w.lot_code) w.lot_code, w.depth, w.via
    FROM walk w
    ORDER BY w.lot_code, w.depth, w.via
),
capped AS (
    SELECT EXISTS (
        SELECT 1
        FROM walk w
        JOIN core.lot_edges e ON e.parent_lot = w.lot_code
        WHERE w.depth = greatest(p_max_depth, 0)
          AND NOT EXISTS (SELECT 1 FROM reached r WHERE r.lot_code = e.child_lot)
    ) AS hit
)
SELECT r.lot_code,
       l.product_code,
       r.depth,
       r.via,
       CASE WHEN r.depth = 0 THEN l.quantity ELSE coalesce(q.output_quantity, l.quantity) END,
       CASE WHEN r.depth = 0 THEN l.unit
            ELSE CASE WHEN q.output_quantity IS NULL THEN l.unit ELSE q.output_unit END END,
       NOT EXISTS (SELECT 1 FROM core.lot_edges pe WHERE pe.child_lot = r.lot_code OFFSET 0),
       c.hit
FROM reached r
LEFT JOIN LATERAL (SELECT e.output_quantity, e.output_unit FROM core.lot_edges e
                   WHERE e.parent_lot = r.via AND e.child_lot = r.lot_code
                   ORDER BY e.event_time, e.message_id LIMIT 1) q ON true
LEFT JOIN LATERAL (SELECT l.product_code, l.quantity, l.unit FROM core.lots l
                   WHERE l.lot_code = r.lot_code LIMIT 1) l ON true
CROSS JOIN capped c
ORDER BY r.depth, r.lot_code
$$;

-- Every lot p_lot was made from, transitively. quantity/unit: how much of that
-- lot went into the lot it was reached from (the lot's own quantity at depth 0).
-- is_root: no further parents, i.e. a source lot (harvesting / first_receiving,
-- or a lot whose origin was never reported). A lot cut off by the depth cap
-- still has parents and is not a root.
CREATE FUNCTION core.trace_upstream(p_lot text, p_max_depth integer DEFAULT 64)
RETURNS TABLE (lot_code text, product_code text, depth integer, parent_lot text,
               quantity numeric, unit text, is_root boolean, depth_capped boolean)
LANGUAGE sql STABLE PARALLEL SAFE ROWS 100
AS $$
WITH RECURSIVE walk (lot_code, depth, via) AS (
    SELECT p_lot, 0, NULL::text
    WHERE EXISTS (SELECT 1 FROM core.lots l WHERE l.lot_code = p_lot)
       OR EXISTS (SELECT 1 FROM core.lot_locations ll WHERE ll.lot_code = p_lot)
    UNION
    SELECT e.parent_lot, w.depth + 1, w.lot_code
    FROM walk w
    JOIN core.lot_edges e ON e.child_lot = w.lot_code
    WHERE w.depth < greatest(p_max_depth, 0)
),
reached AS (
    SELECT DISTINCT ON (w.lot_code) w.lot_code, w.depth, w.via
    FROM walk w
    ORDER BY w.lot_code, w.depth, w.via
),
capped AS (
    SELECT EXISTS (
        SELECT 1
        FROM walk w
        JOIN core.lot_edges e ON e.child_lot = w.lot_code
        WHERE w.depth = greatest(p_max_depth, 0)
          AND NOT EXISTS (SELECT 1 FROM reached r WHERE r.lot_code = e.parent_lot)
    ) AS hit
)
SELECT r.lot_code,
       l.product_code,
       r.depth,
       r.via,
       CASE WHEN r.depth = 0 THEN l.quantity ELSE coalesce(q.input_quantity, l.quantity) END,
       CASE WHEN r.depth = 0 THEN l.unit
            ELSE CASE WHEN q.input_quantity IS NULL THEN l.unit ELSE q.input_unit END END,
       NOT EXISTS (SELECT 1 FROM core.lot_edges pe WHERE pe.child_lot = r.lot_code OFFSET 0),
       c.hit
FROM reached r
LEFT JOIN LATERAL (SELECT e.input_quantity, e.input_unit FROM core.lot_edges e
                   WHERE e.parent_lot = r.lot_code AND e.child_lot = r.via
                   ORDER BY e.event_time, e.message_id LIMIT 1) q ON true
LEFT JOIN LATERAL (SELECT l.product_code, l.quantity, l.unit FROM core.lots l
                   WHERE l.lot_code = r.lot_code LIMIT 1) l ON true
CROSS JOIN capped c
ORDER BY r.depth, r.lot_code
$$;

-- Where the given lots went: one row per lot_locations row, with the location's
-- master data (NULL name/kind/city when the location was never registered).
-- event_type and message_id (last) let a caller join back to core.events, e.g.
-- for reference documents in the FSMA export.
CREATE FUNCTION core.trace_locations(p_lots text[])
RETURNS TABLE (lot_code text, location_id text, location_name text, kind text, city text,
               role text, quantity numeric, unit text, event_time timestamptz,
               counterparty_location_id text, lat double precision, lon double precision,
               event_type text, message_id uuid)
LANGUAGE sql STABLE PARALLEL SAFE ROWS 500
AS $$
SELECT ll.lot_code, ll.location_id, loc.name, loc.kind, loc.city,
       ll.role, ll.quantity, ll.unit, ll.event_time,
       ll.counterparty_location_id, loc.lat, loc.lon,
       ll.event_type, ll.message_id
FROM (SELECT DISTINCT q.lot FROM unnest(p_lots) AS q (lot)) AS wanted
JOIN core.lot_locations ll ON ll.lot_code = wanted.lot
LEFT JOIN LATERAL (SELECT loc.name, loc.kind, loc.city, loc.lat, loc.lon FROM core.locations loc
                   WHERE loc.location_id = ll.location_id LIMIT 1) loc ON true
ORDER BY ll.event_time, ll.lot_code, ll.role, ll.location_id
$$;

GRANT EXECUTE ON FUNCTION core.trace_downstream(text, integer), core.trace_upstream(text, integer),
    core.trace_locations(text[])
    TO foodtrace_reader, foodtrace_pipeline;
