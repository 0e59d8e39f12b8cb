-- Withdrawal coordination (spec 6; foodtrace.withdrawals, docs/withdrawals.md).
--
-- 1. Notices: one row per (alert version, location, business) that the alert's
--    scope reaches. Written by foodtrace.withdrawals.issue in the transaction that
--    writes the alert version (foodtrace.alerts.transition.apply), so an alert
--    version and its notices commit together. The row is its own outbox entry:
--    foodtrace.withdrawals.deliver publishes pending rows (sent_at IS NULL) at
--    QoS 1 to foodtrace/v1/notices/{actor_id} and sets sent_at after the PUBACK.
-- 2. Withdrawal reports: landed by the ingest edge (landing.withdrawal_reports,
--    the ingest role writes only there), linked to their notice by the pipeline
--    (core.withdrawal_reports), or quarantined (stage 'validation') with a sender
--    notice when they answer an unknown notice or one sent to someone else.
-- 3. Tracking: each notice's state and its history; CAP Updates to a city's
--    emergency office when notices there go overdue (core.withdrawal_escalations,
--    an outbox like core.alert_outbox).

-- ---------------------------------------------------------------------------
-- Landing: the reports as the edge accepted them (idempotent on message_id).
-- ---------------------------------------------------------------------------
CREATE TABLE landing.withdrawal_reports (
    message_id   uuid PRIMARY KEY,
    actor_id     text NOT NULL,          -- the topic's sender (the edge checked the payload)
    topic        text NOT NULL,
    received_at  timestamptz NOT NULL,
    payload      jsonb NOT NULL
);
CREATE INDEX withdrawal_reports_received_idx ON landing.withdrawal_reports (received_at);

-- ---------------------------------------------------------------------------
-- Notices.
--   state: issued -> acknowledged -> withdrawn -> verified; issued/acknowledged
--          -> overdue (deadline passed) -> acknowledged/withdrawn/verified when the
--          answer or the inspector comes; any live state -> superseded (a later
--          alert version changed what the business holds, or released it).
--   action: stop_sale | withdraw | hold_for_testing, or released (the business
--          is no longer affected: the superseding notice says so).
--   lots: [{lot_code, product_code, quantity_held, unit}] as the graph says at
--          the alert version (received - shipped - sold, per lot and unit).
-- ---------------------------------------------------------------------------
CREATE TABLE core.withdrawal_notices (
    notice_id       uuid PRIMARY KEY,
    alert_id        uuid NOT NULL REFERENCES core.alerts (alert_id),
    alert_version   integer NOT NULL,
    location_id     text NOT NULL,
    actor_id        text NOT NULL,
    city            text,
    action          text NOT NULL CHECK (action IN ('stop_sale', 'withdraw', 'hold_for_testing',
                                                    'released')),
    recall_class    integer CHECK (recall_class IN (1, 2, 3)),
    lots            jsonb NOT NULL,
    issued_at       timestamptz NOT NULL,
    deadline        timestamptz,           -- NULL for a release
    supersedes      uuid REFERENCES core.withdrawal_notices (notice_id),
    superseded_by   uuid REFERENCES core.withdrawal_notices (notice_id),
    state           text NOT NULL CHECK (state IN ('issued', 'acknowledged', 'withdrawn',
                                                   'verified', 'overdue', 'superseded')),
    state_at        timestamptz NOT NULL,
    verified_by     text,
    verified_at     timestamptz,
    payload         jsonb NOT NULL,        -- the notice JSON (spec 6) as published
    -- outbox columns
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    sent_at         timestamptz,
    UNIQUE (alert_id, alert_version, location_id, actor_id)
);
-- One live notice per (alert, location, business): a new one supersedes it.
CREATE UNIQUE INDEX withdrawal_notices_one_live
    ON core.withdrawal_notices (alert_id, location_id, actor_id) WHERE state <> 'superseded';
CREATE INDEX withdrawal_notices_pending_idx
    ON core.withdrawal_notices (issued_at, notice_id) WHERE sent_at IS NULL;
