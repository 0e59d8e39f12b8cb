"""The ingest consumer: MQTT in, landing.* out, nothing lost, nothing doubled.

How the guarantee is kept:
- QoS 1, persistent session (clean_start=False, long session expiry) under a FIXED
  client id per worker (`foodtrace-ingest-{worker}`): what the broker has not seen
  acknowledged it keeps, and redelivers to the same worker when it comes back.
- manual acknowledgement: a message is PUBACKed only after the transaction holding
  it has committed. A crash before the commit loses nothing (redelivered); a crash
  between commit and ack doubles nothing (landing is idempotent on message_id, and
  quarantine on a hash of the bytes).
- A database outage keeps the batch in memory, unacknowledged, and retries with
  backoff; the broker stops sending once Receive Maximum messages are unacked, so
  memory stays bounded and the rest waits at the broker (max_queued_messages 0).
- A shared subscription ($share/foodtrace-ingest/...) splits the load between workers.
  The subscriptions are renewed at every connect: Mosquitto 2.0 keeps a session's
  plain subscriptions across a broker restart but not its shared ones.

Two Mosquitto 2.0 behaviours operators must know (checked with 2.0.11):
- It keeps routing a share of the traffic to a stopped worker's session (queued until
  that client id returns; 2.0.22 and 2.1 dispatch the same way, by their source).
  So workers heartbeat in ops.ingest_workers (ingest/workers.py), and a survivor
  takes over the session of a peer silent for longer than `takeover_after_s`
  (FOODTRACE_INGEST_TAKEOVER_S, default 30 s): it lands what the session holds and
  ends it, exactly as `retire=True` (`foodtrace ingest --retire`) does for a worker
  removed on purpose (ingest/takeover.py). A worker back under that id starts fresh.
- After a broker restart, until the workers have resubscribed, publishes to the
  inbound topics are answered PUBACK 0x10 "No matching subscribers" and dropped:
  publishers must treat 0x10 as "not delivered, retry".

Threads: paho's network loop (loop_start) runs the pure edge checks and puts the
results on a queue (so checking overlaps with waiting on PostgreSQL); batching,
database work, acknowledgements and rejection notices run in the caller's thread.
paho's `ack()` and `publish()` only append to its outgoing deque and wake the loop
(paho 2.2 `_packet_queue`), which is safe from another thread. Heartbeats run in the
caller's thread too (ingest/group.py); a takeover runs in a thread of its own, with
an IngestConsumer of its own (its own paho client and database connections).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from foodtrace.ingest.group import Membership
from foodtrace.ingest.landing import (
    QUARANTINE_STAGE_EDGE,
    LandingItem,
    LandingWriter,
    StorageUnavailable,
    quarantine_dedup_key,
)
from foodtrace.ingest.messages import INTERNAL_ERROR, EdgeResult, Reason, Rejected
from foodtrace.ingest.schema_check import instant
from foodtrace.ingest.stats import IngestTotals
from foodtrace.ingest.workers import DEFAULT_TAKEOVER_S, takeover_after_from_env

from foodtrace.config import ConfigError, MqttSettings, Settings

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt
    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode

log = logging.getLogger("foodtrace.ingest")

WORKER_ID_ENV = "FOODTRACE_INGEST_WORKER_ID"
MAX_MESSAGE_BYTES_ENV = "FOODTRACE_MAX_MESSAGE_BYTES"
DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024
DEFAULT_BATCH_SIZE = 1000
DEFAULT_BATCH_MS = 200
DEFAULT_SESSION_EXPIRY_S = 7 * 24 * 3600
# deploy/mosquitto/mosquitto.conf max_inflight_messages: the broker never has more
# unacknowledged messages out to one client, so a batch can never grow beyond it.
BROKER_MAX_INFLIGHT = 5000
SENT_AT_PROPERTY = "sent_at"
SESSION_TAKEN_OVER = 0x8E  # DISCONNECT reason: another client connected with our id
TAKEOVER_CONNECT_S = 10.0  # a takeover that cannot connect by then gives up


@dataclass(frozen=True)
class ConsumerConfig:
    database_url: str
    mqtt: MqttSettings
    worker_id: str
    batch_size: int = DEFAULT_BATCH_SIZE
    batch_ms: int = DEFAULT_BATCH_MS
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    max_messages: int | None = None  # stop after this many MQTT messages (tests, bench)
    idle_exit_s: float | None = None  # stop after this long without a message
    session_expiry_s: int = DEFAULT_SESSION_EXPIRY_S
    shutdown_grace_s: float = 15.0  # how long a stop waits for the database to take the last batch
    retry_max_s: float = 10.0  # longest pause between two attempts at a database that is down
    # Retire this worker: leave the shared group, land what its session still holds,
    # then end the session. Without this, Mosquitto keeps queueing a share of the
    # traffic for a stopped worker's session until it returns (or the session expires).
    retire: bool = False
    # Take over the session of a peer whose heartbeat is older than this (seconds;
    # 0: never, only warn at startup). Give every worker of a group the same value.
    takeover_after_s: float = DEFAULT_TAKEOVER_S

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= BROKER_MAX_INFLIGHT:
            raise ValueError(
                f"batch size must be between 1 and {BROKER_MAX_INFLIGHT} (the broker's "
                "max_inflight_messages: a batch is only acknowledged once it is full or old)"
            )
        if self.retire and self.idle_exit_s is None:
            object.__setattr__(self, "idle_exit_s", 2.0)  # drained once nothing comes for 2 s
        if self.batch_ms < 1:
            raise ValueError("batch time must be at least 1 ms")
        if not (self.takeover_after_s == 0 or self.takeover_after_s >= 1):
            raise ValueError("takeover_after_s must be 0 (never) or at least 1 second")
        if not valid_worker_id(self.worker_id):
            raise ValueError(
                f"worker id {self.worker_id!r}: use letters, digits, '-', '_' or '.' (max 64)"
            )

    @property
    def client_id(self) -> str:
        return f"foodtrace-ingest-{self.worker_id}"

    @property
    def heartbeat_s(self) -> float:
        """How often this worker heartbeats (and looks for silent peers): five beats
        within the takeover limit, at most every 5 s."""
        return min(5.0, self.takeover_after_s / 5) if self.takeover_after_s else 5.0

    @property
    def takeovers_on(self) -> bool:
        """MQTT 5 only: the embedded 3.1.1 broker has no shared group (nor session
        expiry to end a session with)."""
        return self.takeover_after_s > 0 and not self.retire and self.mqtt.protocol >= 5

    @property
    def receive_maximum(self) -> int:
        """Unacked messages the broker may have out to us: room for the open batch
        and the next one filling while it commits, within the broker's own cap."""
        return min(BROKER_MAX_INFLIGHT, 2 * self.batch_size)

    @classmethod
    def from_env(cls, settings: Settings | None = None, **overrides: Any) -> ConsumerConfig:
        """Settings from FOODTRACE_DATABASE_URL, FOODTRACE_MQTT_URL,
        FOODTRACE_INGEST_WORKER_ID, FOODTRACE_MAX_MESSAGE_BYTES and
        FOODTRACE_INGEST_TAKEOVER_S of `settings` (the entry point's; default: the
        process's environment, read now); keyword arguments that are not None win."""
        env = settings if settings is not None else Settings.from_env()
        given = {k: v for k, v in overrides.items() if v is not None}
        if "database_url" not in given:
            given["database_url"] = env.database()
        if "mqtt" not in given:
            given["mqtt"] = env.mqtt()
        if "worker_id" not in given:
            given["worker_id"] = default_worker_id(env.environ)
        if "max_message_bytes" not in given:
            given["max_message_bytes"] = max_message_bytes_from_env(env.environ)
        if "takeover_after_s" not in given:
            given["takeover_after_s"] = takeover_after_from_env(env.environ)
        return cls(**given)


