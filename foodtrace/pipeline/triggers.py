"""Event-driven scheduling: an Airflow event trigger on PostgreSQL LISTEN/NOTIFY.

The landing tables NOTIFY 'foodtrace_landing' (0005_validation.sql) from the
statement that queues new rows for validation; NOTIFY is transactional, so the
notification arrives after COMMIT, when the rows are visible. This trigger runs in
Airflow's triggerer as an AssetWatcher of the landing asset: each burst of
notifications becomes one asset event, and the validation DAG runs within
seconds, instead of after a polling interval (a lab result that must become an
alert should not wait for a sweep).

`kinds` limits the watcher to some message kinds (each NOTIFY's payload names its
kind): the batch path's watcher wakes for master data and chain events only. Lab
results have a lane of their own that no trigger starts (dags/
foodtrace_lab_results.py): the triggerer hands trigger events over once a second
(a fixed loop), which a positive test on its way to an alert should not wait for.

The trigger holds no secrets: the database URL is read from FOODTRACE_DATABASE_URL
in the triggerer's environment, never serialised into Airflow's metadata.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from foodtrace.config import DATABASE_URL_ENV

log = logging.getLogger(__name__)

CHANNEL = "foodtrace_landing"


class LandingNotifyTrigger(BaseEventTrigger):
    """Yields one TriggerEvent per burst of NOTIFYs on `channel`.

    After the first notification it keeps collecting for `debounce_s`, so a batch of
    ingest commits makes one DAG run, not hundreds. On (re)connection it fires once
    if work is already queued (notifications sent while nobody listened are lost;
    the periodic sweep is the second safety net). Connection failures are retried
    every `reconnect_s`: a database restart must not kill the watcher.
    """

    def __init__(
        self,
        channel: str = CHANNEL,
        debounce_s: float = 0.5,
        reconnect_s: float = 5.0,
        database_url_env: str = DATABASE_URL_ENV,
        kinds: list[str] | tuple[str, ...] | None = None,
        **kwargs: Any,
    ) -> None:
        # untyped in Airflow; untyped_calls_exclude does not reach a super() call
        super().__init__(**kwargs)  # type: ignore[no-untyped-call]
        self.channel = channel
        self.debounce_s = debounce_s
        self.reconnect_s = reconnect_s
        self.database_url_env = database_url_env
        self.kinds = None if kinds is None else sorted(kinds)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "channel": self.channel,
                "debounce_s": self.debounce_s,
                "reconnect_s": self.reconnect_s,
                "database_url_env": self.database_url_env,
                "kinds": self.kinds,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        import psycopg
        from psycopg import sql

        while True:
            # The triggerer is an entry point of its own: the URL comes from its
            # environment, read at each (re)connection (module doc: no secrets).
            url = os.environ.get(self.database_url_env)
            if not url:
                log.error(
                    "%s is not set in the triggerer's environment; retrying in %ss",
                    self.database_url_env,
                    self.reconnect_s,
                )
                await asyncio.sleep(self.reconnect_s)
                continue
            try:
                async with await psycopg.AsyncConnection.connect(
                    url, autocommit=True, application_name="foodtrace-trigger"
                ) as conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    cur = await conn.execute(
                        "SELECT EXISTS (SELECT 1 FROM landing.validation_queue "
                        "WHERE %(kinds)s::text[] IS NULL OR kind = ANY(%(kinds)s::text[]))",
                        {"kinds": self.kinds},
                    )
                    row = await cur.fetchone()
                    if row and row[0]:
                        yield TriggerEvent(
                            {
                                "channel": self.channel,
                                "reason": "queued at start",
                                "notifications": 0,
                                "rows": 0,
                                "kinds": [],
                            }
                        )
                    while True:
                        # One commit's NOTIFYs come in one packet (a mixed ingest batch:
                        # lab_result, then chain_event): judge them all, not the first.
                        first = [n async for n in conn.notifies(stop_after=1)]
                        wanted = [n for n in first if self._wanted(n)]
                        if not wanted:
                            continue
                        more = [n async for n in conn.notifies(timeout=self.debounce_s)]
                        burst = wanted + [n for n in more if self._wanted(n)]
                        yield TriggerEvent(self._event(burst))
            except psycopg.OperationalError as exc:
                log.warning(
                    "LISTEN %s lost its connection (%s); reconnecting in %ss",
                    self.channel,
                    str(exc).splitlines()[0] if str(exc) else exc,
                    self.reconnect_s,
                )
                await asyncio.sleep(self.reconnect_s)

    def _wanted(self, notify: Any) -> bool:
        if self.kinds is None:
            return True
        try:
            return str(json.loads(notify.payload).get("kind")) in self.kinds
        except (ValueError, AttributeError, TypeError):
            return True  # an unreadable payload: better a run too many than one too few

    def _event(self, notifies: list[Any]) -> dict[str, Any]:
        kinds: set[str] = set()
        rows = 0
        for n in notifies:
            try:
                body = json.loads(n.payload)
                kinds.add(str(body.get("kind")))
                rows += int(body.get("rows") or 0)
            except (ValueError, AttributeError, TypeError):
                kinds.add("unknown")
        return {
            "channel": self.channel,
            "reason": "notify",
            "notifications": len(notifies),
            "rows": rows,
            "kinds": sorted(kinds),
        }
