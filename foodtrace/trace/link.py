"""Derive the lot graph (core.lot_edges, core.lot_locations) from promoted rows.

`link(conn)` is pipeline step 2. It is idempotent and retry-safe: every insert is
`ON CONFLICT DO NOTHING` on the table's natural key, and each batch is taken off
the queue in the SAME statement that derives from it, so a crash leaves either
all or nothing of a batch, and a retry redoes it.

What is new comes from core.link_queue, which triggers on core.events and
core.lab_results fill in the promoting transaction itself (0004_lot_graph.sql).
A promotion that commits late is therefore linked by the next run, which a
promoted_at watermark would skip; and a run costs O(new rows), where an
anti-join against everything linked so far costs O(all rows) every time
(measured: 14.5 s per run at 1M events, see BENCHMARKS.md).

Retractions (EPCIS errorDeclaration, core.retractions, 0014): a retracted event
is never linked, and the graph rows of one linked before its declaration arrived
are deleted at the end of every run (the AFTER DELETE triggers queue the alerts
that named its lots, so they are re-scoped). The event stays in core.events for
audit; the retraction row is its mark.

`link(conn, full=True)` re-queues every promoted row first: a repair after data
was loaded with triggers disabled (e.g. a restore with session_replication_role
= replica). It changes nothing where the graph is already complete.

Assumption on promotion (validation team): an event and its core.event_lots rows
commit in one transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import psycopg
from psycopg import pq

# How each chain event places its lots (spec 3, "where a lot went").
# (event_type, event_lots.role, lot_locations.role, location, counterparty)
# location / counterparty name a column of the event: here = location_id,
# destination = destination_location_id, source = source_location_id.
ROLE_RULES: tuple[tuple[str, str, str, str, str | None], ...] = (
    ("harvesting", "lot", "created", "here", None),
    ("cooling", "lot", "cooled", "here", None),
    ("initial_packing", "lot", "packed", "here", None),
    ("first_receiving", "lot", "received", "here", "source"),
    ("shipping", "lot", "shipped_from", "here", "destination"),
    ("shipping", "lot", "shipped_to", "destination", "here"),
    ("receiving", "lot", "received", "here", "source"),
    ("transformation", "input", "transformed_into", "here", None),
    ("transformation", "output", "transformed_from", "here", None),
    ("sale", "lot", "sold", "here", None),
)


@dataclass(frozen=True)
class LinkStats:
    events: int = 0  # chain events linked by this run
    lab_results: int = 0  # lab results linked (their 'sampled' locations)
    edges: int = 0  # new core.lot_edges rows
    lot_locations: int = 0  # new core.lot_locations rows
    batches: int = 0
    seconds: float = 0.0
    retracted_edges: int = 0  # core.lot_edges rows of retracted events deleted by this run
    retracted_lot_locations: int = 0  # likewise core.lot_locations

    def as_dict(self) -> dict[str, int | float]:
        return asdict(self)


# Take the oldest queued rows of one source off the queue (both statements below).
_TAKE_FROM_QUEUE = """WITH taken AS (
    DELETE FROM core.link_queue q
    USING (SELECT queue_no FROM core.link_queue
           WHERE source = %(source)s AND queue_no > %(after)s
           ORDER BY queue_no
           LIMIT %(batch_size)s FOR UPDATE SKIP LOCKED) pick
    WHERE q.queue_no = pick.queue_no
    RETURNING q.queue_no, q.message_id, q.event_time
),
"""

# One statement per batch: taking the oldest rows off the queue, deriving and
# counting all see one snapshot and commit together. SKIP LOCKED lets concurrent link()
# runs share the queue; they never insert the same keys (every key of the
# derived tables includes the event's message_id). event_lots are read through
# LATERAL subqueries so each event costs index lookups whatever the planner
# guesses about the batch. A lot listed twice in one event is summed (quantity
# NULL if its units disagree).
_EVENTS_SQL = _TAKE_FROM_QUEUE + """batch AS MATERIALIZED (
    SELECT t.message_id, t.event_time, e.event_type, e.location_id,
           e.source_location_id, e.destination_location_id
    FROM taken t
    CROSS JOIN LATERAL (
        SELECT e.event_type, e.location_id, e.source_location_id, e.destination_location_id
        FROM core.events e
        WHERE e.message_id = t.message_id AND e.event_time = t.event_time
        LIMIT 1  -- the key is unique; LIMIT keeps this an index lookup per key
    ) e
    -- an event its sender declared wrong (EPCIS errorDeclaration) is never linked
    WHERE NOT EXISTS (SELECT 1 FROM core.retractions r WHERE r.message_id = t.message_id)
),
rules (event_type, lot_role, role, place, counterparty) AS (
    SELECT * FROM unnest(%(r_event)s::text[], %(r_lot_role)s::text[], %(r_role)s::text[],
                         %(r_place)s::text[], %(r_counterparty)s::text[])
),
new_edges AS (
    INSERT INTO core.lot_edges (parent_lot, child_lot, message_id, event_time, location_id,
                                input_quantity, input_unit, output_quantity, output_unit)
    SELECT i.lot_code, o.lot_code, b.message_id, b.event_time, b.location_id,
           i.quantity, i.unit, o.quantity, o.unit
    FROM batch b
    CROSS JOIN LATERAL (
        SELECT el.lot_code, el.role,
               CASE WHEN count(DISTINCT el.unit) = 1 THEN sum(el.quantity) END AS quantity,
               string_agg(DISTINCT el.unit, '+') AS unit
        FROM core.event_lots el
        WHERE el.message_id = b.message_id AND el.event_time = b.event_time AND el.role = 'input'
        GROUP BY el.role, el.lot_code
    ) i
    CROSS JOIN LATERAL (
        SELECT el.lot_code, el.role,
               CASE WHEN count(DISTINCT el.unit) = 1 THEN sum(el.quantity) END AS quantity,
               string_agg(DISTINCT el.unit, '+') AS unit
        FROM core.event_lots el
        WHERE el.message_id = b.message_id AND el.event_time = b.event_time AND el.role = 'output'
        GROUP BY el.role, el.lot_code
    ) o
    WHERE b.event_type = 'transformation'
    ON CONFLICT DO NOTHING
    RETURNING 1
),
new_locations AS (
    INSERT INTO core.lot_locations (lot_code, location_id, role, message_id, event_time,
                                    event_type, quantity, unit, counterparty_location_id)
    SELECT x.lot_code, x.location_id, x.role, x.message_id, x.event_time,
           x.event_type, x.quantity, x.unit, x.counterparty
    FROM (
        SELECT l.lot_code, r.role, b.message_id, b.event_time, b.event_type, l.quantity, l.unit,
               CASE r.place WHEN 'here' THEN b.location_id
                            WHEN 'destination' THEN b.destination_location_id
                            WHEN 'source' THEN b.source_location_id END AS location_id,
               CASE r.counterparty WHEN 'here' THEN b.location_id
                                   WHEN 'destination' THEN b.destination_location_id
                                   WHEN 'source' THEN b.source_location_id END AS counterparty
        FROM batch b
        CROSS JOIN LATERAL (
                SELECT el.lot_code, el.role,
                   CASE WHEN count(DISTINCT el.unit) = 1 THEN sum(el.quantity) END AS quantity,
                   string_agg(DISTINCT el.unit, '+') AS unit
            FROM core.event_lots el
            WHERE el.message_id = b.message_id AND el.event_time = b.event_time
            GROUP BY el.role, el.lot_code
        ) l
        JOIN rules r ON r.event_type = b.event_type AND r.lot_role = l.role
    ) x
    WHERE x.location_id IS NOT NULL
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM taken),
       (SELECT count(*) FROM batch),
       (SELECT count(*) FROM new_edges),
       (SELECT count(*) FROM new_locations),
       (SELECT max(queue_no) FROM taken)
