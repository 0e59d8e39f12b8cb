"""Write one batch of checked MQTT messages into landing.* in ONE transaction.

Rows are COPYed into per-connection temporary staging tables, then moved with
INSERT ... SELECT ... ON CONFLICT DO NOTHING, so a redelivered message (same
message_id, or for quarantine the same bytes) is stored once, inside a batch as
well as across batches. Only INSERT on landing.* / ops.ingest_stats and TEMP on
the database are needed: the least-privilege role foodtrace_ingest suffices
(the row counts come from the INSERTs' row counts, no SELECT on landing needed).

The caller acknowledges the batch's MQTT messages only after `write_batch` has
returned, i.e. after COMMIT: that is the whole "nothing lost" guarantee.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from foodtrace.ingest.messages import Accepted, EdgeResult, Reason
from foodtrace.ingest.stats import BatchCounts, lag_seconds

QUARANTINE_STAGE_EDGE = "edge"
# Reason code of a message the edge accepted but PostgreSQL refused to store.
STORAGE_REFUSED = "storage"


@dataclass(frozen=True)
class LandingItem:
    """One MQTT message after the edge checks, as the consumer received it."""

    result: EdgeResult
    received_at: datetime
    sent_at: datetime | None = None  # the publisher's `sent_at` user property, if any
    raw: bytes = b""  # the whole payload: quarantined as is if the database refuses it


def quarantine_dedup_key(
    stage: str, topic: str | None, raw: bytes, element_index: int | None
) -> bytes:
    """sha256 over (stage, topic, raw, element_index), length-prefixed so that no
    two different tuples can hash the same input (raw bytes may contain anything)."""
    h = hashlib.sha256()
    for part in (
        stage.encode(),
        (topic or "").encode(),
        raw,
        b"" if element_index is None else str(element_index).encode(),
    ):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.digest()


# --- staging tables (temporary, per connection, emptied at every commit) ---------

_STAGING_DDL = (
    """CREATE TEMP TABLE IF NOT EXISTS ft_stage_elements (
           ord integer NOT NULL, kind text NOT NULL, message_id uuid NOT NULL,
           sender_id text NOT NULL, natural_key text, topic text NOT NULL,
           received_at timestamptz NOT NULL, document_id uuid, payload jsonb NOT NULL
       ) ON COMMIT DELETE ROWS""",
    """CREATE TEMP TABLE IF NOT EXISTS ft_stage_documents (
           ord integer NOT NULL, document_id uuid NOT NULL, actor_id text NOT NULL,
           topic text NOT NULL, received_at timestamptz NOT NULL, raw bytea NOT NULL,
           document jsonb NOT NULL, not_used jsonb NOT NULL,
           containment jsonb NOT NULL DEFAULT '[]'
       ) ON COMMIT DELETE ROWS""",
    """CREATE TEMP TABLE IF NOT EXISTS ft_stage_quarantine (
           ord integer NOT NULL, dedup_key bytea NOT NULL, topic text, sender_id text,
           message_id uuid, element_index integer, raw bytea NOT NULL,
           reasons jsonb NOT NULL, received_at timestamptz NOT NULL
       ) ON COMMIT DELETE ROWS""",
)

_prepared: weakref.WeakSet[psycopg.Connection] = weakref.WeakSet()


def prepare_connection(conn: psycopg.Connection) -> None:
    """Create the staging tables on this connection (once; commits)."""
    if conn in _prepared:
        return
    with conn.cursor() as cur:
        for ddl in _STAGING_DDL:
            cur.execute(ddl)
    conn.commit()
    _prepared.add(conn)


# --- moving staged rows into landing: DISTINCT ON makes in-batch repeats count as
# duplicates deterministically (the first delivery wins), ON CONFLICT the earlier ones.
# The conflict target is left out on purpose: naming it (ON CONFLICT (message_id))
# needs SELECT on that column, which foodtrace_ingest does not have. Each landing
# table has exactly one unique key that a row can hit (the other is an identity),
# so untargeted DO NOTHING means the same thing.

_INSERT_DOCUMENTS = """
INSERT INTO landing.epcis_documents (document_id, actor_id, topic, received_at, raw, document,
                                     not_used)
SELECT DISTINCT ON (document_id) document_id, actor_id, topic, received_at, raw, document,
       not_used
FROM ft_stage_documents ORDER BY document_id, ord
ON CONFLICT DO NOTHING"""

# What the documents' AggregationEvents put into pallets (0016; ingest/epcis_lines.py).
_INSERT_CONTAINMENT = """
INSERT INTO landing.epcis_containment (containment_id, actor_id, received_at, source_document_id,
                                       message_id, parent_id, action, event_time, lot_code,
                                       product_code, quantity, unit)
