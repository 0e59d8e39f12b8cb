"""The batch path's landing watcher under mixed traffic (found by bench/soak).

An ingest worker commits lab results and chain events of one batch in one
transaction, so their NOTIFYs reach the listener in one packet, the lab result's
first. The watcher (kinds: master data, chain events) must fire on such a commit:
it once looked only at the first notification of a packet, so while lab results
kept arriving the batch path was never started and chain events waited for the
5-minute sweep. Real PostgreSQL, the trigger's own run() loop.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import psycopg
import pytest

from foodtrace.config import DATABASE_URL_ENV
from foodtrace.pipeline.assets import BATCH_KINDS
from foodtrace.pipeline.triggers import CHANNEL, LandingNotifyTrigger


def _commit_mixed_batches(url: str, stop: threading.Event) -> None:
    """What the ingest's commit of a mixed batch sends: lab_result, then chain_event."""
    with psycopg.connect(url) as conn:
        while not stop.is_set():
            for kind, rows in (("lab_result", 2), ("chain_event", 15)):
                conn.execute(
                    "SELECT pg_notify(%s, %s)", (CHANNEL, json.dumps({"kind": kind, "rows": rows}))
                )
            conn.commit()
            stop.wait(0.05)


async def _first_notify_event(trigger: LandingNotifyTrigger, timeout: float) -> dict | None:
    async def first() -> dict | None:
        async for event in trigger.run():
            if event.payload["reason"] == "notify":
                return event.payload
        return None

    try:
        return await asyncio.wait_for(first(), timeout)
    except TimeoutError:
        return None


def test_batch_watcher_fires_on_a_commit_whose_first_notify_is_a_lab_result(
    fresh_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATABASE_URL_ENV, fresh_db_url)
    stop = threading.Event()
    sender = threading.Thread(target=_commit_mixed_batches, args=(fresh_db_url, stop), daemon=True)
    sender.start()
    try:
        started = time.monotonic()
        payload = asyncio.run(_first_notify_event(LandingNotifyTrigger(kinds=BATCH_KINDS), 5.0))
        waited = time.monotonic() - started
    finally:
        stop.set()
        sender.join(5)
    assert payload is not None, "the batch watcher did not fire in 5 s of mixed commits"
    assert payload["kinds"] == ["chain_event"]  # lab results stay on their own lane
    assert payload["rows"] >= 15
    assert waited < 3.0
