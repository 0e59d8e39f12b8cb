"""A surviving worker takes over the MQTT session of a peer that fell silent.

Mosquitto (2.0 and, by its source, 2.1 too) dispatches a shared subscription's
messages round-robin over the group's members whether or not their client is
connected; an offline member's persistent session queues its share until that
client id connects again. A worker SIGKILLed for good would park half the traffic.

So at every heartbeat a worker looks for peers whose heartbeat is older than
`ConsumerConfig.takeover_after_s` (FOODTRACE_INGEST_TAKEOVER_S, default 30 s) and,
once it has itself run that long (peers restarting with it get the chance to come
back first), takes one over in a thread of its own:

1. under the group's advisory lock (one takeover at a time, across all workers) and
   the peer's own id lock (the peer, restarting, waits for it), checks again that
   the peer is still silent;
2. runs exactly what `foodtrace ingest --worker-id PEER --retire` runs: an
   IngestConsumer with the peer's client id, clean_start False, that leaves the
   shared group, lands what the session holds through the same LandingWriter with
   manual acknowledgements after each commit, and once nothing has come for 2 s
   disconnects with session expiry 0, which ends the session;
3. records the takeover in ops.ingest_takeovers and the peer as `taken_over`.

A peer that comes back later under its id starts with a fresh session. If the
connection drops during the drain (the peer came back, or an old-version worker
reconnected), the takeover stops: what it committed it acknowledged, the rest stays
in the session for whoever connects next; it is recorded `interrupted`, and the
peer is not tried again before another full limit has passed.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import psycopg
from foodtrace.ingest import workers
from foodtrace.ingest.stats import IngestTotals
from foodtrace.ingest.workers import SilentWorker, WorkerRegistry

if TYPE_CHECKING:
    from foodtrace.ingest.consumer import ConsumerConfig, IngestConsumer

log = logging.getLogger("foodtrace.ingest")

DRAIN_IDLE_S = 2.0  # the session is drained once nothing has come for this long

_RECORD = """
INSERT INTO ops.ingest_takeovers (worker_id, by_worker_id, last_heartbeat, started_at,
    finished_at, session_present, messages, stored, duplicates, quarantined, outcome, detail)
