-- 0020: withdrawal progress has one home, these views. `foodtrace withdrawals`
-- (foodtrace/withdrawals/queries.py) reads them as the dashboard does, so the CLI
-- and Grafana cannot drift apart.
--
-- Changes to 0018:
-- - the city of a notice issued before its place's master data arrived is the
--   place's city once known (as the CLI and the overdue sweep already counted it),
--   'other' only while nobody knows it;
-- - per-unit figures per city and per alert, and the per-alert totals, so the CLI
--   computes nothing itself.
-- Rules unchanged: live notices only (not superseded, not a release); per lot:
-- held = quantity_held, done = all of it once verified, else min(held, withdrawn
-- reported for that lot and unit); share = done / held per unit, given for a group
-- whose lots are all in one unit, 1.0 for a group with notices but no held lots.

CREATE OR REPLACE VIEW reporting.withdrawal_notice_lots AS
SELECT n.notice_id, n.alert_id, coalesce(n.city, loc.city, 'other') AS city, n.actor_id,
       n.location_id, n.state, n.issued_at, n.deadline, n.verified_at,
       l.lot ->> 'lot_code' AS lot_code, coalesce(l.lot ->> 'unit', '') AS unit,
       (l.lot ->> 'quantity_held')::numeric AS held,
       CASE WHEN n.state = 'verified' THEN (l.lot ->> 'quantity_held')::numeric
            ELSE least((l.lot ->> 'quantity_held')::numeric, coalesce(w.withdrawn, 0)) END
           AS done
FROM core.withdrawal_notices n
LEFT JOIN core.locations loc ON loc.location_id = n.location_id
CROSS JOIN LATERAL jsonb_array_elements(n.lots) AS l (lot)
LEFT JOIN LATERAL (
    SELECT sum((rl ->> 'quantity')::numeric) AS withdrawn
    FROM core.withdrawal_reports r
    CROSS JOIN LATERAL jsonb_array_elements(r.lots) AS rl
    WHERE r.notice_id = n.notice_id AND r.status = 'withdrawn'
      AND rl ->> 'lot_code' = l.lot ->> 'lot_code'
      AND rl ->> 'unit' IS NOT DISTINCT FROM l.lot ->> 'unit'
) w ON true
WHERE n.state <> 'superseded' AND n.action <> 'released'
  AND l.lot ->> 'quantity_held' IS NOT NULL;

-- Live notices with the city they count in (the counts below).
CREATE VIEW reporting.withdrawal_live_notices AS
SELECT n.notice_id, n.alert_id, coalesce(n.city, loc.city, 'other') AS city, n.actor_id,
       n.location_id, n.state
FROM core.withdrawal_notices n
LEFT JOIN core.locations loc ON loc.location_id = n.location_id
WHERE n.state <> 'superseded' AND n.action <> 'released';

-- Held and done per alert, city and unit, with the share of that unit.
CREATE VIEW reporting.withdrawal_units_by_city AS
SELECT alert_id, city, unit, sum(held) AS held, sum(done) AS done,
       CASE WHEN sum(held) > 0 THEN round(sum(done) / sum(held), 4) END AS share
FROM reporting.withdrawal_notice_lots
GROUP BY alert_id, city, unit;

-- The same per alert (all cities).
CREATE VIEW reporting.withdrawal_units_by_alert AS
SELECT alert_id, unit, sum(held) AS held, sum(done) AS done,
       CASE WHEN sum(held) > 0 THEN round(sum(done) / sum(held), 4) END AS share
FROM reporting.withdrawal_notice_lots
GROUP BY alert_id, unit;

-- Per alert and city: notices by state and the share withdrawn or accounted for
-- (NULL when the city's lots are in several units: see withdrawal_units_by_city).
-- Same columns as in 0018 (the dashboard's panels read them).
CREATE OR REPLACE VIEW reporting.withdrawal_progress_by_city AS
WITH counts AS (
    SELECT alert_id, city, count(*) AS notices,
           count(*) FILTER (WHERE state IN ('acknowledged', 'withdrawn', 'verified')) AS answered,
           count(*) FILTER (WHERE state = 'overdue') AS overdue,
           count(*) FILTER (WHERE state IN ('issued', 'acknowledged')) AS open,
           count(*) FILTER (WHERE state = 'verified') AS verified
    FROM reporting.withdrawal_live_notices GROUP BY alert_id, city
),
shares AS (
    SELECT alert_id, city, count(*) AS units,
           CASE WHEN count(*) = 1 THEN min(share) END AS share,
           CASE WHEN count(*) = 1 THEN min(held) END AS held,
           CASE WHEN count(*) = 1 THEN min(done) END AS done,
           CASE WHEN count(*) = 1 THEN min(unit) END AS unit
    FROM reporting.withdrawal_units_by_city GROUP BY alert_id, city
)
SELECT c.alert_id, c.city, c.notices, c.answered, c.overdue, c.open, c.verified,
       coalesce(s.units, 0) AS units, s.held, s.done, s.unit,
       CASE WHEN s.units IS NULL THEN 1.0 ELSE s.share END AS share
FROM counts c
LEFT JOIN shares s ON s.alert_id = c.alert_id AND s.city = c.city;

-- Per alert, all cities: the same columns without the city.
CREATE VIEW reporting.withdrawal_progress_by_alert AS
WITH counts AS (
    SELECT alert_id, count(*) AS notices,
           count(*) FILTER (WHERE state IN ('acknowledged', 'withdrawn', 'verified')) AS answered,
           count(*) FILTER (WHERE state = 'overdue') AS overdue,
           count(*) FILTER (WHERE state IN ('issued', 'acknowledged')) AS open,
           count(*) FILTER (WHERE state = 'verified') AS verified
    FROM reporting.withdrawal_live_notices GROUP BY alert_id
),
shares AS (
    SELECT alert_id, count(*) AS units,
           CASE WHEN count(*) = 1 THEN min(share) END AS share,
           CASE WHEN count(*) = 1 THEN min(held) END AS held,
           CASE WHEN count(*) = 1 THEN min(done) END AS done,
           CASE WHEN count(*) = 1 THEN min(unit) END AS unit
    FROM reporting.withdrawal_units_by_alert GROUP BY alert_id
)
SELECT c.alert_id, c.notices, c.answered, c.overdue, c.open, c.verified,
       coalesce(s.units, 0) AS units, s.held, s.done, s.unit,
       CASE WHEN s.units IS NULL THEN 1.0 ELSE s.share END AS share
FROM counts c
LEFT JOIN shares s ON s.alert_id = c.alert_id;

GRANT SELECT ON reporting.withdrawal_live_notices, reporting.withdrawal_units_by_city,
    reporting.withdrawal_units_by_alert, reporting.withdrawal_progress_by_alert
    TO foodtrace_reader, foodtrace_pipeline;
