-- Core: validated (curated) data. Written by the pipeline only, read by everyone.
-- Rows are promoted from landing by message_id; promotion is idempotent
-- (INSERT ... ON CONFLICT DO NOTHING on the same keys).

-- Food categories form a tree: a limit on 'vegetables' applies to 'leafy_vegetables'
-- unless a more specific limit exists (GB 2762/2763 inherit the same way).
CREATE TABLE core.food_categories (
    category   text PRIMARY KEY,
    parent     text REFERENCES core.food_categories (category),
    name_en    text NOT NULL,
    name_zh    text
);

CREATE TABLE core.locations (
    location_id text PRIMARY KEY,
    name        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('farm', 'packer', 'processor', 'distributor',
                  'wholesale_market', 'retailer', 'restaurant', 'lab')),
    city        text NOT NULL CHECK (city IN ('guangzhou', 'shenzhen', 'zhuhai', 'foshan',
                  'huizhou', 'dongguan', 'zhongshan', 'jiangmen', 'zhaoqing', 'other')),
    lat         double precision,
    lon         double precision,
    message_id  uuid,                       -- the master-data message it came from
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE core.products (
    product_code text PRIMARY KEY,
    name         text NOT NULL,
    category     text NOT NULL,             -- a core.food_categories key (checked by validation)
    message_id   uuid,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- A Critical Tracking Event (FSMA 204), one row per accepted chain event.
CREATE TABLE core.events (
    message_id               uuid NOT NULL,
    event_time               timestamptz NOT NULL,        -- UTC
    actor_id                 text NOT NULL,
    event_type               text NOT NULL CHECK (event_type IN ('harvesting', 'cooling',
                               'initial_packing', 'first_receiving', 'shipping', 'receiving',
                               'transformation', 'sale')),
    location_id              text NOT NULL,
    source_location_id       text,                        -- receiving
    destination_location_id  text,                        -- shipping
    tlc_source_location_id   text,
    reference_document_type  text NOT NULL,
    reference_document_number text NOT NULL,
    kdes                     jsonb NOT NULL DEFAULT '{}'::jsonb,
    source_document_id       uuid,                        -- EPCIS document, when mapped from one
    promoted_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, event_time)
);
CREATE INDEX events_location_idx ON core.events (location_id, event_time DESC);
CREATE INDEX events_type_time_idx ON core.events (event_type, event_time DESC);
SELECT ops.make_hypertable('core.events', 'event_time', interval '30 days');

-- The lots an event names: `lot` for every event but transformation, which has
-- `input` and `output` rows. quantity/unit as reported.
CREATE TABLE core.event_lots (
    message_id   uuid NOT NULL,
    event_time   timestamptz NOT NULL,
    role         text NOT NULL CHECK (role IN ('lot', 'input', 'output')),
    position     integer NOT NULL,
    lot_code     text NOT NULL,
    product_code text NOT NULL,
    quantity     numeric NOT NULL,
    unit         text NOT NULL,
    PRIMARY KEY (message_id, event_time, role, position)
);
CREATE INDEX event_lots_lot_idx ON core.event_lots (lot_code);
SELECT ops.make_hypertable('core.event_lots', 'event_time', interval '30 days');

-- One row per lot code (globally unique): what it is and where the code was assigned.
CREATE TABLE core.lots (
    lot_code               text PRIMARY KEY,
    product_code           text NOT NULL,
    tlc_source_location_id text,
    created_by_message_id  uuid,            -- the event that assigned the code, when seen
    created_at             timestamptz,
    quantity               numeric,          -- quantity at creation
    unit                   text
);
CREATE INDEX lots_product_idx ON core.lots (product_code);

-- A lab or rapid-test result on a lot.
CREATE TABLE core.lab_results (
    message_id          uuid NOT NULL,
    tested_at           timestamptz NOT NULL,             -- UTC
    lab_id              text NOT NULL,
    sample_id           text NOT NULL,
    lot_code            text NOT NULL,
    product_code        text,                             -- defaults to the lot's product
    sampled_at          timestamptz NOT NULL,
    sampled_location_id text NOT NULL,
    test_kind           text NOT NULL CHECK (test_kind IN ('rapid', 'confirmatory')),
    method              text NOT NULL,
    analyte             text NOT NULL,
    value               numeric,
    unit                text,
    value_mg_per_kg     numeric,                          -- value normalised (null for %)
    result              text CHECK (result IN ('positive', 'negative', 'inconclusive')),
    operator            text,
    instrument          text,
    promoted_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, tested_at)
);
CREATE INDEX lab_results_lot_idx ON core.lab_results (lot_code, analyte, tested_at DESC);
SELECT ops.make_hypertable('core.lab_results', 'tested_at', interval '30 days');

GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA core TO foodtrace_pipeline;
GRANT SELECT ON ALL TABLES IN SCHEMA core TO foodtrace_reader;
-- Tables added by later migrations get the same grants.
ALTER DEFAULT PRIVILEGES IN SCHEMA core GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO foodtrace_pipeline;
ALTER DEFAULT PRIVILEGES IN SCHEMA core GRANT SELECT ON TABLES TO foodtrace_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA core GRANT USAGE ON SEQUENCES TO foodtrace_pipeline;
ALTER DEFAULT PRIVILEGES IN SCHEMA ops GRANT SELECT ON TABLES TO foodtrace_reader, foodtrace_pipeline;
