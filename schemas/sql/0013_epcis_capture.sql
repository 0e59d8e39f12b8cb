-- The EPCIS 2.0 REST interface (`foodtrace serve`, foodtrace/epcis_api/).
--
-- 1. Capture jobs: one row per POST /capture, what GET /capture/{id} shows. The
--    capture itself lands through the same writer as the MQTT consumer
--    (ingest/landing.py), so the job only records the outcome; it is written
--    once, finished (the edge check and the landing commit run inside the request).
-- 2. A login role for the API, foodtrace_api, with the least it needs: on the
--    capture path exactly what the MQTT ingest role uses for EPCIS (INSERT into
--    landing.epcis_documents / chain_events / quarantine, the quarantine key back,
--    ops.ingest_stats), on the query path SELECT on the two core tables it renders
--    (core.events, core.event_lots), and its own jobs. Nothing else of landing or
--    core (no lab results, no raw quarantine bytes, no alerts).
-- 3. Two indexes the queries need: a time-ordered key for GE_/LT_eventTime with
--    keyset paging on (event_time, message_id), and the sender's own eventID of
--    events captured as EPCIS (GET /events/{eventID}); the latter is partial, so
--    it costs nothing for events sent as foodtrace JSON.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'foodtrace_api') THEN
        CREATE ROLE foodtrace_api NOLOGIN;
    END IF;
END $$;

CREATE TABLE ops.epcis_capture_jobs (
    capture_id      uuid PRIMARY KEY,
    actor_id        text NOT NULL,              -- the authenticated sender; only it reads the job
    created_at      timestamptz NOT NULL,
    finished_at     timestamptz,
    running         boolean NOT NULL DEFAULT false,
    success         boolean NOT NULL,           -- no event was rejected
    error_behaviour text NOT NULL CHECK (error_behaviour IN ('proceed', 'rollback')),
    document_id     uuid,                       -- landing.epcis_documents, when it was one
    events          integer NOT NULL DEFAULT 0, -- events in the document
    accepted        integer NOT NULL DEFAULT 0, -- passed the edge
    stored          integer NOT NULL DEFAULT 0, -- new landing rows (the rest were duplicates)
    rejected        integer NOT NULL DEFAULT 0, -- quarantined
    errors          jsonb NOT NULL DEFAULT '[]'::jsonb  -- RFC 7807 problems, one per rejection
);
CREATE INDEX epcis_capture_jobs_actor_idx ON ops.epcis_capture_jobs (actor_id, created_at DESC);

CREATE INDEX events_time_idx ON core.events (event_time, message_id);
CREATE INDEX events_epcis_event_id_idx ON core.events ((kdes->'epcis_event'->>'eventID'))
    WHERE kdes ? 'epcis_event';

GRANT USAGE ON SCHEMA landing, core, ops TO foodtrace_api;
GRANT INSERT ON landing.epcis_documents, landing.chain_events, landing.quarantine
    TO foodtrace_api;
GRANT SELECT (dedup_key) ON landing.quarantine TO foodtrace_api;
GRANT INSERT ON ops.ingest_stats TO foodtrace_api;
GRANT SELECT ON core.events, core.event_lots TO foodtrace_api;
GRANT SELECT, INSERT ON ops.epcis_capture_jobs TO foodtrace_api;
