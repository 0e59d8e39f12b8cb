-- What the dashboards of issue 9 (item 3) and 8 (item 4) read beyond 0007:
-- pipeline step runs, the lot graph of a trace as nodes and edges, withdrawal
-- progress in SQL (the same figures as foodtrace/withdrawals/progress.py), and
-- the message count behind each ingest batch's average lag.

-- ---------------------------------------------------------------------------
-- Every pipeline step run (validate, link, alert, withdrawals), written by the
-- step itself (foodtrace/pipeline/runs.py), so Airflow runs and
-- `foodtrace pipeline run --direct` both appear. Grafana reads only this database.
-- ---------------------------------------------------------------------------
CREATE TABLE ops.pipeline_runs (
    run_row_id  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    step        text NOT NULL,             -- validate | link | alert | withdrawals
    mode        text NOT NULL CHECK (mode IN ('airflow', 'direct')),
    dag_id      text,                      -- NULL outside Airflow
    dag_run_id  text,
    task_id     text,
    try_number  integer,
    state       text NOT NULL CHECK (state IN ('success', 'failed')),
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    error       text,                      -- the exception, for a failed step
    summary     jsonb NOT NULL DEFAULT '{}'::jsonb,  -- the step's result (as_dict)
    host        text,
    pid         integer
);
CREATE INDEX pipeline_runs_started_idx ON ops.pipeline_runs (started_at DESC);
GRANT SELECT, INSERT ON ops.pipeline_runs TO foodtrace_pipeline;
GRANT SELECT ON ops.pipeline_runs TO foodtrace_reader;

-- ---------------------------------------------------------------------------
-- Ingest lag: each stats row holds a batch's average; a period's average is
-- sum(lag_avg_s * lag_count) / sum(lag_count), never avg(lag_avg_s) (which
-- weighs a batch of 1 like a batch of 1,000). NULL on rows written before 0018.
-- ---------------------------------------------------------------------------
ALTER TABLE ops.ingest_stats ADD COLUMN lag_count integer;

-- ---------------------------------------------------------------------------
-- A trace as a graph: the lots of core.trace_upstream / trace_downstream (the one
-- home of the walk) and the lot_edges between them. Grafana's node graph, the
-- HTML incident report and anyone else drawing a trace read these two.
-- ---------------------------------------------------------------------------
CREATE FUNCTION core.trace_graph_nodes(p_lot text, p_max_depth integer DEFAULT 64)
RETURNS TABLE (lot_code text, product_code text, product_name text, direction text,
               depth integer, quantity numeric, unit text, is_root boolean,
               depth_capped boolean)
LANGUAGE sql STABLE PARALLEL SAFE ROWS 200
AS $$
WITH walked AS (
    SELECT d.lot_code, d.product_code, d.depth, d.quantity, d.unit, d.is_root,
           d.depth_capped, CASE WHEN d.depth = 0 THEN 'self' ELSE 'downstream' END AS direction
    FROM core.trace_downstream(p_lot, p_max_depth) d
    UNION ALL
    SELECT u.lot_code, u.product_code, -u.depth, u.quantity, u.unit, u.is_root,
           u.depth_capped, 'upstream'
    FROM core.trace_upstream(p_lot, p_max_depth) u
    WHERE u.depth > 0
)
SELECT w.lot_code, w.product_code, p.name, w.direction, w.depth, w.quantity, w.unit,
       w.is_root, w.depth_capped
FROM walked w
LEFT JOIN core.products p ON p.product_code = w.product_code
ORDER BY w.depth, w.lot_code
$$;

-- One edge per (input lot, output lot) between nodes of the trace, summed over the
-- transformation events that made it.
CREATE FUNCTION core.trace_graph_edges(p_lot text, p_max_depth integer DEFAULT 64)
RETURNS TABLE (parent_lot text, child_lot text, events bigint, input_quantity numeric,
               input_unit text, first_event_time timestamptz, location_ids text)
LANGUAGE sql STABLE PARALLEL SAFE ROWS 200
AS $$
WITH nodes AS (SELECT n.lot_code FROM core.trace_graph_nodes(p_lot, p_max_depth) n)
SELECT e.parent_lot, e.child_lot, count(*), sum(e.input_quantity),
       CASE WHEN count(DISTINCT e.input_unit) = 1 THEN min(e.input_unit) END,
       min(e.event_time), string_agg(DISTINCT e.location_id, ', ')
FROM core.lot_edges e
WHERE e.parent_lot IN (SELECT lot_code FROM nodes)
  AND e.child_lot IN (SELECT lot_code FROM nodes)
GROUP BY e.parent_lot, e.child_lot
ORDER BY e.parent_lot, e.child_lot
$$;

GRANT EXECUTE ON FUNCTION core.trace_graph_nodes(text, integer),
    core.trace_graph_edges(text, integer) TO foodtrace_reader, foodtrace_pipeline;

