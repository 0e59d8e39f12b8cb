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

Pallets (EPCIS AggregationEvent, 0016): an event that names a pallet as a lot line
(product 'urn:foodtrace:container', kdes.epcis_containers) also places the lots the
pallet held at the event's time (core.event_container_lots), in core.lot_locations
rows marked `via_container`. Each run first applies the containment that landed
since (landing.epcis_containment -> core.containment): the events naming those
pallets lose the rows that no longer hold and are queued again, so a containment
that arrives after the shipping updates the trace (the insert and delete triggers
re-scope the alerts naming the lots), and the graph is the same in any arrival
order. An errorDeclaration of an AggregationEvent re-derives its pallets the same
way. While a pallet's contents are unknown the event carries the finding
`epcis.container_contents`; it is resolved when they become known.

`link(conn, full=True)` re-queues every promoted row first: a repair after data
was loaded with triggers disabled (e.g. a restore with session_replication_role
= replica). It changes nothing where the graph is already complete.

Assumption on promotion (validation team): an event and its core.event_lots rows
commit in one transaction.

Transactions: link() is a long loop that commits batch by batch (each batch is
one statement, above), so a crash keeps every batch before it. A caller must not
wrap it in a transaction of its own: the batches would become savepoints, a crash
would lose them all, and the queue rows taken would stay locked until the
caller's commit. So link() controls the transactions of the connection it is
given, and ends one the caller left open before it starts. It takes a connection
rather than a URL because the caller holds session locks on it (the graph lock of
foodtrace.pipeline.steps) and chooses the role.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg import pq
from psycopg.rows import class_row

from foodtrace.db.rows import one
from foodtrace.ingest.epcis_lines import CONTAINER_PRODUCT

CONTAINER_RULE = "epcis.container_contents"  # a pallet whose contents are not known yet

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
    containment: int = 0  # core.containment rows applied by this run (pallets, 0016)
    pallet_rows_withdrawn: int = 0  # pallet-derived lot_locations that no longer held

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
           e.source_location_id, e.destination_location_id, e.actor_id, e.has_pallets
    FROM taken t
    CROSS JOIN LATERAL (
        SELECT e.event_type, e.location_id, e.source_location_id, e.destination_location_id,
               e.actor_id, e.kdes ? 'epcis_containers' AS has_pallets
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
),
-- the lots in the event's pallets, where the pallet's contents are known (0016)
new_contained AS (
    INSERT INTO core.lot_locations (lot_code, location_id, role, message_id, event_time,
                                    event_type, quantity, unit, counterparty_location_id,
                                    via_container)
    SELECT x.lot_code, x.location_id, x.role, x.message_id, x.event_time,
           x.event_type, x.quantity, x.unit, x.counterparty, x.via_container
    FROM (
        SELECT c.lot_code, r.role, b.message_id, b.event_time, b.event_type, c.quantity, c.unit,
               c.via_container,
               CASE r.place WHEN 'here' THEN b.location_id
                            WHEN 'destination' THEN b.destination_location_id
                            WHEN 'source' THEN b.source_location_id END AS location_id,
               CASE r.counterparty WHEN 'here' THEN b.location_id
                                   WHEN 'destination' THEN b.destination_location_id
                                   WHEN 'source' THEN b.source_location_id END AS counterparty
        FROM batch b
        CROSS JOIN LATERAL core.event_container_lots(b.message_id, b.event_time) c
        JOIN rules r ON r.event_type = b.event_type AND r.lot_role = 'lot'
        WHERE b.has_pallets
    ) x
    WHERE x.location_id IS NOT NULL
    ON CONFLICT DO NOTHING
    RETURNING 1
),
pallets AS (
    SELECT b.message_id, b.event_time, b.event_type, b.actor_id,
           array_agg(DISTINCT el.lot_code ORDER BY el.lot_code)
               FILTER (WHERE NOT core.container_known(el.lot_code, b.event_time)) AS unknown
    FROM batch b
    JOIN core.event_lots el ON el.message_id = b.message_id AND el.event_time = b.event_time
                           AND el.role = 'lot' AND el.product_code = %(container_product)s
    WHERE b.has_pallets
    GROUP BY b.message_id, b.event_time, b.event_type, b.actor_id
),
unknown_contents AS (
    INSERT INTO core.findings (kind, message_id, sender_id, event_type, event_time, rule, code,
                               severity, message, path, detail)
    SELECT 'chain_event', p.message_id, p.actor_id, p.event_type, p.event_time,
           %(container_rule)s, 'container_contents_unknown', 'warning',
           format('托盘内容未知：尚无 AggregationEvent 说明 %%s 在此事件时装有哪些批次，'
                  '托盘本身仍在追溯中 / pallet contents unknown: no AggregationEvent says yet '
                  'which lots %%s held at this event''s time; the pallet is traced as itself '
                  'and its lots are linked when one arrives',
                  array_to_string(p.unknown, ', '), array_to_string(p.unknown, ', ')),
           '/lots', jsonb_build_object('value', array_to_string(p.unknown, ' '))
    FROM pallets p
    WHERE p.unknown IS NOT NULL
    ON CONFLICT (message_id, rule) DO NOTHING
    RETURNING 1
),
known_contents AS (
    UPDATE core.findings f
    SET resolved_at = now(), resolution = 'reference_arrived'
    FROM pallets p
    WHERE p.unknown IS NULL AND f.message_id = p.message_id AND f.rule = %(container_rule)s
      AND f.resolved_at IS NULL
    RETURNING 1
)
SELECT (SELECT count(*) FROM taken) AS taken,
       (SELECT count(*) FROM batch) AS linked,
       (SELECT count(*) FROM new_edges) AS edges,
       (SELECT count(*) FROM new_locations) + (SELECT count(*) FROM new_contained)
           AS lot_locations,
       (SELECT max(queue_no) FROM taken) AS last_queue_no
