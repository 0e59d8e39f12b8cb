-- Landing: what arrived at the edge, stored once per message_id, raw payload kept.
-- The ingest role may only INSERT here (ON CONFLICT DO NOTHING needs no more).

CREATE TABLE landing.lab_results (
    message_id   uuid PRIMARY KEY,
    ingest_seq   bigint GENERATED ALWAYS AS IDENTITY,
    lab_id       text NOT NULL,
    topic        text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    payload      jsonb NOT NULL
);

-- An EPCIS document as received; its events are mapped into chain_events.
CREATE TABLE landing.epcis_documents (
    document_id  uuid PRIMARY KEY,          -- uuid5 of the raw bytes' sha256
    actor_id     text NOT NULL,
    topic        text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    raw          bytea NOT NULL,
    document     jsonb NOT NULL
);

CREATE TABLE landing.chain_events (
    message_id   uuid PRIMARY KEY,
    ingest_seq   bigint GENERATED ALWAYS AS IDENTITY,
    actor_id     text NOT NULL,
    topic        text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    source_document_id uuid REFERENCES landing.epcis_documents (document_id),
    payload      jsonb NOT NULL
);

-- Master data arrives as messages too; the log is append-only, keyed by message_id,
-- and the current row per key is whichever message arrived last.
CREATE TABLE landing.master_data (
    message_id   uuid PRIMARY KEY,
    ingest_seq   bigint GENERATED ALWAYS AS IDENTITY,
    kind         text NOT NULL CHECK (kind IN ('location', 'product')),
    natural_key  text NOT NULL,             -- location_id or product_code
    topic        text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    payload      jsonb NOT NULL
);
CREATE INDEX master_data_key_idx ON landing.master_data (kind, natural_key, ingest_seq DESC);

CREATE VIEW landing.current_locations AS
SELECT DISTINCT ON (natural_key) natural_key AS location_id, payload, message_id, received_at
FROM landing.master_data WHERE kind = 'location'
ORDER BY natural_key, ingest_seq DESC;

CREATE VIEW landing.current_products AS
SELECT DISTINCT ON (natural_key) natural_key AS product_code, payload, message_id, received_at
FROM landing.master_data WHERE kind = 'product'
ORDER BY natural_key, ingest_seq DESC;

-- Whatever could not be accepted, with its raw bytes and every reason.
-- stage 'edge' = structural (JSON, schema, sender, size); 'validation' = the pipeline.
CREATE TABLE landing.quarantine (
    quarantine_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dedup_key     bytea NOT NULL UNIQUE,    -- sha256(stage, topic, raw, element): redelivery stores once
    stage         text NOT NULL CHECK (stage IN ('edge', 'validation')),
    received_at   timestamptz NOT NULL DEFAULT now(),
    topic         text,
    sender_id     text,
    message_id    uuid,
    element_index integer,                  -- position in a JSON array payload
    raw           bytea NOT NULL,
    reasons       jsonb NOT NULL            -- [{"code": ..., "message": ..., "path": ...}]
);
CREATE INDEX quarantine_received_idx ON landing.quarantine (received_at DESC);
CREATE INDEX quarantine_sender_idx ON landing.quarantine (sender_id, received_at DESC);

GRANT INSERT ON ALL TABLES IN SCHEMA landing TO foodtrace_ingest;
GRANT SELECT ON ALL TABLES IN SCHEMA landing TO foodtrace_pipeline;
GRANT INSERT ON landing.quarantine TO foodtrace_pipeline;
GRANT SELECT ON landing.quarantine TO foodtrace_reader;
GRANT USAGE ON SCHEMA landing TO foodtrace_reader;

-- Ingest counters, one row per worker per flush window; Grafana plots them.
CREATE TABLE ops.ingest_stats (
    ts            timestamptz NOT NULL,
    worker_id     text NOT NULL,
    received      integer NOT NULL,         -- payload elements seen
    stored        integer NOT NULL,         -- new rows committed
    duplicates    integer NOT NULL,         -- redeliveries ignored
    quarantined   integer NOT NULL,
    lag_avg_s     double precision,         -- commit time minus publish time
    lag_max_s     double precision
);
CREATE INDEX ingest_stats_ts_idx ON ops.ingest_stats (ts DESC);
SELECT ops.make_hypertable('ops.ingest_stats', 'ts', interval '1 day');

GRANT INSERT ON ops.ingest_stats TO foodtrace_ingest;
GRANT SELECT ON ops.ingest_stats TO foodtrace_pipeline, foodtrace_reader;