SELECT DISTINCT ON (c.containment_id) c.containment_id, d.actor_id, d.received_at, d.document_id,
       c.message_id, c.parent_id, c.action, c.event_time, c.lot_code, c.product_code,
       c.quantity, c.unit
FROM ft_stage_documents d
CROSS JOIN LATERAL jsonb_to_recordset(d.containment) AS c (
    containment_id uuid, message_id uuid, parent_id text, action text, event_time timestamptz,
    lot_code text, product_code text, quantity numeric, unit text)
ORDER BY c.containment_id, d.ord
ON CONFLICT DO NOTHING"""

_INSERT_LAB_RESULTS = """
INSERT INTO landing.lab_results (message_id, lab_id, topic, received_at, payload)
SELECT DISTINCT ON (message_id) message_id, sender_id, topic, received_at, payload
FROM ft_stage_elements WHERE kind = 'lab_result' ORDER BY message_id, ord
ON CONFLICT DO NOTHING"""

_INSERT_CHAIN_EVENTS = """
INSERT INTO landing.chain_events (message_id, actor_id, topic, received_at,
                                  source_document_id, payload)
SELECT DISTINCT ON (message_id) message_id, sender_id, topic, received_at, document_id, payload
FROM ft_stage_elements WHERE kind = 'chain_event' ORDER BY message_id, ord
ON CONFLICT DO NOTHING"""

_INSERT_DECLARATIONS = """
INSERT INTO landing.epcis_declarations (message_id, actor_id, topic, received_at,
                                        source_document_id, payload)
SELECT DISTINCT ON (message_id) message_id, sender_id, topic, received_at, document_id, payload
FROM ft_stage_elements WHERE kind = 'epcis_declaration' ORDER BY message_id, ord
ON CONFLICT DO NOTHING"""

_INSERT_MASTER_DATA = """
INSERT INTO landing.master_data (message_id, kind, natural_key, topic, received_at, payload)
SELECT DISTINCT ON (message_id) message_id, kind, natural_key, topic, received_at, payload
FROM ft_stage_elements WHERE kind IN ('location', 'product') ORDER BY message_id, ord
ON CONFLICT DO NOTHING"""

_INSERT_WITHDRAWAL_REPORTS = """
INSERT INTO landing.withdrawal_reports (message_id, actor_id, topic, received_at, payload)
SELECT DISTINCT ON (message_id) message_id, sender_id, topic, received_at, payload
FROM ft_stage_elements WHERE kind = 'withdrawal_report' ORDER BY message_id, ord
ON CONFLICT DO NOTHING"""

_INSERT_QUARANTINE = """
INSERT INTO landing.quarantine (dedup_key, stage, received_at, topic, sender_id, message_id,
                                element_index, raw, reasons)
SELECT DISTINCT ON (dedup_key) dedup_key, 'edge', received_at, topic, sender_id, message_id,
       element_index, raw, reasons