"""

# Containment landed since the last run (0016): recorded in core.containment; the
# parents it names come back, for _RESCOPE_PALLETS.
_APPLY_CONTAINMENT_SQL = """
INSERT INTO core.containment (containment_id, actor_id, message_id, parent_id, action,
                              event_time, lot_code, product_code, quantity, unit,
                              source_document_id)
SELECT l.containment_id, l.actor_id, l.message_id, l.parent_id, l.action, l.event_time,
       l.lot_code, l.product_code, l.quantity, l.unit, l.source_document_id
FROM landing.epcis_containment l
WHERE NOT EXISTS (SELECT 1 FROM core.containment c WHERE c.containment_id = l.containment_id)
ORDER BY l.ingest_seq
ON CONFLICT DO NOTHING
RETURNING parent_id
"""

# Containment whose AggregationEvent was declared wrong since (core.retractions; few):
# marked once, its parents come back for _RESCOPE_PALLETS like new containment.
_APPLY_RETRACTED_CONTAINMENT_SQL = """
UPDATE core.containment c SET retraction_applied = true
FROM (SELECT DISTINCT message_id FROM core.retractions) r
WHERE c.message_id = r.message_id AND NOT c.retraction_applied
RETURNING c.parent_id
"""

# The events naming those pallets: their pallet-derived rows that no longer hold
# (a later DELETE, a changed quantity) go, and the events are queued again, so the
# next drain adds what holds now.
_RESCOPE_PALLETS_SQL = """
WITH naming AS MATERIALIZED (
    SELECT DISTINCT el.message_id, el.event_time
    FROM core.event_lots el
    WHERE el.lot_code = ANY(%(parents)s) AND el.product_code = %(container_product)s
),
stale AS (
    DELETE FROM core.lot_locations ll
    USING naming n
    WHERE ll.message_id = n.message_id AND ll.via_container IS NOT NULL
      -- every lot these pallets ever held: index lookups on the graph's key
      AND ll.lot_code IN (SELECT c.lot_code FROM core.containment c
                          WHERE c.parent_id = ANY(%(parents)s) AND c.lot_code IS NOT NULL)
      AND NOT EXISTS (
          SELECT 1 FROM core.event_container_lots(n.message_id, n.event_time) c
          WHERE c.lot_code = ll.lot_code AND c.quantity IS NOT DISTINCT FROM ll.quantity
            AND c.unit IS NOT DISTINCT FROM ll.unit
            AND c.via_container IS NOT DISTINCT FROM ll.via_container)
    RETURNING 1
),
queued AS (
    INSERT INTO core.link_queue (source, message_id, event_time)
    SELECT 'event', message_id, event_time FROM naming
    RETURNING 1
)
SELECT (SELECT count(*) FROM stale), (SELECT count(*) FROM queued)
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
SELECT (SELECT count(*) FROM taken) AS taken,
       (SELECT count(*) FROM batch) AS linked,
       0 AS edges,
       (SELECT count(*) FROM new_locations) AS lot_locations,
       (SELECT max(queue_no) FROM taken) AS last_queue_no
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
    UNION  -- the lots it placed through its pallets (every lot they ever held)
    SELECT DISTINCT el.message_id, c.lot_code, 'lot'
    FROM (SELECT DISTINCT message_id FROM core.retractions) r
    JOIN core.event_lots el ON el.message_id = r.message_id
                           AND el.product_code = %(container_product)s
    JOIN core.containment c ON c.parent_id = el.lot_code AND c.lot_code IS NOT NULL
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


