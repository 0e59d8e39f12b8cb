"""A worker's membership of the ingest group, as the consumer's main thread sees it:
join before connecting, heartbeat and look for silent peers on a steady cadence
(traffic or not), leave on the way out. The parts: ingest/workers.py (the rows and
locks) and ingest/takeover.py (taking over a silent peer's session)."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from foodtrace.ingest.stats import IngestTotals
from foodtrace.ingest.workers import DEFAULT_TAKEOVER_S, WorkerRegistry, warn_about_silent

if TYPE_CHECKING:
    from foodtrace.ingest.consumer import ConsumerConfig
    from foodtrace.ingest.takeover import Takeovers


class Membership:
    def __init__(self, config: ConsumerConfig, totals: IngestTotals) -> None:
        self.config = config
        self.totals = totals
        self.registry = WorkerRegistry(
            config.database_url, config.worker_id, config.client_id, heartbeat_s=config.heartbeat_s
        )
        self.takeovers: Takeovers | None = None
        self._next_beat = 0.0
        self._taking_over = True  # False once the worker winds down

    def join(self, stop: threading.Event) -> None:
        """Wait until no other client uses this id's session, then heartbeat as a
        member and warn about silent peers. Retiring: hold the id instead."""
        cfg = self.config
        registered = self.registry.register(stop, retiring=cfg.retire)
        self._next_beat = time.monotonic() + cfg.heartbeat_s
        if cfg.retire:
            return
        if registered:
            limit = cfg.takeover_after_s or DEFAULT_TAKEOVER_S
            warn_about_silent(self.registry.silent_peers(limit), limit, cfg.takeovers_on)
        if cfg.takeovers_on:  # also while the database is away: it looks once it is back
            from foodtrace.ingest.takeover import Takeovers

            self.takeovers = Takeovers(cfg, self.registry, self.totals)

    def tick(self) -> None:
        """Every `heartbeat_s`: heartbeat, then look for a silent peer to take over."""
        now = time.monotonic()
        if now < self._next_beat or self.config.retire:
            return
        self._next_beat = now + self.config.heartbeat_s
        self.registry.beat()
        if self.takeovers is not None and self._taking_over:
            self.takeovers.poll()

    def wind_down(self) -> None:
        """The loop has ended: start no new takeover (heartbeats go on)."""
        self._taking_over = False

    def stop_takeover(self) -> None:
        """Stop a takeover in progress (it commits and acknowledges what it has)."""
        if self.takeovers is not None:
            self.takeovers.close(self.config.shutdown_grace_s + 10)

    def leave(self, drained: bool) -> None:
        if self.config.retire:
            self.registry.close("retired" if drained else None)
        else:
            self.registry.close("stopped")
