-- Read models for the Grafana dashboards (dashboards/*.json), read by foodtrace_reader.
--
-- Plain views, no data of their own: they only unpack what other migrations store
-- (the alert JSON's affected locations and cities, the latest CAP message per alert
-- and city, a lab result's verdict) so every panel query stays a short SELECT that
-- Grafana's macro engine can expand (its $__macro(...) arguments cannot nest
-- parentheses). Dashboards read core.*, ops.* and landing.quarantine directly for
-- everything else. Time filters go on base-table columns, so TimescaleDB still
-- excludes chunks through these views.

CREATE SCHEMA IF NOT EXISTS reporting;

-- One row per (alert, affected location) of the alert's current version.
CREATE VIEW reporting.alert_locations AS
SELECT a.alert_id, a.lot_code, a.analyte, a.severity, a.status, a.raised_at, a.updated_at,
       loc ->> 'location_id'              AS location_id,
       loc ->> 'name'                     AS location_name,
       loc ->> 'kind'                     AS kind,
       loc ->> 'city'                     AS city,
       (loc ->> 'lat')::double precision  AS lat,
       (loc ->> 'lon')::double precision  AS lon,
       jsonb_array_length(coalesce(loc -> 'holdings', '[]'::jsonb)) AS holdings
FROM core.alerts a
CROSS JOIN LATERAL jsonb_array_elements(coalesce(a.payload -> 'affected_locations', '[]'::jsonb))
    AS loc;

-- One row per (alert, affected city).
CREATE VIEW reporting.alert_cities AS
SELECT a.alert_id, a.lot_code, a.analyte, a.severity, a.status, a.raised_at, a.updated_at,
       city
FROM core.alerts a
CROSS JOIN LATERAL jsonb_array_elements_text(coalesce(a.payload -> 'affected_cities', '[]'::jsonb))
    AS city;

-- The size of each alert's impact: how many lots, locations and cities it reaches.
CREATE VIEW reporting.alert_impact AS
SELECT a.alert_id, a.lot_code, a.product_code, a.analyte, a.severity, a.status, a.version,
       a.raised_at, a.updated_at, a.test_kind, a.lab_id, a.value, a.unit,
       a.limit_value, a.limit_unit,
       jsonb_array_length(coalesce(a.payload -> 'affected_lots', '[]'::jsonb))      AS affected_lots,
       jsonb_array_length(coalesce(a.payload -> 'affected_locations', '[]'::jsonb)) AS affected_locations,
       jsonb_array_length(coalesce(a.payload -> 'source_locations', '[]'::jsonb))   AS source_locations,
       coalesce((SELECT string_agg(c, ', ' ORDER BY c)
                 FROM jsonb_array_elements_text(coalesce(a.payload -> 'affected_cities',
                                                         '[]'::jsonb)) AS c), '')  AS affected_cities,
       coalesce((SELECT string_agg(l ->> 'lot_code', ', ' ORDER BY l ->> 'lot_code')
                 FROM jsonb_array_elements(coalesce(a.payload -> 'affected_lots',
                                                    '[]'::jsonb)) AS l), '')       AS affected_lot_codes
FROM core.alerts a;

-- The newest CAP message per (alert, city): what the emergency office last received.
CREATE VIEW reporting.latest_cap AS
SELECT DISTINCT ON (o.alert_id, o.city)
       o.alert_id, o.city, o.version, o.msg_type, o.cap_identifier, o.cap_sent,
       o.created_at, o.sent_at, o.attempts, o.last_error, o.cap_xml,
       a.lot_code, a.analyte, a.severity, a.status
FROM core.alert_outbox o
JOIN core.alerts a ON a.alert_id = o.alert_id
ORDER BY o.alert_id, o.city, o.version DESC, o.outbox_id DESC;

-- Every promoted lab result with the city it was sampled in and whether it is a
-- positive: the alerts engine's verdict when it has judged the result (a confirmatory
-- result above its limit, or a positive rapid test), the station's own reading before.
CREATE VIEW reporting.lab_result_outcomes AS
SELECT lr.message_id, lr.tested_at, lr.sampled_at, lr.lab_id, lr.sample_id, lr.lot_code,
       lr.product_code, lr.analyte, lr.test_kind, lr.method, lr.value, lr.unit, lr.result,
       lr.sampled_location_id, loc.city, ev.verdict,
       coalesce(ev.verdict IN ('violation', 'suspect'), lr.result = 'positive', false) AS positive
FROM core.lab_results lr
LEFT JOIN core.locations loc ON loc.location_id = lr.sampled_location_id
LEFT JOIN core.alert_evaluations ev
       ON ev.message_id = lr.message_id AND ev.tested_at = lr.tested_at;

GRANT USAGE ON SCHEMA reporting TO foodtrace_reader, foodtrace_pipeline;
GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO foodtrace_reader, foodtrace_pipeline;
