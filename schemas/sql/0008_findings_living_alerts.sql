-- Trace truth on the data the world sends (spec 2.2-2.4, 3, 4).
--
-- 1. Findings: validation no longer quarantines what can be placed in the lot
--    graph. A missing or doubtful item (an FSMA KDE gap, no reference document,
--    mass-balance excess, a time anomaly, an unknown location / product / lot)
--    becomes a finding on the stored event, and the event is promoted and traced.
-- 2. Sender notices: what a sender is told about a message after the edge
--    (rejected at validation, or stored with findings), once per message.
-- 3. Living alerts: every open alert's scope (its lots and locations) is kept as
--    keys; triggers on the lot graph and on master data queue the alerts that a
--    new event or location touches, and the pipeline re-scopes just those.

-- ---------------------------------------------------------------------------
-- Findings. One row per (message, rule): re-validation changes nothing.
--   severity: info (a reference not known yet, a KDE derived from the graph),
--             warning (a KDE or document missing, a doubtful quantity or time),
--             error (the data contradicts the graph: a lot code assigned twice).
--   resolved_at / resolution: a finding the graph answered later, e.g. the TLC
--             source derived from the event that assigned the lot code
--             ('derived', with resolved_value), or the master data that arrived
--             ('reference_arrived'). A resolved KDE gap still counts against the
--             sender's completeness: the sender did not send it.
-- ---------------------------------------------------------------------------
CREATE TABLE core.findings (
    finding_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind           text NOT NULL CHECK (kind IN ('master_data', 'chain_event', 'lab_result')),
    message_id     uuid NOT NULL,
    sender_id      text,                   -- actor_id / lab_id (NULL for master data)
    event_type     text,                   -- chain event type, 'lab_result', or the
                                           -- master-data kind ('location', 'product')
    event_time     timestamptz,            -- event_time / tested_at, when valid
    rule           text NOT NULL,          -- foodtrace.validate.rules rule name
    code           text NOT NULL,          -- kde_missing, reference, mass_balance, ...
    severity       text NOT NULL CHECK (severity IN ('info', 'warning', 'error')),
    cfr_section    text,
    message        text NOT NULL,
    path           text,                   -- the column / field concerned
    detail         jsonb NOT NULL DEFAULT '{}'::jsonb,
    found_at       timestamptz NOT NULL DEFAULT now(),
    resolved_at    timestamptz,
    resolution     text CHECK (resolution IN ('derived', 'reference_arrived')),
    resolved_value text,                   -- the derived value, e.g. a location id
    UNIQUE (message_id, rule)
);
CREATE INDEX findings_open_rule_idx ON core.findings (rule, message_id) WHERE resolved_at IS NULL;
CREATE INDEX findings_sender_idx ON core.findings (sender_id, found_at DESC);
CREATE INDEX findings_time_idx ON core.findings (found_at DESC);

-- ---------------------------------------------------------------------------
-- Sender notices (spec 2.4): one per message and stage, written in the
-- validation transaction that decided it (a re-run or a redelivery inserts
-- nothing: ON CONFLICT DO NOTHING), published to foodtrace/v1/rejections/{sender}
-- by the pipeline and marked sent after the broker's PUBACK.
-- ---------------------------------------------------------------------------
CREATE TABLE core.sender_notices (
    notice_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('master_data', 'chain_event', 'lab_result')),
    message_id  uuid NOT NULL,
    stage       text NOT NULL DEFAULT 'validation',
    sender_id   text,                      -- NULL: master data (the registry)
    topic       text,                      -- the topic the message came on
    stored      boolean NOT NULL,          -- false: rejected (quarantined)
    body        jsonb NOT NULL,            -- {message_id, stage, stored, reasons:[...]}
    created_at  timestamptz NOT NULL DEFAULT now(),
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text,
    sent_at     timestamptz,
    UNIQUE (message_id, stage)
);
CREATE INDEX sender_notices_pending_idx ON core.sender_notices (notice_id) WHERE sent_at IS NULL;

-- An event may now lack a reference document (a finding, 21 CFR 1.1325-1.1350).
ALTER TABLE core.events ALTER COLUMN reference_document_type DROP NOT NULL;
ALTER TABLE core.events ALTER COLUMN reference_document_number DROP NOT NULL;

-- Nothing is held any more: what validation cannot use is quarantined, what it
-- can is promoted (with findings). Rows held by an older version are judged again.
INSERT INTO landing.validation_queue (kind, message_id)
SELECT kind, message_id FROM core.processed_messages WHERE outcome = 'held'
ON CONFLICT DO NOTHING;

-- ---------------------------------------------------------------------------
-- Living alerts.
-- core.alert_scope: the keys an alert's current version was computed from: every
-- lot of its `both` trace (affected and upstream), every location it names, and
-- its product (whose master data decides the category a limit is looked up for).
-- Kept for alerts that are not closed (a closed alert follows no data).
-- ---------------------------------------------------------------------------
CREATE TABLE core.alert_scope (
    key_kind  text NOT NULL CHECK (key_kind IN ('lot', 'location', 'product')),
    key       text NOT NULL,
    alert_id  uuid NOT NULL REFERENCES core.alerts (alert_id) ON DELETE CASCADE,
    PRIMARY KEY (key_kind, key, alert_id)
);
CREATE INDEX alert_scope_alert_idx ON core.alert_scope (alert_id);