_WORKER_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def valid_worker_id(worker_id: str) -> bool:
    return bool(_WORKER_ID.fullmatch(worker_id))


def default_worker_id(environ: Mapping[str, str] | None = None) -> str:
    """FOODTRACE_INGEST_WORKER_ID (of `environ`; default: the process's environment),
    else the host name: stable across restarts, which is what lets a restarted
    worker pick up its own unacknowledged messages."""
    from_env = (os.environ if environ is None else environ).get(WORKER_ID_ENV)
    if from_env:
        return from_env
    host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:64]
    return host or "default"


def max_message_bytes_from_env(environ: Mapping[str, str] | None = None) -> int:
    """FOODTRACE_MAX_MESSAGE_BYTES of `environ` (default: the process's environment)."""
    raw = (os.environ if environ is None else environ).get(MAX_MESSAGE_BYTES_ENV)
    if not raw:
        return DEFAULT_MAX_MESSAGE_BYTES
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigError(f"{MAX_MESSAGE_BYTES_ENV} must be a positive integer, got {raw!r}")
    return value


def parse_sent_at(properties: Any) -> datetime | None:
    """The publisher's `sent_at` MQTT 5 user property as an aware datetime, if valid."""
    for key, value in getattr(properties, "UserProperty", None) or ():
        if key == SENT_AT_PROPERTY:
            return instant(value)
    return None


