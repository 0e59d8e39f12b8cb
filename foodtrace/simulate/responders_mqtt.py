"""The simulated businesses on MQTT: the thin edge of foodtrace.simulate.responders.

Each business listens on its own `foodtrace/v1/notices/{actor_id}` and answers on
its own `foodtrace/v1/chain/{actor_id}/withdrawals`. A business given its own
credentials (`identities`) connects as itself, which is what the broker's ACL lets
a real business do; the others share one connection with the simulator's login
(the ACL lets `foodtrace-simulator` read every notice and answer for every
business), still one subscription and one report topic per business.

Time is compressed: a `SimClock` runs `time_scale` simulated seconds per real
second once it is started, so answers hours after a notice arrive within seconds.
Answers wait until the clock is started (the demo and the drill start it once the
notices are out), then go out when the simulated clock reaches their
`reported_at`. An answer still pending when a newer notice supersedes its notice
is dropped: the business answers the newer one.
"""

from __future__ import annotations

import heapq
import json
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from foodtrace.config import MqttSettings
from foodtrace.ingest import topics
from foodtrace.simulate.responders import Answer, Behaviour, answers

log = logging.getLogger(__name__)
_SUBSCRIBE_CHUNK = 200  # topic filters per SUBSCRIBE packet


class SimClock:
    """Simulated time: stopped until `start(at)`, then `time_scale` times real time."""

    def __init__(self, time_scale: float) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.time_scale = time_scale
        self._anchor: tuple[datetime, float] | None = None
        self.started = threading.Event()

    def start(self, at: datetime) -> None:
        self._anchor = (at, time.monotonic())
        self.started.set()

    def now(self) -> datetime:
        if self._anchor is None:
            raise RuntimeError("the simulated clock has not started")
        at, real = self._anchor
        return at + timedelta(seconds=(time.monotonic() - real) * self.time_scale)

    def real_seconds(self, simulated_s: float) -> float:
        return simulated_s / self.time_scale

    def due_in(self, when: datetime) -> float | None:
        """Real seconds until the simulated clock reaches `when` (None: not started)."""
        if self._anchor is None:
            return None
        return (when - self.now()).total_seconds() / self.time_scale


@dataclass
class Heard:
    notice: dict[str, Any]
    actor_id: str
    received: float  # time.time() when it arrived


@dataclass
class Sent:
    payload: dict[str, Any]
    sent: float  # time.time() at the PUBACK


@dataclass(order=True)
class _Pending:
    due: datetime
    seq: int
    answer: Answer = field(compare=False)


class Responders:
    """Subscribes for every business in `behaviours`, answers per plan."""

    def __init__(self, settings: MqttSettings, behaviours: Mapping[str, Behaviour],
                 clock: SimClock, *, identities: Mapping[str, MqttSettings] | None = None) -> None:
        self.settings = settings
        self.behaviours = dict(behaviours)
        self.clock = clock
        self.identities = dict(identities or {})
        self.heard: list[Heard] = []
        self.sent: list[Sent] = []
        self.errors: list[str] = []
        self._seen: set[str] = set()
        self._superseded: set[str] = set()
        self._queue: list[_Pending] = []
        self._seq = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._clients: dict[str, Any] = {}  # connection key -> client
        self._client_of: dict[str, str] = {}  # actor -> connection key
        self._thread = threading.Thread(target=self._run, name="responders", daemon=True)

    # -- connections ---------------------------------------------------------------

    def __enter__(self) -> Responders:
        try:
            self._connect_all()
        except BaseException:
            self._close_clients()
            raise
        self._thread.start()
        return self

    def _connect_all(self) -> None:
        from foodtrace.ingest.mqtt_client import connect_and_wait, make_client

        groups: dict[str, list[str]] = {}
        for actor in sorted(self.behaviours):
            key = actor if actor in self.identities else ""
            groups.setdefault(key, []).append(actor)
            self._client_of[actor] = key
        for key, actors in groups.items():
            settings = self.identities.get(key, self.settings)
            client = make_client(settings, f"foodtrace-sim-{key or 'businesses'}-"
                                            f"{uuid.uuid4().hex[:6]}")
            client.on_message = self._on_message
            acked = threading.Semaphore(0)
            client.on_subscribe = lambda *a, _s=acked: _s.release()
            self._clients[key] = client
            connect_and_wait(client, settings)
            chunks = [actors[i:i + _SUBSCRIBE_CHUNK]
                      for i in range(0, len(actors), _SUBSCRIBE_CHUNK)]
            for chunk in chunks:
                client.subscribe([(topics.notice_topic(a), 1) for a in chunk])
            for _ in chunks:
                if not acked.acquire(timeout=15):
                    raise RuntimeError("the broker did not confirm the businesses' subscriptions")

    def _close_clients(self) -> None:
        for client in self._clients.values():
            client.disconnect()
            client.loop_stop()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(10)
        self._close_clients()

    # -- notices in ------------------------------------------------------------------

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        try:
            notice = json.loads(message.payload)
            actor = str(notice["actor_id"])
            notice_id = str(notice["notice_id"])
        except (ValueError, KeyError, TypeError) as exc:
            self.errors.append(f"{message.topic}: unreadable notice ({exc})")
            return
        with self._cond:
            if notice_id in self._seen:  # redelivered: businesses dedupe on notice_id
                return
            self._seen.add(notice_id)
            self.heard.append(Heard(notice, actor, time.time()))
            if notice.get("supersedes"):
                self._superseded.add(str(notice["supersedes"]))
            b = self.behaviours.get(actor)
            if b is None:
                return
            issued = datetime.fromisoformat(notice["issued_at"])
            for a in answers(b, notice):
                self._seq += 1
                heapq.heappush(self._queue, _Pending(
                    issued + timedelta(seconds=a.after_s), self._seq, a))
            self._cond.notify_all()

    # -- answers out -----------------------------------------------------------------

    def pending(self) -> int:
        with self._cond:
            return sum(1 for p in self._queue if p.answer.notice_id not in self._superseded)

    def last_due(self) -> datetime | None:
        with self._cond:
            live = [p.due for p in self._queue if p.answer.notice_id not in self._superseded]
        return max(live, default=None)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                wait = self._next_wait()
                if wait is None or wait > 0:
                    self._cond.wait(min(wait if wait is not None else 0.5, 0.5))
                    continue
                item = heapq.heappop(self._queue)
            if item.answer.notice_id in self._superseded:
                continue
            self._publish(item.answer)

    def _next_wait(self) -> float | None:
        if not self._queue:
            return None
        return self.clock.due_in(self._queue[0].due)

    def _publish(self, a: Answer) -> None:
        client = self._clients[self._client_of[a.actor_id]]
        body = json.dumps(a.payload, ensure_ascii=False).encode()
        info = client.publish(topics.inbound_topic("withdrawal_report", a.actor_id), body, qos=1)
        try:
            info.wait_for_publish(10)
        except (RuntimeError, ValueError) as exc:
            self.errors.append(f"{a.actor_id}: report not published ({exc})")
            return
        if not info.is_published():
            self.errors.append(f"{a.actor_id}: no PUBACK for its report")
            return
        with self._cond:
            self.sent.append(Sent(a.payload, time.time()))

    def wait_idle(self, timeout: float) -> bool:
        """Until every answer due by now has gone out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._cond:
                wait = self._next_wait()
            if wait is None or wait > 0.05:
                return True
            time.sleep(0.05)
        return False