FROM ft_stage_quarantine ORDER BY dedup_key, ord
ON CONFLICT DO NOTHING
RETURNING dedup_key"""

_INSERT_STATS = """
INSERT INTO ops.ingest_stats (ts, worker_id, received, stored, duplicates, quarantined,
                              lag_avg_s, lag_max_s, lag_count)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"""


def _json(value: object) -> str:
    # PostgreSQL parses it into jsonb; ensure_ascii keeps odd code points escaped.
    return json.dumps(value, separators=(",", ":"))


def _payload_json(acc: Accepted) -> str:
    """The payload as JSON text: as received when the edge kept it (re-encoding every
    message was a tenth of the consumer's time), else encoded."""
    return acc.json_text if acc.json_text is not None else _json(acc.payload)


def write_batch(
    conn: psycopg.Connection,
    items: Sequence[LandingItem],
    worker_id: str,
    *,
    extra_rejections: Sequence[tuple[LandingItem, Reason]] = (),
) -> BatchCounts:
    """Land `items` and one ops.ingest_stats row, commit, return the counts.

    `extra_rejections` quarantines whole messages for a reason found after the edge
    (the database refused them), in the same transaction. On any exception the
    transaction is rolled back (when the connection still allows it) and the
    exception propagates: nothing of the batch is stored, nothing may be acked.
    """
    prepare_connection(conn)
    staged = _Staged.of(items, extra_rejections)
    try:
        with conn.cursor() as cur:
            # Only what the batch holds: a batch of lab results is one COPY and one
            # INSERT, not a round trip per landing table.
            for copy_sql, rows in (
                (_COPY_DOCUMENTS, staged.documents),
                (_COPY_ELEMENTS, staged.elements),
                (_COPY_QUARANTINE, staged.quarantine),
            ):
                if rows:
                    with cur.copy(copy_sql) as copy:
                        for row in rows:
                            copy.write_row(row)
            if staged.documents:
                cur.execute(_INSERT_DOCUMENTS)
                if staged.containment:
                    cur.execute(_INSERT_CONTAINMENT)
            stored = 0
            for kinds, sql in _ELEMENT_INSERTS:
                if kinds & staged.kinds:
                    cur.execute(sql)
                    stored += max(cur.rowcount, 0)
            quarantined = 0
            new_keys: frozenset[bytes] = frozenset()
            if staged.quarantine:
                cur.execute(_INSERT_QUARANTINE)
                new_keys = frozenset(bytes(r[0]) for r in cur.fetchall())
                quarantined = len(new_keys)
            commit_time = datetime.now(UTC)
            lag_avg, lag_max = lag_seconds(
                commit_time, (it.sent_at or it.received_at for it in items)
            )
            received = len(staged.elements) + len(staged.quarantine)
            counts = BatchCounts(
                received=received,
                stored=stored,
                duplicates=received - stored - quarantined,
                quarantined=quarantined,
                lag_avg_s=lag_avg,
                lag_max_s=lag_max,
                lag_n=len(items) if lag_avg is not None else 0,
                new_quarantine_keys=new_keys,
            )
            cur.execute(
                _INSERT_STATS,
                (
                    commit_time,
                    worker_id,
                    counts.received,
                    counts.stored,
                    counts.duplicates,
                    counts.quarantined,
                    counts.lag_avg_s,
                    counts.lag_max_s,
                    counts.lag_n,  # the dashboard's average: sum(avg * count) / sum(count)
                ),
            )
        conn.commit()
    except BaseException:
        if not conn.closed:
            try:
                conn.rollback()
            except psycopg.Error:
                conn.close()  # unusable; the caller reconnects
        raise
    return counts


_COPY_DOCUMENTS = (
    "COPY ft_stage_documents (ord, document_id, actor_id, topic, received_at, raw, document,"
    " not_used, containment) FROM STDIN"
)
_COPY_ELEMENTS = (
    "COPY ft_stage_elements (ord, kind, message_id, sender_id, natural_key, topic,"
    " received_at, document_id, payload) FROM STDIN"
)
_COPY_QUARANTINE = (
    "COPY ft_stage_quarantine (ord, dedup_key, topic, sender_id, message_id, element_index,"
    " raw, reasons, received_at) FROM STDIN"
)
_ELEMENT_INSERTS = (
    (frozenset({"lab_result"}), _INSERT_LAB_RESULTS),
    (frozenset({"chain_event"}), _INSERT_CHAIN_EVENTS),
    (frozenset({"epcis_declaration"}), _INSERT_DECLARATIONS),
    (frozenset({"location", "product"}), _INSERT_MASTER_DATA),
    (frozenset({"withdrawal_report"}), _INSERT_WITHDRAWAL_REPORTS),
)


@dataclass
class _Staged:
    """The staging rows of one batch, in COPY column order."""

    documents: list[tuple[Any, ...]]
    elements: list[tuple[Any, ...]]
    quarantine: list[tuple[Any, ...]]
    kinds: set[str]
    containment: bool = False  # a document holds pallet containment rows

    @classmethod
    def of(
        cls,
        items: Sequence[LandingItem],
        extra_rejections: Sequence[tuple[LandingItem, Reason]],
    ) -> _Staged:
        staged = cls([], [], [], set())
        for ord_, item in enumerate(items):
            topic, sender = item.result.topic, item.result.sender_id
            for doc in item.result.documents:
                staged.documents.append(
                    (
                        ord_,
                        doc.document_id,
                        doc.actor_id,
                        topic,
                        item.received_at,
                        doc.raw,
                        _json(doc.document),
                        _json(doc.not_used),
                        _json(doc.containment),
                    )
                )
                staged.containment = staged.containment or bool(doc.containment)
            for acc in item.result.accepted:
                staged.kinds.add(acc.kind)
                staged.elements.append(
                    (
                        ord_,
                        acc.kind,
                        acc.message_id,
                        acc.sender_id,
                        acc.natural_key,
                        topic,
                        item.received_at,
                        acc.document_id,
                        _payload_json(acc),
                    )
                )
            for rej in item.result.rejected:
                key = quarantine_dedup_key(QUARANTINE_STAGE_EDGE, topic, rej.raw, rej.element_index)
                staged.quarantine.append(
                    (
                        ord_,
                        key,
                        topic,
                        sender,
                        rej.message_id,
                        rej.element_index,
                        rej.raw,
                        _json([r.as_dict() for r in rej.reasons]),
                        item.received_at,
                    )
                )
        for ord_, (item, reason) in enumerate(extra_rejections, start=len(items)):
            topic = item.result.topic
            staged.quarantine.append(
                (
                    ord_,
                    quarantine_dedup_key(QUARANTINE_STAGE_EDGE, topic, item.raw, None),
                    topic,
                    item.result.sender_id,
                    None,
                    None,
                    item.raw,
                    _json([reason.as_dict()]),
                    item.received_at,
                )
            )
        return staged


# --- a connection that survives the database going away ---------------------------


class StorageUnavailable(RuntimeError):
    """The batch could not be committed now; keep it, do not acknowledge, retry later."""


# Errors that depend on the data, not on the database being up: a payload the
# database refuses (NUL in a JSON string, a bad surrogate, a broken reference).
_DATA_ERRORS = (psycopg.DataError, psycopg.IntegrityError)


class LandingWriter:
    """Owns one connection for a worker; reconnects after failures.

    `write` either commits the whole batch and returns its counts, or raises
    StorageUnavailable with nothing acknowledged-worthy. A batch the database refuses
    because of one message's data is split: each message alone, and the ones still
    refused are quarantined whole with a 'storage' reason, so one poison message can
    neither block the stream forever nor be dropped.
    """

    def __init__(self, database_url: str, worker_id: str, *, connect_timeout_s: int = 5) -> None:
        self.database_url = database_url
        self.worker_id = worker_id
        self.connect_timeout_s = connect_timeout_s
        self._conn: psycopg.Connection | None = None

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            from foodtrace.db import connect

            self._conn = connect(self.database_url, connect_timeout=self.connect_timeout_s)
            prepare_connection(self._conn)
        return self._conn

    def check(self) -> None:
        """Connect now (at start-up) so a wrong URL shows at once; raises
        StorageUnavailable like `write`."""
        try:
            self._connection()
        except psycopg.Error as exc:
            raise self._unavailable(exc) from exc

    def close(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.close()
        self._conn = None

    def write(self, items: Sequence[LandingItem]) -> BatchCounts:
        try:
            return write_batch(self._connection(), items, self.worker_id)
        except _DATA_ERRORS:
            return self._write_one_by_one(items)
        except psycopg.Error as exc:
            raise self._unavailable(exc) from exc

    def _write_one_by_one(self, items: Sequence[LandingItem]) -> BatchCounts:
        total = BatchCounts()
        for item in items:
            try:
                counts = write_batch(self._connection(), [item], self.worker_id)
            except _DATA_ERRORS as exc:
                reason = Reason(
                    STORAGE_REFUSED,
                    "the database refused this message: "
                    + _printable(str(exc).splitlines()[0] if str(exc) else type(exc).__name__),
                )
                try:
                    counts = write_batch(
                        self._connection(), [], self.worker_id, extra_rejections=[(item, reason)]
                    )
                except psycopg.Error as exc2:
                    raise self._unavailable(exc2) from exc2
            except psycopg.Error as exc:
                raise self._unavailable(exc) from exc
            total = _add(total, counts)
        return total

    def _unavailable(self, exc: psycopg.Error) -> StorageUnavailable:
        # Reconnect on the next try whatever it was: after a lost connection that is
        # required, after a missing table or grant it picks up the operator's fix.
        self.close()
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        hint = (
            "database unreachable"
            if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
            else "database refused the batch (schema or grants?)"
        )
        return StorageUnavailable(f"{hint}: {type(exc).__name__}: {_printable(first_line)}")


def _printable(text: str) -> str:
    return "".join(ch for ch in text if ch == "\n" or ch >= " ")[:500]


def _add(a: BatchCounts, b: BatchCounts) -> BatchCounts:
    """Two batches' counts as one; the average lag weighted by each batch's messages
    (total lag / count: averaging the averages would weigh later batches more)."""
    lag_max = max((x for x in (a.lag_max_s, b.lag_max_s) if x is not None), default=None)
    n = a.lag_n + b.lag_n
    lag_avg = ((a.lag_avg_s or 0.0) * a.lag_n + (b.lag_avg_s or 0.0) * b.lag_n) / n if n else None
    return BatchCounts(
        received=a.received + b.received,
        stored=a.stored + b.stored,
        duplicates=a.duplicates + b.duplicates,
        quarantined=a.quarantined + b.quarantined,
        lag_avg_s=lag_avg,
        lag_max_s=lag_max,
        lag_n=n,
        new_quarantine_keys=a.new_quarantine_keys | b.new_quarantine_keys,
    )