"""

# A sample taken at a location means the lot was held there (spec 3 and the
# affected locations of an alert).
_LAB_RESULTS_SQL = _TAKE_FROM_QUEUE + """batch AS MATERIALIZED (
    SELECT t.message_id, r.lot_code, r.sampled_location_id, r.sampled_at
    FROM taken t
    CROSS JOIN LATERAL (
        SELECT r.lot_code, r.sampled_location_id, r.sampled_at
        FROM core.lab_results r
        WHERE r.message_id = t.message_id AND r.tested_at = t.event_time
        LIMIT 1
    ) r
),
new_locations AS (
    INSERT INTO core.lot_locations (lot_code, location_id, role, message_id, event_time,
                                    event_type, quantity, unit, counterparty_location_id)
    SELECT b.lot_code, b.sampled_location_id, 'sampled', b.message_id, b.sampled_at,
           'lab_result', NULL, NULL, NULL
    FROM batch b
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM taken),
       (SELECT count(*) FROM batch),
       0,
       (SELECT count(*) FROM new_locations),
       (SELECT max(queue_no) FROM taken)
"""

# Retractions (EPCIS errorDeclaration, 0014): the declared events' graph rows go.
# Every retraction is applied on every run (index lookups per retracted lot:
# declarations are few), so a row linked by a batch that raced the declaration's
# promotion goes on the next run. The AFTER DELETE triggers queue the alerts whose
# scope named the lots. A declared event not arrived yet has no rows; the batch
# above skips it when it arrives. Once it is stored, the finding that it was never
# received is resolved.
_RETRACT_SQL = """WITH retracted AS MATERIALIZED (
    SELECT DISTINCT el.message_id, el.lot_code, el.role
    FROM (SELECT DISTINCT message_id FROM core.retractions) r
    JOIN core.event_lots el ON el.message_id = r.message_id
),
gone_locations AS (
    DELETE FROM core.lot_locations ll
    USING retracted x
    WHERE ll.lot_code = x.lot_code AND ll.message_id = x.message_id
    RETURNING 1
),
gone_edges AS (
    DELETE FROM core.lot_edges le
    USING retracted x
    WHERE x.role = 'input' AND le.parent_lot = x.lot_code AND le.message_id = x.message_id
    RETURNING 1
),
arrived AS (
    UPDATE core.findings f
    SET resolved_at = now(), resolution = 'reference_arrived', resolved_value = r.message_id::text
    FROM core.retractions r
    WHERE f.rule = 'epcis.error_declaration' AND f.resolved_at IS NULL
      AND f.message_id = r.retracted_by_message_id
      AND EXISTS (SELECT 1 FROM core.events e WHERE e.message_id = r.message_id)
    RETURNING 1
)
SELECT (SELECT count(*) FROM gone_edges), (SELECT count(*) FROM gone_locations)
"""

# Repair: queue every promoted row again (linking it twice changes nothing).
_REQUEUE_SQL = (
    "INSERT INTO core.link_queue (source, message_id, event_time) "
    "SELECT 'event', message_id, event_time FROM core.events "
    "UNION ALL SELECT 'lab_result', message_id, tested_at FROM core.lab_results"
)


def _rule_params() -> dict[str, list[str | None]]:
    columns = list(zip(*ROLE_RULES, strict=True))
    names = ["r_event", "r_lot_role", "r_role", "r_place", "r_counterparty"]
    return {name: list(col) for name, col in zip(names, columns, strict=True)}


Progress = Callable[[str, int], None]


def _drain(
    conn: psycopg.Connection,
    sql: str,
    params: dict,
    batch_size: int,
    source: str,
    progress: Progress | None,
) -> tuple[int, int, int, int]:
    """Take batches of `source` off the queue until it is empty; return
    (rows linked, edges, lot_locations, batches).

    Batches follow the queue from a cursor, so a long run never rescans the dead
    rows of batches it already took; rows queued behind the cursor meanwhile (a
    promotion that drew its queue number earlier but committed later) are picked
    up by one more pass from the start.
    """
    rows = edges = locations = batches = 0
    after = 0
    while True:
        with conn.transaction():
            taken, n, e, loc, last = conn.execute(
                sql, {**params, "source": source, "batch_size": batch_size, "after": after}
            ).fetchone()
        batches += 1
        rows, edges, locations = rows + n, edges + e, locations + loc
        if progress is not None:
            progress(source, rows)
        if taken == batch_size:
            after = last
        elif after == 0:
            return rows, edges, locations, batches
        else:
            after = 0  # one more pass for rows queued behind the cursor


def link(
    conn: psycopg.Connection,
    *,
    batch_size: int = 50_000,
    full: bool = False,
    progress: Progress | None = None,
) -> LinkStats:
    """Link every promoted event and lab result not linked yet; commit per batch.

    Safe to run again at any time and concurrently with promotion and with other
    link() runs (they share the queue). On a connection that is not in autocommit
    mode, a transaction the caller left open is committed first. full=True
    re-links every promoted row (a repair; see the module docstring).
    `progress(source, rows_linked_so_far)` is called after every batch, where
    source is 'event' or 'lab_result'.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    started = time.perf_counter()
    if not conn.autocommit and conn.info.transaction_status == pq.TransactionStatus.INTRANS:
        conn.commit()
    if full:
        with conn.transaction():
            conn.execute(_REQUEUE_SQL)
    ev = _drain(conn, _EVENTS_SQL, _rule_params(), batch_size, "event", progress)
    lab = _drain(conn, _LAB_RESULTS_SQL, {}, batch_size, "lab_result", progress)
    with conn.transaction():
        gone_edges, gone_locations = conn.execute(_RETRACT_SQL).fetchone()
    return LinkStats(
        events=ev[0],
        lab_results=lab[0],
        edges=ev[1],
        lot_locations=ev[2] + lab[2],
        batches=ev[3] + lab[3],
        seconds=round(time.perf_counter() - started, 3),
        retracted_edges=gone_edges,
        retracted_lot_locations=gone_locations,
    )