-- ---------------------------------------------------------------------------
-- Withdrawal progress in SQL for the dashboard: the rules of
-- foodtrace/withdrawals/progress.py (tests prove both give the same figures).
-- Live notices only (not superseded, not a release); per lot: held =
-- quantity_held, done = all of it once verified, else min(held, withdrawn
-- reported for that lot and unit).
-- ---------------------------------------------------------------------------
CREATE VIEW reporting.withdrawal_notice_lots AS
SELECT n.notice_id, n.alert_id, coalesce(n.city, 'other') AS city, n.actor_id, n.location_id,
       n.state, n.issued_at, n.deadline, n.verified_at,
       l.lot ->> 'lot_code' AS lot_code, coalesce(l.lot ->> 'unit', '') AS unit,
       (l.lot ->> 'quantity_held')::numeric AS held,
       CASE WHEN n.state = 'verified' THEN (l.lot ->> 'quantity_held')::numeric
            ELSE least((l.lot ->> 'quantity_held')::numeric, coalesce(w.withdrawn, 0)) END
           AS done
FROM core.withdrawal_notices n
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

-- Per alert and city: notices by state and the share withdrawn or accounted for
-- (NULL when the city's lots are in several units: see the per-unit view).
CREATE VIEW reporting.withdrawal_progress_by_city AS
WITH live AS (
    SELECT n.alert_id, coalesce(n.city, 'other') AS city, n.state
    FROM core.withdrawal_notices n
    WHERE n.state <> 'superseded' AND n.action <> 'released'
),
counts AS (
    SELECT alert_id, city, count(*) AS notices,
           count(*) FILTER (WHERE state IN ('acknowledged', 'withdrawn', 'verified')) AS answered,
           count(*) FILTER (WHERE state = 'overdue') AS overdue,
           count(*) FILTER (WHERE state IN ('issued', 'acknowledged')) AS open,
           count(*) FILTER (WHERE state = 'verified') AS verified
    FROM live GROUP BY alert_id, city
),
units AS (
    SELECT alert_id, city, unit, sum(held) AS held, sum(done) AS done
    FROM reporting.withdrawal_notice_lots GROUP BY alert_id, city, unit
),
shares AS (
    SELECT alert_id, city, count(*) AS units,
           CASE WHEN count(*) = 1 AND min(held) > 0 THEN round(min(done) / min(held), 4) END
               AS share,
           CASE WHEN count(*) = 1 THEN min(held) END AS held,
           CASE WHEN count(*) = 1 THEN min(done) END AS done,
           CASE WHEN count(*) = 1 THEN min(unit) END AS unit
    FROM units GROUP BY alert_id, city
)
SELECT c.alert_id, c.city, c.notices, c.answered, c.overdue, c.open, c.verified,
       coalesce(s.units, 0) AS units, s.held, s.done, s.unit,
       CASE WHEN s.units IS NULL THEN 1.0 ELSE s.share END AS share
FROM counts c
LEFT JOIN shares s ON s.alert_id = c.alert_id AND s.city = c.city;

-- How much is still out there, as changes: +held when a notice is issued, -what a
-- withdrawn report takes off (never below zero per lot), the rest when verified.
CREATE VIEW reporting.withdrawal_outstanding_changes AS
WITH steps AS (
    SELECT nl.alert_id, nl.city, nl.unit, nl.notice_id, nl.lot_code, nl.held,
           nl.issued_at AS at, 0::numeric AS withdrawn_so_far, false AS verified
    FROM reporting.withdrawal_notice_lots nl
    UNION ALL
    SELECT nl.alert_id, nl.city, nl.unit, nl.notice_id, nl.lot_code, nl.held, r.reported_at,
           sum((rl ->> 'quantity')::numeric) OVER (
               PARTITION BY nl.notice_id, nl.lot_code, nl.unit
               ORDER BY r.reported_at, r.message_id),
           false
    FROM reporting.withdrawal_notice_lots nl
    JOIN core.withdrawal_reports r ON r.notice_id = nl.notice_id AND r.status = 'withdrawn'
    CROSS JOIN LATERAL jsonb_array_elements(r.lots) AS rl
    WHERE rl ->> 'lot_code' = nl.lot_code AND coalesce(rl ->> 'unit', '') = nl.unit
    UNION ALL
    SELECT nl.alert_id, nl.city, nl.unit, nl.notice_id, nl.lot_code, nl.held, nl.verified_at,
           nl.held, true
    FROM reporting.withdrawal_notice_lots nl
    WHERE nl.state = 'verified' AND nl.verified_at IS NOT NULL
),
remaining AS (
    SELECT s.*, CASE WHEN s.verified THEN 0
                     ELSE s.held - least(s.held, s.withdrawn_so_far) END AS out_there
    FROM steps s
)
SELECT alert_id, city, unit, at,
       out_there - coalesce(lag(out_there) OVER (
           PARTITION BY notice_id, lot_code, unit ORDER BY at, verified), 0) AS delta
FROM remaining;

GRANT SELECT ON reporting.withdrawal_notice_lots, reporting.withdrawal_progress_by_city,
    reporting.withdrawal_outstanding_changes TO foodtrace_reader, foodtrace_pipeline;