CREATE INDEX withdrawal_notices_open_deadline_idx
    ON core.withdrawal_notices (deadline) WHERE state IN ('issued', 'acknowledged');
CREATE INDEX withdrawal_notices_actor_idx ON core.withdrawal_notices (actor_id);

-- Every state change of a notice: who, when, why.
CREATE TABLE core.withdrawal_notice_history (
    history_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notice_id    uuid NOT NULL REFERENCES core.withdrawal_notices (notice_id),
    at           timestamptz NOT NULL,
    from_state   text,
    to_state     text NOT NULL,
    actor        text NOT NULL,            -- 'engine', 'sweep', the business, the inspector
    cause        text,                     -- report message_id, superseding notice_id, ...
    note         text
);
CREATE INDEX withdrawal_notice_history_idx ON core.withdrawal_notice_history (notice_id, history_id);

-- The reports linked to their notice.
CREATE TABLE core.withdrawal_reports (
    message_id   uuid PRIMARY KEY,
    notice_id    uuid NOT NULL REFERENCES core.withdrawal_notices (notice_id),
    actor_id     text NOT NULL,
    status       text NOT NULL CHECK (status IN ('acknowledged', 'withdrawn', 'not_held')),
    lots         jsonb NOT NULL DEFAULT '[]'::jsonb,
    disposition  text CHECK (disposition IN ('destroyed', 'returned', 'held_for_testing', 'other')),
    reported_at  timestamptz NOT NULL,
    note         text,
    received_at  timestamptz NOT NULL,
    linked_at    timestamptz NOT NULL DEFAULT now(),
    applied      boolean NOT NULL,         -- false: it answered a superseded/verified notice
    payload      jsonb NOT NULL
);
CREATE INDEX withdrawal_reports_notice_idx ON core.withdrawal_reports (notice_id, reported_at);

-- CAP Updates to a city's emergency office naming the businesses whose notices
-- went overdue (an outbox: sent_at after the broker's PUBACK).
CREATE TABLE core.withdrawal_escalations (
    escalation_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id       uuid NOT NULL REFERENCES core.alerts (alert_id),
    city           text NOT NULL,
    notice_ids     uuid[] NOT NULL,
    cap_identifier text NOT NULL UNIQUE,
    cap_sent       text NOT NULL,
    cap_xml        text NOT NULL,
    created_at     timestamptz NOT NULL,
    attempts       integer NOT NULL DEFAULT 0,
    last_error     text,
    sent_at        timestamptz
);
CREATE INDEX withdrawal_escalations_pending_idx
    ON core.withdrawal_escalations (escalation_id) WHERE sent_at IS NULL;

-- Reports are findings' and sender notices' kind too.
ALTER TABLE core.findings DROP CONSTRAINT findings_kind_check;
ALTER TABLE core.findings ADD CONSTRAINT findings_kind_check
    CHECK (kind IN ('master_data', 'chain_event', 'lab_result', 'withdrawal_report'));
ALTER TABLE core.sender_notices DROP CONSTRAINT sender_notices_kind_check;
ALTER TABLE core.sender_notices ADD CONSTRAINT sender_notices_kind_check
    CHECK (kind IN ('master_data', 'chain_event', 'lab_result', 'withdrawal_report'));

-- Least privilege: the ingest role writes landing only, the pipeline writes core,
-- the reader reads core (not the landing payloads).
GRANT INSERT ON landing.withdrawal_reports TO foodtrace_ingest;
GRANT SELECT ON landing.withdrawal_reports TO foodtrace_pipeline;
GRANT SELECT, INSERT, UPDATE ON core.withdrawal_notices, core.withdrawal_notice_history,
    core.withdrawal_reports, core.withdrawal_escalations TO foodtrace_pipeline;
GRANT SELECT ON core.withdrawal_notices, core.withdrawal_notice_history,
    core.withdrawal_reports, core.withdrawal_escalations TO foodtrace_reader;
