-- The ingest workers know each other: a heartbeat per worker, independent of
-- traffic, and a record of every takeover of a silent worker's MQTT session.
--
-- Mosquitto keeps dispatching a shared subscription's share to a member whose client
-- is gone (its persistent session queues it). A surviving worker that finds a peer's
-- heartbeat older than FOODTRACE_INGEST_TAKEOVER_S connects with that peer's client
-- id, lands what the session holds and ends it (ingest/takeover.py), one takeover at
-- a time under a PostgreSQL advisory lock.

CREATE TABLE ops.ingest_workers (
    worker_id        text PRIMARY KEY,
    client_id        text NOT NULL,          -- MQTT client id, foodtrace-ingest-{worker_id}
    -- running / stopped: the broker may hold its session (and a share of the traffic);
    -- seen: known from ops.ingest_stats only (workers from before this table);
    -- retired / taken_over: its session was ended, nothing waits in it
    state            text NOT NULL
                     CHECK (state IN ('running', 'stopped', 'seen', 'retired', 'taken_over')),
    host             text,
    pid              integer,
    started_at       timestamptz,
    last_heartbeat   timestamptz NOT NULL,    -- the database's clock, never the worker's
    heartbeat_s      real,                    -- how often it beats (a peer waits 3 beats at least)
    session_ended_at timestamptz
);

CREATE TABLE ops.ingest_takeovers (
    takeover_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    worker_id        text NOT NULL,           -- whose session was taken over
    by_worker_id     text NOT NULL,           -- the surviving worker that took it over
    last_heartbeat   timestamptz,             -- the silent worker's, when it began
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz NOT NULL,
    session_present  boolean,                 -- whether the broker still held a session
    messages         integer NOT NULL,        -- MQTT messages landed from that session
    stored           integer NOT NULL,
    duplicates       integer NOT NULL,
    quarantined      integer NOT NULL,
    -- drained: everything landed and the session ended; interrupted: the worker came
    -- back (or the broker went away) first, the rest stays in the session; failed
    outcome          text NOT NULL CHECK (outcome IN ('drained', 'interrupted', 'failed')),
    detail           text
);
CREATE INDEX ingest_takeovers_started_idx ON ops.ingest_takeovers (started_at DESC);

-- Workers that ran before heartbeats existed may still hold sessions.
INSERT INTO ops.ingest_workers (worker_id, client_id, state, last_heartbeat)
SELECT worker_id, 'foodtrace-ingest-' || worker_id, 'seen', max(ts)
FROM ops.ingest_stats
GROUP BY worker_id;

GRANT SELECT, INSERT, UPDATE ON ops.ingest_workers TO foodtrace_ingest;
GRANT INSERT ON ops.ingest_takeovers TO foodtrace_ingest;
GRANT SELECT ON ops.ingest_workers, ops.ingest_takeovers TO foodtrace_pipeline, foodtrace_reader;