def _rule_params() -> dict[str, Any]:
    columns = list(zip(*ROLE_RULES, strict=True))
    names = ["r_event", "r_lot_role", "r_role", "r_place", "r_counterparty"]
    params: dict[str, Any] = {name: list(col) for name, col in zip(names, columns, strict=True)}
    return params | {"container_product": CONTAINER_PRODUCT, "container_rule": CONTAINER_RULE}


Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class _Batch:
    """What one batch statement (_EVENTS_SQL, _LAB_RESULTS_SQL) did."""

    taken: int  # queue rows taken off
    linked: int  # rows linked (a retracted event is taken off, not linked)
    edges: int
    lot_locations: int
    last_queue_no: int | None  # the highest queue_no taken (None: none)


@dataclass(frozen=True)
class _Drained:
    """What draining one source of the queue did, over all its batches."""

    rows: int = 0
    edges: int = 0
    lot_locations: int = 0
    batches: int = 0


def _drain(
    conn: psycopg.Connection,
    sql: str,
    params: dict[str, Any],
    batch_size: int,
    source: str,
    progress: Progress | None,
) -> _Drained:
    """Take batches of `source` off the queue until it is empty, one commit each.

    Batches follow the queue from a cursor, so a long run never rescans the dead
    rows of batches it already took; rows queued behind the cursor meanwhile (a
    promotion that drew its queue number earlier but committed later) are picked
    up by one more pass from the start.
    """
    rows = edges = locations = batches = 0
    after = 0
    while True:
        with conn.transaction(), conn.cursor(row_factory=class_row(_Batch)) as cur:
            batch = one(cur.execute(
                sql, {**params, "source": source, "batch_size": batch_size, "after": after}
            ))
        batches += 1
        rows += batch.linked
        edges += batch.edges
        locations += batch.lot_locations
        if progress is not None:
            progress(source, rows)
        if batch.taken == batch_size and batch.last_queue_no is not None:
            after = batch.last_queue_no
        elif after == 0:
            return _Drained(rows, edges, locations, batches)
        else:
            after = 0  # one more pass for rows queued behind the cursor


def link(
    conn: psycopg.Connection,
    *,
    batch_size: int = 50_000,
    full: bool = False,
    progress: Progress | None = None,
) -> LinkStats:
    """Link every promoted event and lab result not linked yet; commits on `conn`
    batch by batch (module doc: Transactions).

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
        conn.commit()  # link owns the connection's transactions (module doc)
    if full:
        with conn.transaction():
            conn.execute(_REQUEUE_SQL)
    applied, withdrawn = _apply_containment(conn)
    ev = _drain(conn, _EVENTS_SQL, _rule_params(), batch_size, "event", progress)
    lab = _drain(conn, _LAB_RESULTS_SQL, {}, batch_size, "lab_result", progress)
    with conn.transaction():
        gone_edges, gone_locations = one(conn.execute(
            _RETRACT_SQL, {"container_product": CONTAINER_PRODUCT}))
    return LinkStats(
        events=ev.rows,
        lab_results=lab.rows,
        edges=ev.edges,
        lot_locations=ev.lot_locations + lab.lot_locations,
        batches=ev.batches + lab.batches,
        seconds=round(time.perf_counter() - started, 3),
        retracted_edges=gone_edges,
        retracted_lot_locations=gone_locations,
        containment=applied,
        pallet_rows_withdrawn=withdrawn,
    )


def _apply_containment(conn: psycopg.Connection) -> tuple[int, int]:
    """Record the pallet containment landed (or declared wrong) since the last run
    and re-queue the events naming those pallets (one commit); (rows applied, graph
    rows withdrawn)."""
    with conn.transaction():
        rows = conn.execute(_APPLY_CONTAINMENT_SQL).fetchall()
        retracted = conn.execute(_APPLY_RETRACTED_CONTAINMENT_SQL).fetchall()
        if not rows and not retracted:
            return 0, 0
        withdrawn, _ = one(conn.execute(_RESCOPE_PALLETS_SQL, {
            "parents": sorted({parent_id for (parent_id,) in [*rows, *retracted]}),
            "container_product": CONTAINER_PRODUCT}))
    return len(rows) + len(retracted), withdrawn
