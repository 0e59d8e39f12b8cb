-- Validation: what promotion (landing -> core) still has to do, what it decided
-- per message, and a browsable record of every validation run.
--
-- foodtrace.validate.promote.validate_and_promote() takes work from
-- landing.validation_queue, validates it (great_expectations suites plus SQL-derived
-- columns), and in ONE transaction per batch promotes the passing rows, quarantines
-- the failing ones, records core.processed_messages and takes the finished keys
-- off the queue. Held rows (a reference not there yet) stay queued for the next run.

-- ---------------------------------------------------------------------------
-- The work queue. Triggers on the landing tables fill it in the INSERTing
-- transaction itself, so a message is queued exactly when it becomes visible:
-- a landing transaction that commits late is never skipped (a watermark over
-- ingest_seq would skip it: identities are handed out before commit), and a
-- validation run costs O(new rows), not an anti-join over all of landing.
-- ---------------------------------------------------------------------------
CREATE TABLE landing.validation_queue (
    kind        text NOT NULL CHECK (kind IN ('master_data', 'chain_event', 'lab_result')),
    message_id  uuid NOT NULL,
    queued_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, message_id)
);

-- Runs as the table owner (SECURITY DEFINER): the ingest role may only INSERT into
-- landing and need not know the queue exists. One set-based insert and one NOTIFY
-- per statement (the ingest writes a whole batch per statement). NOTIFY is
-- transactional: listeners (the Airflow event trigger) hear it after COMMIT only.
CREATE FUNCTION landing.queue_for_validation() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n bigint;
BEGIN
    INSERT INTO landing.validation_queue (kind, message_id)
    SELECT TG_ARGV[0], r.message_id FROM new_rows r
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM pg_notify('foodtrace_landing',
                          json_build_object('kind', TG_ARGV[0], 'rows', n)::text);
    END IF;
    RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION landing.queue_for_validation() FROM PUBLIC;

CREATE TRIGGER lab_results_validation_queue AFTER INSERT ON landing.lab_results
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION landing.queue_for_validation('lab_result');
CREATE TRIGGER chain_events_validation_queue AFTER INSERT ON landing.chain_events
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION landing.queue_for_validation('chain_event');
CREATE TRIGGER master_data_validation_queue AFTER INSERT ON landing.master_data
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION landing.queue_for_validation('master_data');

-- Rows landed before this migration (an upgrade) are queued too.
INSERT INTO landing.validation_queue (kind, message_id)
SELECT 'lab_result', message_id FROM landing.lab_results
UNION ALL
SELECT 'chain_event', message_id FROM landing.chain_events
UNION ALL
SELECT 'master_data', message_id FROM landing.master_data
ON CONFLICT DO NOTHING;

-- ---------------------------------------------------------------------------
-- What validation decided about each message (the processed marker).
--   promoted    : in core.*; taken off the queue
--   quarantined : in landing.quarantine (stage 'validation'); taken off the queue
--   held        : waits for a reference (lot, location, product, matching
--                 shipping); stays queued and is checked again on every run
--                 until it passes or its hold times out ('unmatched reference').
-- A repair (validate_and_promote(requeue=True)) re-queues every landing row that
-- has no row here: the anti-join is only ever needed then.
-- ---------------------------------------------------------------------------
CREATE TABLE core.processed_messages (
    kind            text NOT NULL CHECK (kind IN ('master_data', 'chain_event', 'lab_result')),
    message_id      uuid NOT NULL,
    outcome         text NOT NULL CHECK (outcome IN ('promoted', 'quarantined', 'held')),
    reasons         jsonb NOT NULL DEFAULT '[]'::jsonb,   -- why quarantined / held
    held_since      timestamptz,                           -- first time it was held
    processed_at    timestamptz NOT NULL DEFAULT now(),    -- last decision
    run_id          bigint,                                -- ops.validation_runs of that decision
    PRIMARY KEY (kind, message_id)
);
CREATE INDEX processed_messages_outcome_idx ON core.processed_messages (outcome, processed_at DESC);

-- ---------------------------------------------------------------------------
-- Validation runs: one row per (call, message kind); results per expectation.
-- ---------------------------------------------------------------------------
CREATE TABLE ops.validation_runs (
    run_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    kind          text NOT NULL,                 -- master_data | chain_event | lab_result
    suite_name    text NOT NULL,                 -- the great_expectations suite(s)
    rows_checked  integer NOT NULL DEFAULT 0,
    rows_passed   integer NOT NULL DEFAULT 0,    -- promoted
    rows_failed   integer NOT NULL DEFAULT 0,    -- quarantined
    rows_held     integer NOT NULL DEFAULT 0,
    success       boolean,                       -- every row passed (NULL while running)
    report_path   text                           -- HTML report written for the run
);
CREATE INDEX validation_runs_started_idx ON ops.validation_runs (started_at DESC);

CREATE TABLE ops.validation_results (
    run_id             bigint NOT NULL REFERENCES ops.validation_runs (run_id) ON DELETE CASCADE,
    rule               text NOT NULL,            -- stable rule name, e.g. kde.receiving.tlc_source
    expectation        text NOT NULL,            -- the GE expectation type (or sql:... check)
    column_name        text,
    cfr_section        text,                     -- e.g. 21 CFR 1.1345(a)(7)
    on_failure         text NOT NULL CHECK (on_failure IN ('quarantine', 'hold')),
    success            boolean NOT NULL,
    element_count      integer NOT NULL,
    unexpected_count   integer NOT NULL,
    sample_message_ids uuid[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_id, rule)
);

-- ---------------------------------------------------------------------------
-- Lenient casts: a malformed value becomes NULL (and fails an expectation that
-- names it) instead of aborting the whole batch.
-- ---------------------------------------------------------------------------
CREATE FUNCTION ops.try_timestamptz(value text) RETURNS timestamptz
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    -- RFC 3339 with an offset only: no session-time-zone guesses for naive times.
    IF value IS NULL OR value !~ '^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$' THEN
        RETURN NULL;
    END IF;
    RETURN value::timestamptz;
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$;

-- A JSON number, or NULL; also NULL beyond +-1e300, so that casting it to
-- double precision (the expectations compare floats) can never overflow.
CREATE FUNCTION ops.try_numeric(value jsonb) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(value) = 'number'
                 AND abs((value #>> '{}')::numeric) < 1e300
            THEN (value #>> '{}')::numeric END
$$;

GRANT SELECT, INSERT, DELETE ON landing.validation_queue TO foodtrace_pipeline;
GRANT SELECT ON landing.validation_queue TO foodtrace_reader;
GRANT SELECT, INSERT, UPDATE ON ops.validation_runs, ops.validation_results TO foodtrace_pipeline;
GRANT SELECT ON ops.validation_runs, ops.validation_results TO foodtrace_reader;
GRANT EXECUTE ON FUNCTION ops.try_timestamptz(text), ops.try_numeric(jsonb)
    TO foodtrace_pipeline, foodtrace_reader;
