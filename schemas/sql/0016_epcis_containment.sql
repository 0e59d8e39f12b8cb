-- Pallet containment across EPCIS documents (GS1 EPCIS 2.0 AggregationEvent).
--
-- An AggregationEvent puts lots into a parent (an SSCC: a pallet, a case) or takes
-- them out (action DELETE; without children: everything). A document that ships or
-- receives an SSCC without saying what it holds names the pallet as a lot line of
-- its own (lot_code = the SSCC, product_code 'urn:foodtrace:container', listed in
-- kdes.epcis_containers; ingest/epcis_lines.py). Linking (foodtrace/trace/link.py)
-- adds the pallet's lots at the time of the event to the lot graph, whenever the
-- containment is known: declared earlier or arriving later, in any document.
--
-- 1. landing.epcis_containment: one row per (AggregationEvent, parent, child lot) as
--    the edge read it; a DELETE of everything has lot_code NULL. Its key is uuid5
--    over the declaring event and the child, so a redelivery lands once.
-- 2. core.containment: what linking has applied (copied by link(); new rows queue
--    the events naming the parent for linking again, so late data updates the trace).
-- 3. core.container_contents(parent, at): what the parent held at `at`;
--    core.event_container_lots(event): the lots an event moves in its pallets.
-- 4. core.lot_locations.via_container: the pallet through which a row was derived
--    (NULL for a lot the event names itself), so that a containment change (a late
--    DELETE) can take back what no longer holds.

CREATE TABLE landing.epcis_containment (
    containment_id      uuid PRIMARY KEY,
    ingest_seq          bigint GENERATED ALWAYS AS IDENTITY,
    actor_id            text NOT NULL,
    received_at         timestamptz NOT NULL DEFAULT now(),
    source_document_id  uuid REFERENCES landing.epcis_documents (document_id),
    message_id          uuid NOT NULL,          -- the AggregationEvent's message id
    parent_id           text NOT NULL,          -- the SSCC (or other parent) as linked
    action              text NOT NULL CHECK (action IN ('ADD', 'OBSERVE', 'DELETE')),
    event_time          timestamptz NOT NULL,
    lot_code            text,                   -- NULL: DELETE of all the parent held
    product_code        text,
    quantity            numeric,
    unit                text
);

CREATE TABLE core.containment (
    containment_id      uuid PRIMARY KEY,
    actor_id            text NOT NULL,
    message_id          uuid NOT NULL,
    parent_id           text NOT NULL,
    action              text NOT NULL,
    event_time          timestamptz NOT NULL,
    lot_code            text,
    product_code        text,
    quantity            numeric,
    unit                text,
    source_document_id  uuid,
    recorded_at         timestamptz NOT NULL DEFAULT now(),
    -- linking has applied an errorDeclaration of the declaring AggregationEvent
    retraction_applied  boolean NOT NULL DEFAULT false
);
CREATE INDEX containment_parent_idx ON core.containment (parent_id, event_time);
CREATE INDEX containment_event_idx ON core.containment (message_id);

ALTER TABLE core.lot_locations ADD COLUMN via_container text;

-- What `parent` held at `at`: per lot, the latest containment row up to `at` that
-- is no DELETE, unless the parent was emptied (a DELETE without children) later.
-- At equal times an ADD wins over a DELETE: an unclear order widens the trace.
-- Aggregations their sender declared wrong (core.retractions) do not count.
CREATE FUNCTION core.container_contents(p_parent text, p_at timestamptz)
RETURNS TABLE (lot_code text, product_code text, quantity numeric, unit text)
LANGUAGE sql STABLE AS $$
    WITH live AS (
        SELECT c.* FROM core.containment c
        WHERE c.parent_id = p_parent AND c.event_time <= p_at
          AND NOT EXISTS (SELECT 1 FROM core.retractions r WHERE r.message_id = c.message_id)
    ),
    emptied AS (
        SELECT max(event_time) AS at FROM live WHERE lot_code IS NULL
    ),
    latest AS (
        SELECT DISTINCT ON (l.lot_code, l.unit) l.lot_code, l.product_code, l.quantity, l.unit,
               l.action, l.event_time
        FROM live l
        WHERE l.lot_code IS NOT NULL
        ORDER BY l.lot_code, l.unit, l.event_time DESC, l.action = 'DELETE', l.containment_id
    )
    SELECT x.lot_code, x.product_code, x.quantity, x.unit
    FROM latest x, emptied e
    WHERE x.action <> 'DELETE' AND (e.at IS NULL OR x.event_time >= e.at)
$$;

-- A pallet of an event has known contents when some standing containment row of it
-- is dated up to the event (it may be empty then: that is known too).
CREATE FUNCTION core.container_known(p_parent text, p_at timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM core.containment c
        WHERE c.parent_id = p_parent AND c.event_time <= p_at
          AND NOT EXISTS (SELECT 1 FROM core.retractions r WHERE r.message_id = c.message_id))
$$;

-- The lots an event moves through its pallets (its lot lines of product
-- 'urn:foodtrace:container'), one row per lot: quantities summed over the pallets
-- (NULL if their units disagree), `via_container` the pallets, space-separated.
CREATE FUNCTION core.event_container_lots(p_message_id uuid, p_event_time timestamptz)
RETURNS TABLE (lot_code text, product_code text, quantity numeric, unit text,
               via_container text)
LANGUAGE sql STABLE AS $$
    SELECT c.lot_code, min(c.product_code),
           CASE WHEN count(DISTINCT c.unit) = 1 THEN sum(c.quantity) END,
           string_agg(DISTINCT c.unit, '+'),
           string_agg(DISTINCT el.lot_code, ' ')
    FROM core.event_lots el
    CROSS JOIN LATERAL core.container_contents(el.lot_code, el.event_time) c
    WHERE el.message_id = p_message_id AND el.event_time = p_event_time
      AND el.role = 'lot' AND el.product_code = 'urn:foodtrace:container'
    GROUP BY c.lot_code
$$;

GRANT INSERT ON landing.epcis_containment TO foodtrace_ingest, foodtrace_api;
GRANT SELECT ON landing.epcis_containment TO foodtrace_pipeline;
GRANT SELECT, INSERT, UPDATE, DELETE ON core.containment TO foodtrace_pipeline;
GRANT SELECT ON core.containment TO foodtrace_reader;
GRANT EXECUTE ON FUNCTION core.container_contents(text, timestamptz),
                          core.container_known(text, timestamptz),
                          core.event_container_lots(uuid, timestamptz)
    TO foodtrace_pipeline, foodtrace_reader;

-- EPCIS events kept as "not used" whose sensor reports could not become lab results
-- (ingest/epcis_sensor.py: a microorganism, an unknown substance, no unit, ...):
-- validation tells the sender what is missing (foodtrace/validate/epcis_notes.py).
-- The partial index keeps that a look at those few documents, not at all of them.
CREATE INDEX epcis_documents_sensor_notes_idx ON landing.epcis_documents (received_at)
    WHERE jsonb_path_exists(not_used, '$[*].sensor_notes');
