"""The ingest group's members in ops.ingest_workers: registration, heartbeats, the
peers that fell silent, and the record of a takeover (ops.ingest_takeovers).

Why: Mosquitto keeps dispatching a shared subscription's share to a member whose
client is gone; its persistent session queues it until that client id connects
again. So every worker heartbeats (from its loop, with or without traffic), and a
survivor takes over the session of a peer that has been silent for longer than
FOODTRACE_INGEST_TAKEOVER_S (ingest/takeover.py).

Times are the database's (`now()`), never a worker's clock. Advisory locks:
- the group lock (one takeover at a time across all workers), held by a takeover;
- one lock per worker id (`hashtext(worker_id)`), held by whoever is about to use
  that id's MQTT session other than the worker itself: a takeover, or `--retire`.
  A worker starting under an id waits for it, so it never connects with the same
  client id as a takeover in progress (the two would throw each other off).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import psycopg

from foodtrace.config import ConfigError
from foodtrace.db.rows import one

log = logging.getLogger("foodtrace.ingest")

TAKEOVER_ENV = "FOODTRACE_INGEST_TAKEOVER_S"
DEFAULT_TAKEOVER_S = 30.0
# A session the broker may still hold, with a share of the traffic queueing in it.
OPEN_STATES = ("running", "stopped", "seen")
_GROUP_LOCK_CLASS = 0x46540001  # (class, 0): one takeover at a time
_WORKER_LOCK_CLASS = 0x46540002  # (class, hashtext(worker_id)): one user of a session


def takeover_after_from_env(environ: Mapping[str, str] | None = None) -> float:
    """FOODTRACE_INGEST_TAKEOVER_S of `environ` (the entry point's; default: the
    process's environment): seconds of silence before a peer's session is taken
    over; 0 turns takeovers off (startup still warns); default 30."""
    raw = (os.environ if environ is None else environ).get(TAKEOVER_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_TAKEOVER_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not (value == 0 or 1 <= value <= 7 * 24 * 3600):
        raise ConfigError(
            f"{TAKEOVER_ENV} must be 0 (no takeovers) or seconds between 1 and a week, got {raw!r}"
        )
    return value


@dataclass(frozen=True)
class SilentWorker:
    worker_id: str
    state: str
    last_heartbeat: datetime
    silent_s: float  # seconds since its last heartbeat, by the database's clock


_SILENT = """
SELECT worker_id, state, last_heartbeat, extract(epoch FROM now() - last_heartbeat)::float8
FROM ops.ingest_workers
WHERE state = ANY(%(open)s) AND worker_id <> %(me)s
  AND (%(only)s::text IS NULL OR worker_id = %(only)s)
  AND last_heartbeat < now() - make_interval(
        secs => greatest(%(limit)s::float8, 3 * coalesce(heartbeat_s, 0)))
ORDER BY last_heartbeat"""

_REGISTER = """
INSERT INTO ops.ingest_workers (worker_id, client_id, state, host, pid, started_at,
                                last_heartbeat, heartbeat_s)
VALUES (%(id)s, %(client)s, 'running', %(host)s, %(pid)s, now(), now(), %(beat)s)
ON CONFLICT (worker_id) DO UPDATE SET
    client_id = EXCLUDED.client_id, state = 'running', host = EXCLUDED.host,
    pid = EXCLUDED.pid, started_at = now(), last_heartbeat = now(),
    heartbeat_s = EXCLUDED.heartbeat_s, session_ended_at = NULL"""

# A beat also says "running": a worker whose session was taken over while it was
# only slow reconnects to a fresh session and is a member again.
_BEAT = """
UPDATE ops.ingest_workers SET last_heartbeat = now(), state = 'running', session_ended_at = NULL
WHERE worker_id = %s"""

_FINISH = """
INSERT INTO ops.ingest_workers (worker_id, client_id, state, last_heartbeat, session_ended_at)
VALUES (%(id)s, %(client)s, %(state)s, now(), CASE WHEN %(ended)s THEN now() END)
ON CONFLICT (worker_id) DO UPDATE SET state = EXCLUDED.state, last_heartbeat = now(),
    session_ended_at = EXCLUDED.session_ended_at"""


def silent_workers(
    conn: psycopg.Connection, me: str, limit_s: float, worker_id: str | None = None
) -> list[SilentWorker]:
    """Peers whose session may be open and whose last heartbeat is older than
    `limit_s` (or three of their own heartbeat intervals, if longer), oldest first."""
    params = {"open": list(OPEN_STATES), "me": me, "limit": limit_s, "only": worker_id}
    return [SilentWorker(*row) for row in conn.execute(_SILENT, params)]


def try_lock_group(conn: psycopg.Connection) -> bool:
    return bool(
        one(conn.execute("SELECT pg_try_advisory_lock(%s, 0)", (_GROUP_LOCK_CLASS,)))[0]
    )


def try_lock_worker(conn: psycopg.Connection, worker_id: str, *, xact: bool = False) -> bool:
    fn = "pg_try_advisory_xact_lock" if xact else "pg_try_advisory_lock"
    row = conn.execute(f"SELECT {fn}(%s, hashtext(%s))", (_WORKER_LOCK_CLASS, worker_id))
    return bool(one(row)[0])


def mark_session_ended(
    conn: psycopg.Connection, worker_id: str, client_id: str, state: str
) -> None:
    """`retired` (by the worker's own id: a last sign of life) or `taken_over` (by a
    survivor: the silent worker's last heartbeat stays what it was); nothing waits
    in its session any more."""
    if state == "taken_over":
        conn.execute(
            "UPDATE ops.ingest_workers SET state = 'taken_over', session_ended_at = now()"
            " WHERE worker_id = %s",
            (worker_id,),
        )
        return
    conn.execute(_FINISH, {"id": worker_id, "client": client_id, "state": state, "ended": True})


class WorkerRegistry:
    """One worker's row, on a connection of its own (autocommit), used from the
    worker's main thread only. Database errors never stop the worker: they are
    logged and the next heartbeat reconnects."""

    def __init__(
        self,
        database_url: str,
        worker_id: str,
        client_id: str,
        *,
        heartbeat_s: float,
        connect_timeout_s: int = 3,
    ) -> None:
        self.database_url = database_url
        self.worker_id = worker_id
        self.client_id = client_id
        self.heartbeat_s = heartbeat_s
        self.connect_timeout_s = connect_timeout_s
        self._conn: psycopg.Connection | None = None
        self._failing = False

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            from foodtrace.db import connect

            self._conn = connect(
                self.database_url, autocommit=True, connect_timeout=self.connect_timeout_s
            )
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.close()
        self._conn = None

    def register(self, stop: threading.Event, *, retiring: bool = False) -> bool:
        """Wait while another client uses this id's session (a takeover), then record
        this worker as running; when retiring, hold the id's lock until `close`
        instead (no takeover of the session it is draining). False when the
        database is away (the worker starts anyway; heartbeats retry) or on stop."""
        told = False
        while not stop.is_set():
            try:
                if self._try_register(retiring):
                    return True
            except psycopg.Error as exc:
                log.warning(
                    "cannot register worker %s in ops.ingest_workers (%s); starting anyway, "
                    "heartbeats retry",
                    self.worker_id,
                    _first_line(exc),
                )
                self._failing = True
                self._drop()
                return False
            if not told:
                log.warning(
                    "another client is using worker %s's MQTT session (a surviving worker "
                    "taking it over, or --retire): waiting until it has finished",
                    self.worker_id,
                )
                told = True
            stop.wait(0.5)
        return False

    def _try_register(self, retiring: bool) -> bool:
        conn = self._connection()
        if retiring:
            return try_lock_worker(conn, self.worker_id)
        with conn.transaction():
            if not try_lock_worker(conn, self.worker_id, xact=True):
                return False
            before = conn.execute(
                "SELECT state, host, pid, extract(epoch FROM now() - last_heartbeat)::float8,"
                " heartbeat_s, session_ended_at FROM ops.ingest_workers WHERE worker_id = %s",
                (self.worker_id,),
            ).fetchone()
            conn.execute(_REGISTER, self._row())
        if before is not None:
            self._tell_previous(*before)
        return True

    def _row(self) -> dict[str, object]:
        return {
            "id": self.worker_id,
            "client": self.client_id,
            "host": socket.gethostname()[:255],
            "pid": os.getpid(),
            "beat": self.heartbeat_s,
        }

    def _tell_previous(
        self,
        state: str,
        host: str | None,
        pid: int | None,
        silent_s: float,
        beat_s: float | None,
        ended_at: datetime | None,
    ) -> None:
        if state == "taken_over":
            log.info(
                "worker %s's previous session was taken over by a surviving worker at %s "
                "(ops.ingest_takeovers): starting with a fresh session",
                self.worker_id,
                ended_at,
            )
        elif state == "running" and silent_s < 3 * (beat_s or 0) and pid != os.getpid():
            log.warning(
                "worker id %s was heartbeating %.1fs ago from %s pid %s: if that process "
                "still runs, two processes share this id and the broker hands the session "
                "back and forth between them (if it has just died, ignore this)",
                self.worker_id,
                silent_s,
                host,
                pid,
            )

    def beat(self) -> None:
        try:
            conn = self._connection()
            if conn.execute(_BEAT, (self.worker_id,)).rowcount == 0:
                conn.execute(_REGISTER, self._row())  # the row went away: make it again
        except psycopg.Error as exc:
            if not self._failing:
                log.warning(
                    "heartbeat of worker %s failed (%s): if it stays away, a surviving worker "
                    "may take over this worker's MQTT session",
                    self.worker_id,
                    _first_line(exc),
                )
            self._failing = True
            self._drop()
            return
        if self._failing:
            log.info("heartbeat of worker %s back", self.worker_id)
        self._failing = False

    def silent_peers(self, limit_s: float) -> list[SilentWorker]:
        try:
            return silent_workers(self._connection(), self.worker_id, limit_s)
        except psycopg.Error:
            self._drop()  # beat() reports the outage
            return []

    def close(self, state: str | None) -> None:
        """Record `stopped` or `retired` (None: leave the row alone), release the
        id's lock and the connection."""
        try:
            if state is not None:
                conn = self._connection()
                if state == "retired":
                    mark_session_ended(conn, self.worker_id, self.client_id, state)
                else:
                    conn.execute(
                        _FINISH,
                        {
                            "id": self.worker_id,
                            "client": self.client_id,
                            "state": state,
                            "ended": False,
                        },
                    )
        except psycopg.Error as exc:
            log.warning(
                "cannot record worker %s as %s: %s", self.worker_id, state, _first_line(exc)
            )
        finally:
            self._drop()


def warn_about_silent(peers: list[SilentWorker], limit_s: float, takeover: bool) -> None:
    """The startup warning: sessions the shared group holds for workers not seen for
    longer than the limit (each still gets a share of the traffic)."""
    if not peers:
        return
    names = ", ".join(f"{p.worker_id} ({p.state}, silent {p.silent_s:.0f}s)" for p in peers)
    then = (
        f"a surviving worker takes each over once it has run {limit_s:g}s, unless it returns"
        if takeover
        else "takeovers are off: run `foodtrace ingest --worker-id ID --retire` for each, "
        f"or set {TAKEOVER_ENV}"
    )
    log.warning(
        "the shared group holds the sessions of %d worker(s) not seen for more than %gs: "
        "%s. The broker keeps queueing a share of the traffic in each; %s",
        len(peers),
        limit_s,
        names,
        then,
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return "".join(ch for ch in text if ch >= " ")[:300]
