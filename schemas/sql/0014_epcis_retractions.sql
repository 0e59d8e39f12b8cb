-- GS1 EPCIS 2.0 error declarations (EPCIS 2.0 section 7.4.1.4): the sender says an
-- event it captured earlier is wrong. foodtrace keeps the event (audit) and takes
-- it out of everything that counts it: the lot graph, traces, alerts, the FSMA 204
-- export.
--
-- 1. landing.epcis_declarations: each declaration as it arrived (the edge maps the
--    event carrying `errorDeclaration`; its own message id is uuid5 over the actor
--    and `eventID#errorDeclaration@declarationTime`, so a redelivery lands once).
-- 2. core.retractions: what validation made of it, one row per declaration. The
--    declared event is `message_id` (uuid5 over the actor and the eventID: the
--    event's own message id, whether it arrived already or not). An event is
--    retracted when a row names it; the row is the mark (core.events is not
--    changed, so the event stays exactly as captured).
-- 3. Linking applies retractions: the declared event's core.lot_locations /
--    core.lot_edges rows are deleted, and an event that arrives after its
--    declaration is never linked. Deleting graph rows queues the open alerts whose
--    scope names their lots, like inserting them does (cause 'retraction').

CREATE TABLE landing.epcis_declarations (
    message_id          uuid PRIMARY KEY,   -- the declaration's own message id
    ingest_seq          bigint GENERATED ALWAYS AS IDENTITY,
    actor_id            text NOT NULL,
    topic               text NOT NULL,
    received_at         timestamptz NOT NULL DEFAULT now(),
    source_document_id  uuid REFERENCES landing.epcis_documents (document_id),
    payload             jsonb NOT NULL      -- {declared_message_id, declared_event_id,
                                            --  declaration_time, reason,
                                            --  corrective_event_ids, corrective_message_ids}
);

CREATE TABLE core.retractions (
    retracted_by_message_id uuid PRIMARY KEY,   -- the declaration (landing.epcis_declarations)
    message_id              uuid NOT NULL,      -- the declared (retracted) event
    actor_id                text NOT NULL,
    declared_event_id       text NOT NULL,      -- the EPCIS eventID
    declaration_time        timestamptz,
    reason                  text,               -- e.g. incorrect_data (CBV ER-...)
    corrective_event_ids    text[] NOT NULL DEFAULT '{}',
    corrective_message_ids  uuid[] NOT NULL DEFAULT '{}',
    source_document_id      uuid,
    recorded_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX retractions_event_idx ON core.retractions (message_id);

-- Graph rows deleted by a retraction queue the alerts whose scope names their lots.
CREATE FUNCTION core.queue_rescope_lot_locations_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO core.alert_rescope_queue (alert_id, cause_kind, cause_id)
    SELECT DISTINCT s.alert_id, 'retraction', o.message_id::text
    FROM old_rows o
    JOIN core.alert_scope s ON s.key_kind = 'lot' AND s.key = o.lot_code;
    RETURN NULL;
END $$;

CREATE FUNCTION core.queue_rescope_lot_edges_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO core.alert_rescope_queue (alert_id, cause_kind, cause_id)
    SELECT DISTINCT s.alert_id, 'retraction', o.message_id::text
    FROM old_rows o
    JOIN core.alert_scope s ON s.key_kind = 'lot' AND s.key IN (o.parent_lot, o.child_lot);
    RETURN NULL;
END $$;

CREATE TRIGGER lot_locations_rescope_delete AFTER DELETE ON core.lot_locations
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION core.queue_rescope_lot_locations_deleted();
CREATE TRIGGER lot_edges_rescope_delete AFTER DELETE ON core.lot_edges
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION core.queue_rescope_lot_edges_deleted();

ALTER TABLE core.alert_rescope_queue DROP CONSTRAINT alert_rescope_queue_cause_kind_check;
ALTER TABLE core.alert_rescope_queue ADD CONSTRAINT alert_rescope_queue_cause_kind_check
    CHECK (cause_kind IN ('event', 'lab_result', 'location', 'product', 'migration',
                          'retraction'));

GRANT INSERT ON landing.epcis_declarations TO foodtrace_ingest, foodtrace_api;
GRANT SELECT ON landing.epcis_declarations TO foodtrace_pipeline, foodtrace_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON core.retractions TO foodtrace_pipeline;
GRANT SELECT ON core.retractions TO foodtrace_reader, foodtrace_api;
