"""Ingest counters: what one committed batch did, and running totals for a worker.

Pure arithmetic, no I/O: landing.py writes a BatchCounts row into ops.ingest_stats
in the batch's own transaction; the consumer adds it to its IngestTotals only after
the commit, so the totals never count what was rolled back.

Invariant per batch: received == stored + duplicates + quarantined, where
  received    = payload elements seen (an array payload counts each element),
  stored      = new rows in landing.lab_results / chain_events / master_data,
  duplicates  = elements (accepted or rejected) already stored by an earlier delivery,
  quarantined = new rows in landing.quarantine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class BatchCounts:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    lag_avg_s: float | None = None  # commit time minus publish time (sent_at), seconds
    lag_max_s: float | None = None
    lag_n: int = 0  # messages the average is over (to merge batches correctly)
    # dedup keys of the quarantine rows this batch inserted (not already there): the
    # rejections to tell senders, once per message however often it is redelivered
    new_quarantine_keys: frozenset[bytes] = frozenset()

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "received": self.received,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "lag_avg_s": self.lag_avg_s,
            "lag_max_s": self.lag_max_s,
        }


def lag_seconds(
    commit_time: datetime, sent_times: Iterable[datetime]
) -> tuple[float | None, float | None]:
    """(average, maximum) of commit_time - sent_at over the messages of a batch.

    Clocks of publishers drift; a sent_at in the future gives a negative lag, which
    is kept (clamping would hide the drift on the dashboard).
    """
    lags = [(commit_time - t).total_seconds() for t in sent_times]
    if not lags:
        return None, None
    return sum(lags) / len(lags), max(lags)


@dataclass
class IngestTotals:
    """What a worker has committed since it started (printed by `foodtrace ingest`)."""

    messages: int = 0  # MQTT messages committed and acknowledged
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    batches: int = 0
    rejections_published: int = 0
    takeovers: int = 0  # silent peers' sessions this worker took over (ingest/takeover.py)
    takeover_messages: int = 0  # MQTT messages landed from those sessions (not counted above)
    lag_max_s: float | None = None
    _lag_sum: float = field(default=0.0, repr=False)
    _lag_batches: int = field(default=0, repr=False)

    def add(self, counts: BatchCounts, messages: int) -> None:
        self.messages += messages
        self.received += counts.received
        self.stored += counts.stored
        self.duplicates += counts.duplicates
        self.quarantined += counts.quarantined
        self.batches += 1
        if counts.lag_max_s is not None:
            self.lag_max_s = (
                counts.lag_max_s
                if self.lag_max_s is None
                else max(self.lag_max_s, counts.lag_max_s)
            )
        if counts.lag_avg_s is not None:
            self._lag_sum += counts.lag_avg_s
            self._lag_batches += 1

    @property
    def lag_avg_s(self) -> float | None:
        """Mean of the per-batch averages (good enough for a summary line)."""
        return self._lag_sum / self._lag_batches if self._lag_batches else None

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "messages": self.messages,
            "received": self.received,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "batches": self.batches,
            "rejections_published": self.rejections_published,
            "takeovers": self.takeovers,
            "takeover_messages": self.takeover_messages,
            "lag_avg_s": self.lag_avg_s,
            "lag_max_s": self.lag_max_s,
        }