VALUES (%(worker_id)s, %(by_worker_id)s, %(last_heartbeat)s, %(started_at)s, %(finished_at)s,
    %(session_present)s, %(messages)s, %(stored)s, %(duplicates)s, %(quarantined)s,
    %(outcome)s, %(detail)s)"""


@dataclass(frozen=True)
class TakeoverRecord:
    worker_id: str  # whose session
    by_worker_id: str
    last_heartbeat: datetime
    started_at: datetime
    finished_at: datetime
    session_present: bool | None
    messages: int
    stored: int
    duplicates: int
    quarantined: int
    outcome: str  # drained | interrupted | failed
    detail: str | None = None


def drain_config(config: ConsumerConfig, worker_id: str) -> ConsumerConfig:
    """The survivor's settings, as `--retire` for the silent peer's id."""
    return dataclasses.replace(
        config,
        worker_id=worker_id,
        retire=True,
        idle_exit_s=DRAIN_IDLE_S,
        max_messages=None,
        takeover_after_s=0.0,
    )


def take_over(
    config: ConsumerConfig, peer: SilentWorker, stop: threading.Event
) -> TakeoverRecord | None:
    """Take over `peer`'s session; None when another worker is taking one over or
    the peer is no longer silent. Raises psycopg.Error when the database is away."""
    from foodtrace.ingest.consumer import IngestConsumer  # at run time: no import cycle

    from foodtrace.db import connect

    with connect(config.database_url, autocommit=True, connect_timeout=5) as conn:
        # Both session locks go with this connection, whatever happens below.
        if not workers.try_lock_group(conn) or not workers.try_lock_worker(conn, peer.worker_id):
            return None
        still = workers.silent_workers(
            conn, config.worker_id, config.takeover_after_s, worker_id=peer.worker_id
        )
        if not still:
            return None
        peer = still[0]
        log.warning(
            "worker %s has not been seen for %.1fs (%s): taking over its MQTT session, "
            "which still receives a share of the traffic",
            peer.worker_id,
            peer.silent_s,
            peer.state,
        )
        started = datetime.now(UTC)
        drain = IngestConsumer(drain_config(config, peer.worker_id), takeover_by=config.worker_id)
        detail: str | None = None
        try:
            result = drain.run(stop)
            outcome = "drained" if drain.drained else "interrupted"
            if outcome != "drained":
                detail = result.stopped_because
        except Exception as exc:  # a broken drain must not take the survivor with it
            outcome, detail = "failed", f"{type(exc).__name__}: {exc}"[:500]
        record = _record(peer, config.worker_id, started, drain, outcome, detail)
        conn.execute(_RECORD, dataclasses.asdict(record))
        if outcome == "drained":
            workers.mark_session_ended(conn, peer.worker_id, drain.config.client_id, "taken_over")
        return record


def _record(
    peer: SilentWorker,
    by: str,
    started: datetime,
    drain: IngestConsumer,
    outcome: str,
    detail: str | None,
) -> TakeoverRecord:
    t: IngestTotals = drain.totals
    return TakeoverRecord(
        worker_id=peer.worker_id,
        by_worker_id=by,
        last_heartbeat=peer.last_heartbeat,
        started_at=started,
        finished_at=datetime.now(UTC),
        session_present=drain.session_present,
        messages=t.messages,
        stored=t.stored,
        duplicates=t.duplicates,
        quarantined=t.quarantined,
        outcome=outcome,
        detail=detail,
    )


class Takeovers:
    """A worker's side of it: `poll()` at every heartbeat (main thread) looks for a
    silent peer and starts at most one takeover thread; finished takeovers are
    logged and counted in the worker's totals. `close()` stops a running one."""

    def __init__(self, config: ConsumerConfig, registry: WorkerRegistry, totals: IngestTotals):
        self.config = config
        self.registry = registry
        self.totals = totals
        self._not_before = time.monotonic() + config.takeover_after_s
        self._retry_at: dict[str, float] = {}  # peer -> monotonic time of the next try
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._outcome: TakeoverRecord | None = None

    def poll(self) -> None:
        if self._thread is not None:
            if self._thread.is_alive():
                return
            self._collect()
        now = time.monotonic()
        if now < self._not_before:
            return
        peers = [
            p
            for p in self.registry.silent_peers(self.config.takeover_after_s)
            if self._retry_at.get(p.worker_id, 0.0) <= now
        ]
        if peers:
            self._start(peers[0])

    def _start(self, peer: SilentWorker) -> None:
        self._stop = threading.Event()
        self._outcome = None
        # Whatever the outcome, not this peer again before another limit (a success
        # leaves it `taken_over`, so it is not silent-with-a-session any more).
        self._retry_at[peer.worker_id] = time.monotonic() + self.config.takeover_after_s
        self._thread = threading.Thread(
            target=self._run, args=(peer,), name=f"takeover-{peer.worker_id}", daemon=True
        )
        self._thread.start()

    def _run(self, peer: SilentWorker) -> None:
        try:
            self._outcome = take_over(self.config, peer, self._stop)
        except psycopg.Error as exc:
            log.warning("takeover of worker %s's session not done: %s", peer.worker_id, exc)
        except Exception:  # never let it kill the worker's thread silently
            log.exception("takeover of worker %s's session failed", peer.worker_id)

    def _collect(self) -> None:
        record, self._thread, self._outcome = self._outcome, None, None
        if record is None:
            return
        self.totals.takeovers += 1
        self.totals.takeover_messages += record.messages
        seconds = (record.finished_at - record.started_at).total_seconds()
        if record.outcome == "drained":
            log.warning(
                "took over worker %s's session in %.1fs: %d messages landed (%d stored, "
                "%d duplicates, %d quarantined); its session is closed",
                record.worker_id,
                seconds,
                record.messages,
                record.stored,
                record.duplicates,
                record.quarantined,
            )
        else:
            log.warning(
                "takeover of worker %s's session %s after %.1fs (%s): %d messages landed, "
                "the rest stays in its session",
                record.worker_id,
                record.outcome,
                seconds,
                record.detail,
                record.messages,
            )

    def close(self, timeout: float) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("the takeover of a silent worker's session did not stop in %gs", timeout)
            return
        self._collect()