-- What may have changed an alert's scope since its last version: one row per
-- (alert, cause). Filled by the triggers below in the linking (or master-data)
-- transaction itself; the re-scoping step takes an alert's rows off the queue in
-- the transaction that writes its new version (or finds it unchanged).
CREATE TABLE core.alert_rescope_queue (
    queue_no    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id    uuid NOT NULL REFERENCES core.alerts (alert_id) ON DELETE CASCADE,
    cause_kind  text NOT NULL CHECK (cause_kind IN ('event', 'lab_result', 'location', 'product',
                                                    'migration')),
    cause_id    text NOT NULL,             -- message id of the event / result, location id
                                           -- or product code
    queued_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_rescope_queue_alert_idx ON core.alert_rescope_queue (alert_id, queue_no);

CREATE FUNCTION core.queue_rescope_lot_locations() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO core.alert_rescope_queue (alert_id, cause_kind, cause_id)
    SELECT DISTINCT s.alert_id,
           CASE WHEN n.event_type = 'lab_result' THEN 'lab_result' ELSE 'event' END,
           n.message_id::text
    FROM new_rows n
    JOIN core.alert_scope s ON s.key_kind = 'lot' AND s.key = n.lot_code;
    RETURN NULL;
END $$;

CREATE FUNCTION core.queue_rescope_lot_edges() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO core.alert_rescope_queue (alert_id, cause_kind, cause_id)
    SELECT DISTINCT s.alert_id, 'event', n.message_id::text
    FROM new_rows n
    JOIN core.alert_scope s ON s.key_kind = 'lot' AND s.key IN (n.parent_lot, n.child_lot);
    RETURN NULL;
END $$;

CREATE FUNCTION core.queue_rescope_locations() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO core.alert_rescope_queue (alert_id, cause_kind, cause_id)
    SELECT DISTINCT s.alert_id, 'location', n.location_id
    FROM new_rows n
    JOIN core.alert_scope s ON s.key_kind = 'location' AND s.key = n.location_id;
    RETURN NULL;
END $$;

CREATE FUNCTION core.queue_rescope_products() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO core.alert_rescope_queue (alert_id, cause_kind, cause_id)
    SELECT DISTINCT s.alert_id, 'product', n.product_code
    FROM new_rows n
    JOIN core.alert_scope s ON s.key_kind = 'product' AND s.key = n.product_code;
    RETURN NULL;
END $$;

CREATE TRIGGER lot_locations_rescope AFTER INSERT ON core.lot_locations
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION core.queue_rescope_lot_locations();
CREATE TRIGGER lot_edges_rescope AFTER INSERT ON core.lot_edges
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION core.queue_rescope_lot_edges();
CREATE TRIGGER locations_rescope_insert AFTER INSERT ON core.locations
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION core.queue_rescope_locations();
CREATE TRIGGER locations_rescope_update AFTER UPDATE ON core.locations
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION core.queue_rescope_locations();
CREATE TRIGGER products_rescope_insert AFTER INSERT ON core.products
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION core.queue_rescope_products();
CREATE TRIGGER products_rescope_update AFTER UPDATE ON core.products
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION core.queue_rescope_products();

-- A re-scope is a new alert version; history says which events changed it.
ALTER TABLE core.alert_history DROP CONSTRAINT alert_history_action_check;
ALTER TABLE core.alert_history ADD CONSTRAINT alert_history_action_check
    CHECK (action IN ('raised', 'upgraded', 'cleared', 'acknowledged', 'closed', 'noted',
                      'rescoped'));

-- Open alerts raised before this migration get their scope on the next run.
INSERT INTO core.alert_scope (key_kind, key, alert_id)
SELECT 'lot', a.lot_code, a.alert_id FROM core.alerts a WHERE a.status <> 'closed'
ON CONFLICT DO NOTHING;
INSERT INTO core.alert_rescope_queue (alert_id, cause_kind, cause_id)
SELECT a.alert_id, 'migration', '0008' FROM core.alerts a WHERE a.status <> 'closed';

GRANT SELECT, INSERT, UPDATE, DELETE ON core.findings, core.sender_notices, core.alert_scope,
    core.alert_rescope_queue TO foodtrace_pipeline;
GRANT SELECT ON core.findings, core.sender_notices, core.alert_scope, core.alert_rescope_queue
    TO foodtrace_reader;

-- Validation rules now fail as a quarantine or as a finding (no more holds).
ALTER TABLE ops.validation_results DROP CONSTRAINT validation_results_on_failure_check;
ALTER TABLE ops.validation_results ADD CONSTRAINT validation_results_on_failure_check
    CHECK (on_failure IN ('quarantine', 'hold', 'finding'));

-- The findings a later batch answers by the value they name (a lot, location or
-- product id): an index lookup per new row, however many findings stay open.
CREATE INDEX findings_open_value_idx ON core.findings (rule, (detail->>'value'))
    WHERE resolved_at IS NULL;

-- A run's findings on promoted rows (rows_held stays for the runs before this).
ALTER TABLE ops.validation_runs ADD COLUMN findings integer NOT NULL DEFAULT 0;

-- The edge tells a sender of a rejection once: it learns which quarantine rows its
-- batch really inserted (INSERT ... RETURNING dedup_key). The key is a hash of the
-- bytes; the ingest role still reads nothing else of landing.
GRANT SELECT (dedup_key) ON landing.quarantine TO foodtrace_ingest;