def rejection_notices(
    item: LandingItem, untold: set[bytes] | None = None
) -> list[tuple[str | None, dict[str, Any]]]:
    """(sender or None, JSON body) for every rejected element of a message: the
    notice of spec 2.4, {message_id, stage, stored, reasons, ...}; an edge rejection
    is never stored (its raw bytes are kept in quarantine only). With `untold`
    (the dedup keys of the quarantine rows the batch really inserted) only for
    those, each key taken out as it is told: a bad message redelivered or
    published again, in this batch or a later one, is told once."""
    notices: list[tuple[str | None, dict[str, Any]]] = []
    for rej in item.result.rejected:
        key = quarantine_dedup_key(
            QUARANTINE_STAGE_EDGE, item.result.topic, rej.raw, rej.element_index
        )
        if untold is not None:
            if key not in untold:
                continue
            untold.discard(key)
        notices.append(
            (
                item.result.sender_id,
                {
                    "message_id": str(rej.message_id) if rej.message_id else None,
                    "stage": "edge",
                    "stored": False,
                    "topic": item.result.topic,
                    "element_index": rej.element_index,
                    "reasons": [r.as_dict() for r in rej.reasons],
                    "received_at": item.received_at.isoformat(),
                },
            )
        )
    return notices


@dataclass(frozen=True)
class _Delivery:
    """A message as paho handed it over, tagged with the connection it came on."""

    mid: int
    qos: int
    topic: str
    payload: bytes
    properties: Any
    received_at: datetime
    connection: int


@dataclass
class RunResult:
    totals: IngestTotals
    stopped_because: str  # stop requested, max messages, idle, ...
    uncommitted: int = 0  # messages left unacknowledged at the broker on exit
    errors: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return self.uncommitted == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.totals.as_dict(),
            "stopped_because": self.stopped_because,
            "uncommitted": self.uncommitted,
        }


CheckFn = Callable[..., EdgeResult]

# CONNACK reason codes that retrying cannot fix: bad protocol, client id,
# credentials, not authorised, banned, bad authentication method.
_FATAL_CONNACK = frozenset({0x84, 0x85, 0x86, 0x87, 0x8A, 0x8C})


class IngestSetupError(ConfigError):
    """The broker refused our login or subscriptions: a setting to fix, not to retry.
    Nothing was acknowledged, so nothing is lost."""


