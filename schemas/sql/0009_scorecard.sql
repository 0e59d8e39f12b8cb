-- KDE completeness scorecard (spec 2.2, 2.4): how completely each sender reports the
-- FSMA 204 Key Data Elements, what a regulator uses to push suppliers to comply.
--
-- An event is complete when validation recorded no `kde_missing` finding on it. A
-- gap counts even when resolved later (resolution 'derived': the lot graph filled
-- it in, the sender still did not send it), so resolved_at is not looked at.
-- Food category of an event = the category of its first line's product (lowest
-- role, then position: a transformation's first input); 'unknown' when that
-- product has no master data yet. Days are Asia/Shanghai calendar days.
--
-- The functions are plain SQL, STABLE and not STRICT, so PostgreSQL inlines them
-- into the calling query: the time bounds become constants on core.events'
-- event_time (TimescaleDB excludes chunks) and a NULL sender folds away.
-- Windows are half-open: p_from <= event_time < p_to.

-- A sender's events in a window (the CLI's --sender, the dashboard's sender filter).
CREATE INDEX events_actor_time_idx ON core.events (actor_id, event_time DESC);
-- Every sender's events in a window. TimescaleDB's hypertable already has this
-- index under this name; plain PostgreSQL has none on event_time alone.
CREATE INDEX IF NOT EXISTS events_event_time_idx ON core.events (event_time DESC);
-- An event's KDE gaps, without reading its other findings.
CREATE INDEX findings_kde_gap_idx ON core.findings (message_id) WHERE code = 'kde_missing';

-- One row per chain event with its sender, category, day and KDE gaps. Filter on
-- event_time / sender_id: both are core.events columns, so the filters reach its
-- indexes (and chunks); the per-event lookups run only for the rows kept.
CREATE VIEW reporting.kde_events AS
SELECT e.message_id, e.event_time,
       (e.event_time AT TIME ZONE 'Asia/Shanghai')::date AS day,
       e.actor_id AS sender_id, e.event_type, first_line.product_code,
       coalesce(p.category, 'unknown') AS category,
       gaps.kde_gaps, gaps.kde_gaps = 0 AS complete
FROM core.events e
LEFT JOIN LATERAL (
    SELECT l.product_code FROM core.event_lots l
    WHERE l.message_id = e.message_id AND l.event_time = e.event_time
    ORDER BY l.role, l.position
    LIMIT 1
) first_line ON true
LEFT JOIN core.products p ON p.product_code = first_line.product_code
CROSS JOIN LATERAL (
    SELECT count(*) AS kde_gaps FROM core.findings f
    WHERE f.message_id = e.message_id AND f.code = 'kde_missing' AND f.kind = 'chain_event'
) gaps;

-- Events, complete events and their share per sender, per event type, per food
-- category and in total (dimension 'sender' | 'event_type' | 'category' | 'total'),
-- from one scan. Worst first within a dimension.
CREATE FUNCTION reporting.kde_completeness(p_from timestamptz, p_to timestamptz,
                                           p_sender text DEFAULT NULL)
RETURNS TABLE (dimension text, key text, events bigint, complete_events bigint,
               completeness numeric, kde_gaps bigint)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN grouping(k.sender_id) = 0 THEN 'sender'
                WHEN grouping(k.event_type) = 0 THEN 'event_type'
                WHEN grouping(k.category) = 0 THEN 'category'
                ELSE 'total' END,
           CASE WHEN grouping(k.sender_id) = 0 THEN k.sender_id
                WHEN grouping(k.event_type) = 0 THEN k.event_type
                WHEN grouping(k.category) = 0 THEN k.category
                ELSE 'all' END,
           count(*), count(*) FILTER (WHERE k.complete),
           round(count(*) FILTER (WHERE k.complete)::numeric / count(*), 4),
           sum(k.kde_gaps)::bigint
    FROM reporting.kde_events k
    WHERE k.event_time >= p_from AND k.event_time < p_to
      AND (p_sender IS NULL OR k.sender_id = p_sender)
    GROUP BY GROUPING SETS ((k.sender_id), (k.event_type), (k.category), ())
    HAVING count(*) > 0  -- the total of an empty window: no row, not a division by zero
    ORDER BY 1, 5, 3 DESC, 2
$$;

-- The same figures per Asia/Shanghai day: day_start is that day's midnight there
-- (a time series' time column).
CREATE FUNCTION reporting.kde_completeness_by_day(p_from timestamptz, p_to timestamptz,
                                                  p_sender text DEFAULT NULL)
RETURNS TABLE (day date, day_start timestamptz, events bigint, complete_events bigint,
               completeness numeric, kde_gaps bigint)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT k.day, k.day::timestamp AT TIME ZONE 'Asia/Shanghai',
           count(*), count(*) FILTER (WHERE k.complete),
           round(count(*) FILTER (WHERE k.complete)::numeric / count(*), 4),
           sum(k.kde_gaps)::bigint
    FROM reporting.kde_events k
    WHERE k.event_time >= p_from AND k.event_time < p_to
      AND (p_sender IS NULL OR k.sender_id = p_sender)
    GROUP BY k.day
    ORDER BY k.day
$$;

-- Each sender's most frequent KDE gaps: at most p_per_sender rules per sender, by
-- events missing it (ties: rule name); the same events as reporting.kde_events
-- (read from core.events directly: it needs neither category nor gap counts). `message` is the finding's text as the
-- sender was told it; `derived` of `gaps` were later filled in by the lot graph.
CREATE FUNCTION reporting.kde_top_gaps(p_from timestamptz, p_to timestamptz,
                                       p_sender text DEFAULT NULL, p_per_sender integer DEFAULT 5)
RETURNS TABLE (sender_id text, rank bigint, rule text, event_type text, cfr_section text,
               message text, gaps bigint, derived bigint)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT r.sender_id, r.rank, r.rule, r.event_type, r.cfr_section, r.message, r.gaps,
           r.derived
    FROM (
        SELECT g.*, row_number() OVER (PARTITION BY g.sender_id
                                       ORDER BY g.gaps DESC, g.rule) AS rank
        FROM (
            SELECT e.actor_id AS sender_id, f.rule, min(f.event_type) AS event_type,
                   min(f.cfr_section) AS cfr_section, min(f.message) AS message,
                   count(*) AS gaps,
                   count(*) FILTER (WHERE f.resolution = 'derived') AS derived
            FROM core.events e
            JOIN core.findings f
              ON f.message_id = e.message_id AND f.code = 'kde_missing'
             AND f.kind = 'chain_event'
            WHERE e.event_time >= p_from AND e.event_time < p_to
              AND (p_sender IS NULL OR e.actor_id = p_sender)
            GROUP BY e.actor_id, f.rule
        ) g
    ) r
    WHERE r.rank <= p_per_sender
    ORDER BY r.sender_id, r.rank
$$;

GRANT SELECT ON reporting.kde_events TO foodtrace_reader, foodtrace_pipeline;
GRANT EXECUTE ON FUNCTION reporting.kde_completeness(timestamptz, timestamptz, text),
    reporting.kde_completeness_by_day(timestamptz, timestamptz, text),
    reporting.kde_top_gaps(timestamptz, timestamptz, text, integer)
    TO foodtrace_reader, foodtrace_pipeline;
