-- Foundation: schemas, least-privilege roles, and the TimescaleDB switch.
--
-- Roles are NOLOGIN groups; deployments grant them to login users
-- (docker-compose does, with passwords from the environment):
--   foodtrace_ingest   : edge consumer. INSERT into landing only.
--   foodtrace_pipeline : Airflow tasks. Reads landing, writes core and ops.
--   foodtrace_reader   : Grafana and regulators. SELECT on core and ops only.

DO $$
DECLARE r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['foodtrace_ingest', 'foodtrace_pipeline', 'foodtrace_reader'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END $$;

CREATE SCHEMA IF NOT EXISTS landing;   -- raw arrivals from the edge, idempotent on message_id
CREATE SCHEMA IF NOT EXISTS core;      -- validated, linked, traceable data and alerts
CREATE SCHEMA IF NOT EXISTS ops;       -- counters and run records that dashboards read

-- TimescaleDB when the server has it, plain PostgreSQL otherwise.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        CREATE EXTENSION IF NOT EXISTS timescaledb;
    END IF;
END $$;

-- Turn a time-series table into a hypertable when TimescaleDB is installed;
-- a no-op on plain PostgreSQL, so one schema serves both.
CREATE OR REPLACE FUNCTION ops.make_hypertable(tbl regclass, time_column name,
                                               chunk interval DEFAULT interval '7 days')
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        RETURN false;
    END IF;
    EXECUTE format('SELECT create_hypertable(%L::regclass, by_range(%L, %L::interval), '
                   'if_not_exists => true, migrate_data => true)',
                   tbl::text, time_column, chunk);
    RETURN true;
END $$;

GRANT USAGE ON SCHEMA landing TO foodtrace_ingest, foodtrace_pipeline;
GRANT USAGE ON SCHEMA core, ops TO foodtrace_pipeline, foodtrace_reader;
GRANT USAGE ON SCHEMA ops TO foodtrace_ingest;