class IngestConsumer:
    """One ingest worker. `run(stop_event)` blocks until the event is set (or a
    max-messages / idle limit is reached), then flushes, acknowledges, disconnects.

    With `takeover_by` (a surviving worker's id) it is that worker's takeover of the
    silent peer `config.worker_id` (ingest/takeover.py): a retire run that is not a
    member itself (no heartbeat), counts its batches under the survivor's id, and
    stops instead of reconnecting when its connection drops."""

    def __init__(
        self,
        config: ConsumerConfig,
        *,
        check: CheckFn | None = None,
        takeover_by: str | None = None,
    ) -> None:
        self.config = config
        self.takeover_by = takeover_by
        self.totals = IngestTotals()
        self.ready = threading.Event()  # set once the subscriptions are granted
        self._check = check
        self._queue: queue.SimpleQueue[tuple[_Delivery, LandingItem]] = queue.SimpleQueue()
        self._check_fn: CheckFn = check or _unset_check
        self._connection = 0  # bumps at every (re)connect; acks only go to the current one
        self._connected = threading.Event()
        self._disconnected = threading.Event()
        self._stopping = False
        self._fatal: str | None = None  # set by the network thread, raised by run()
        self._drained = False  # retire: everything received was committed and acked
        self._give_up_at: float | None = None  # monotonic deadline once stopping
        self._ready_at: float | None = None  # retire: when the group was left
        self._lost = False  # takeover: the connection dropped, stop draining
        self.session_present: bool | None = None  # at the first connect
        self._client: Any = None
        self._writer = LandingWriter(config.database_url, takeover_by or config.worker_id)
        # heartbeats and takeovers; a takeover is no member itself
        self._group: Membership | None = None if takeover_by else Membership(config, self.totals)
        self.result: RunResult | None = None  # set by start_in_thread's thread
        self.error: BaseException | None = None

    # --- network thread (paho callbacks): keep these tiny ---------------------------

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: mqtt.ConnectFlags,
        reason_code: ReasonCode, properties: Properties | None = None,
    ) -> None:
        if getattr(reason_code, "is_failure", False):
            from foodtrace.ingest.mqtt_client import describe_connack

            message = describe_connack(reason_code, self.config.mqtt)
            if getattr(reason_code, "value", None) in _FATAL_CONNACK:
                self._fatal = message
            else:
                log.error("%s; retrying", message)
            return
        self._connection += 1
        self._connected.set()
        if self.session_present is None:
            self.session_present = bool(getattr(flags, "session_present", False))
        log.info(
            "connected to %s as %s (session present: %s)",
            self.config.mqtt.url,
            self.config.client_id,
            getattr(flags, "session_present", None),
        )
        from foodtrace.ingest import topics

        filters = topics.subscription_filters(shared=self.config.mqtt.protocol >= 5)
        if self.config.retire:
            client.unsubscribe(filters)  # no new share; what is queued still comes
        else:
            client.subscribe([(f, 1) for f in filters])

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reason_codes: list[ReasonCode],
        properties: Properties | None = None,
    ) -> None:
        failed = [rc for rc in reason_codes if getattr(rc, "is_failure", False)]
        if failed:
            self._fatal = (
                f"the broker refused {len(failed)} of the ingest subscriptions ({failed[0]}): "
                f"check that its ACL lets user {self.config.mqtt.username!r} read the inbound "
                "topics (deploy/mosquitto/acl)"
            )
            return
        log.info("subscribed: %d filters, worker %s", len(reason_codes), self.config.worker_id)
        self.ready.set()

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        # paho calls this while handling the connect's exception: an untrusted broker
        # certificate is a setting to fix (like a refused login), not an outage
        error = sys.exc_info()[1]
        if isinstance(error, ssl.SSLCertVerificationError):
            from foodtrace.ingest.mqtt_client import describe_tls_failure

            self._fatal = describe_tls_failure(error, self.config.mqtt)
            return
        log.warning("cannot reach the MQTT broker at %s; retrying", self.config.mqtt.url)

    def _on_unsubscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reason_codes: list[ReasonCode],
        properties: Properties | None = None,
    ) -> None:
        log.info(
            "%s worker %s: left the shared group, draining its session",
            "retiring" if self.takeover_by is None else f"{self.takeover_by} taking over",
            self.config.worker_id,
        )
        if self._ready_at is None:
            self._ready_at = time.monotonic()
        self.ready.set()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode, properties: Properties | None = None,
    ) -> None:
        self._connected.clear()
        self._disconnected.set()
        if self._stopping or self._fatal is not None:
            return
        if self.takeover_by is not None:
            # The peer came back (or the broker went away): do not fight it for the
            # session. disconnect() here keeps paho's loop from reconnecting.
            self._lost = True
            client.disconnect()
            log.warning(
                "takeover of worker %s's session: connection lost (%s); stopping it",
                self.config.worker_id,
                reason_code,
            )
        elif getattr(reason_code, "value", None) == SESSION_TAKEN_OVER:
            log.warning(
                "another client connected as %s and took this session (a surviving worker "
                "taking it over after %gs without a heartbeat, or a second process with "
                "this worker id); reconnecting",
                self.config.client_id,
                self.config.takeover_after_s,
            )
        else:
            log.warning("lost the broker (%s); reconnecting", reason_code)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        delivery = _Delivery(
            mid=message.mid,
            qos=message.qos,
            topic=message.topic,
            # bytearray only in messages built by hand, never in those received
            payload=cast(bytes, message.payload),
            properties=getattr(message, "properties", None),
            received_at=datetime.now(UTC),
            connection=self._connection,
        )
        # The edge check (pure CPU) runs here, so that it overlaps with the main
        # thread waiting on PostgreSQL; _to_item never raises.
        self._queue.put((delivery, self._to_item(delivery, self._check_fn)))

    # --- main thread ---------------------------------------------------------------

    def run(self, stop_event: threading.Event | None = None) -> RunResult:
        stop = stop_event or threading.Event()
        self._check_fn = self._check or _default_check()
        try:
            self._writer.check()
        except StorageUnavailable as exc:
            log.warning("%s; messages will wait, unacknowledged, until it is back", exc)
        if self._group is not None:
            self._group.join(stop)
        client = self._client = self._make_client()
        client.loop_start()
        try:
            return self._consume(stop)
        finally:
            self._stopping = True
            if self._group is not None:
                self._group.stop_takeover()
            self._disconnected.clear()
            try:
                if self._connected.is_set():
                    client.disconnect(properties=self._disconnect_properties())
                    # paho writes queued packets in order and calls on_disconnect once
                    # DISCONNECT is out: the last acks have then left too.
                    self._disconnected.wait(5)
            finally:
                client.loop_stop()
                self._writer.close()
                if self._group is not None:
                    self._group.leave(self._drained)

    @property
    def drained(self) -> bool:
        """Retire / takeover: everything the session held was committed and acked
        (and, once disconnected, the session ended)."""
        return self._drained

    def start_in_thread(
        self, stop_event: threading.Event, *, ready_timeout: float = 10.0
    ) -> threading.Thread:
        """Run in a daemon thread (demo, tests) and wait until subscribed.

        Set `stop_event` and join the thread to stop; the RunResult is then in
        `self.result` (or the exception in `self.error`). Raises TimeoutError when
        not subscribed within `ready_timeout` (the thread is told to stop)."""

        def target() -> None:
            try:
                self.result = self.run(stop_event)
            except BaseException as exc:
                self.error = exc
                log.error("ingest worker %s stopped: %s", self.config.worker_id, exc)

        thread = threading.Thread(
            target=target, name=f"ingest-{self.config.worker_id}", daemon=True
        )
        thread.start()
        if not self.ready.wait(ready_timeout):
            stop_event.set()
            thread.join(ready_timeout)
            raise TimeoutError(
                f"ingest worker {self.config.worker_id} not subscribed within "
                f"{ready_timeout:g}s" + (f": {self.error}" if self.error else "")
            )
        return thread

    def _disconnect_properties(self) -> Any:
        """Session expiry 0 on DISCONNECT ends a retired worker's session, but only
        once everything it received was committed and acknowledged."""
        if not (self.config.retire and self._drained and self.config.mqtt.protocol >= 5):
            return None
        from foodtrace.ingest.mqtt_client import disconnect_properties

        props = disconnect_properties(session_expiry=0)
        log.info(
            "worker %s %s: its session is closed",
            self.config.worker_id,
            "retired" if self.takeover_by is None else f"taken over by {self.takeover_by}",
        )
        return props

    def _make_client(self) -> Any:
        from foodtrace.ingest.mqtt_client import connect_async, make_client

        cfg = self.config
        client = make_client(
            cfg.mqtt,
            cfg.client_id,
            clean_start=False,
            manual_ack=True,
            session_expiry=cfg.session_expiry_s,
        )
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_unsubscribe = self._on_unsubscribe
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        connect_async(client, cfg.mqtt, receive_maximum=cfg.receive_maximum)
        return client

    def _consume(self, stop: threading.Event) -> RunResult:
        cfg = self.config
        batch: list[tuple[_Delivery, LandingItem]] = []
        taken = 0
        batch_deadline: float | None = None
        last_message = started = time.monotonic()
        why = "stop requested"
        while True:
            if self._group is not None:
                self._group.tick()
            if self._fatal is not None:
                raise IngestSetupError(self._fatal)
            if stop.is_set():
                break
            if self._lost:
                why = "connection lost"
                break
            if cfg.max_messages is not None and taken >= cfg.max_messages:
                why = "max messages"
                break
            now = time.monotonic()
            if self._idle(now, last_message) and not batch:
                why = "idle"
                break
            if self.takeover_by and self._ready_at is None and now - started > TAKEOVER_CONNECT_S:
                why = "not connected"
                break
            timeout = 0.1 if batch_deadline is None else max(0.0, min(0.1, batch_deadline - now))
            try:
                entry = self._queue.get(timeout=timeout)
            except queue.Empty:
                entry = None
            if entry is not None:
                batch.append(entry)
                taken += 1
                last_message = time.monotonic()
                if batch_deadline is None:
                    batch_deadline = last_message + cfg.batch_ms / 1000
            if batch and (
                len(batch) >= cfg.batch_size or time.monotonic() >= (batch_deadline or 0)
            ):
                if not self._flush(batch, stop):
                    break  # stopping and the database stayed away: reported below
                batch, batch_deadline = [], None

        # Stopping: what has already arrived joins the last batch (up to max-messages);
        # anything later stays unacknowledged at the broker for the next run.
        if self._group is not None:
            self._group.wind_down()
        while cfg.max_messages is None or taken < cfg.max_messages:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
            taken += 1
        result = RunResult(self.totals, why)
        if self._give_up_at is None:
            self._give_up_at = time.monotonic() + cfg.shutdown_grace_s
        for start in range(0, len(batch), cfg.batch_size):
            chunk = batch[start : start + cfg.batch_size]
            if not self._flush(chunk, stop):
                result.uncommitted = len(batch) - start
                result.errors.append("the database did not come back before the shutdown grace")
                log.error(
                    "stopping with %d messages uncommitted: they were not acknowledged and "
                    "the broker will deliver them again",
                    result.uncommitted,
                )
                break
        self._drained = result.clean and why == "idle"
        return result

    def _idle(self, now: float, last_message: float) -> bool:
        """Nothing came for idle_exit_s; retiring, counted from leaving the group
        only (a drain that never connected has drained nothing)."""
        if self.config.idle_exit_s is None:
            return False
        if self.config.retire:
            if self._ready_at is None:
                return False
            last_message = max(last_message, self._ready_at)
        return now - last_message >= self.config.idle_exit_s

    def _to_item(self, d: _Delivery, check: CheckFn) -> LandingItem:
        log.debug("took message on %s (%d bytes, mid %d)", d.topic, len(d.payload), d.mid)
        try:
            result = check(d.topic, d.payload, max_bytes=self.config.max_message_bytes)
        except Exception as exc:  # a bug in a check must neither lose the message nor
            # kill paho's network thread: quarantine it whole
            log.exception("edge check failed on a message on %s", d.topic)
            result = EdgeResult(
                topic=d.topic,
                sender_id=None,
                rejected=[
                    Rejected([Reason(INTERNAL_ERROR, f"edge check failed: {exc}")], raw=d.payload)
                ],
            )
        return LandingItem(
            result=result,
            received_at=d.received_at,
            sent_at=parse_sent_at(d.properties),
            raw=d.payload,
        )

    def _flush(self, batch: list[tuple[_Delivery, LandingItem]], stop: threading.Event) -> bool:
        """Commit, then publish rejections, then acknowledge. Retries while the
        database is away; once a stop is requested, only until the shutdown grace
        has passed, then returns False (nothing of the batch acknowledged)."""
        items = [item for _, item in batch]
        attempt = 0
        while True:
            try:
                counts = self._writer.write(items)
                break
            except StorageUnavailable as exc:
                attempt += 1
                delay = min(self.config.retry_max_s, 0.25 * 2 ** min(attempt, 10))
                if stop.is_set():
                    delay = min(delay, 1.0)
                    if self._give_up_at is None:
                        self._give_up_at = time.monotonic() + self.config.shutdown_grace_s
                    if time.monotonic() + delay > self._give_up_at:
                        return False
                log.warning(
                    "%s; keeping %d messages unacknowledged, retry %d in %.1fs",
                    exc,
                    len(batch),
                    attempt,
                    delay,
                )
                self._pause(delay, stop)
        if attempt:
            log.info("database back: committed the %d messages that waited", len(batch))
        self._publish_rejections(items, counts.new_quarantine_keys)
        self._ack(batch)
        self.totals.add(counts, messages=len(batch))
        return True

    def _pause(self, delay: float, stop: threading.Event) -> None:
        """Wait before a retry, heartbeating meanwhile (the worker is alive, only its
        database is not). A stop requested during the wait ends it: the retry then
        runs within the shutdown grace only."""
        stopping = stop.is_set()
        end = time.monotonic() + delay
        while (left := end - time.monotonic()) > 0:
            if self._group is not None:
                self._group.tick()
            if stopping:
                time.sleep(min(left, 0.2))
            elif stop.wait(min(left, 0.2)):
                return

    def _publish_rejections(self, items: list[LandingItem], new_keys: frozenset[bytes]) -> None:
        from foodtrace.ingest import topics

        untold = set(new_keys)
        for item in items:
            for sender, body in rejection_notices(item, untold):
                self._client.publish(
                    topics.rejection_topic(sender), json.dumps(body).encode(), qos=1
                )
                self.totals.rejections_published += 1

    def _ack(self, batch: list[tuple[_Delivery, LandingItem]]) -> None:
        current = self._connection
        stale = 0
        for delivery, _ in batch:
            if delivery.qos == 0:
                continue
            if delivery.connection != current:
                # Came on an earlier connection: its packet id may mean something else
                # now. The broker redelivers it on this one; landing dedups it then.
                stale += 1
                continue
            self._client.ack(delivery.mid, delivery.qos)
        if stale:
            log.info(
                "%d committed messages came on an earlier connection; not acked, "
                "the broker will redeliver them (stored once)",
                stale,
            )


def _unset_check(topic: str, payload: bytes, **_: Any) -> EdgeResult:
    raise RuntimeError("IngestConsumer.run() sets the edge check before connecting")


def _default_check() -> CheckFn:
    from foodtrace.ingest.edge import check_message

    return check_message
