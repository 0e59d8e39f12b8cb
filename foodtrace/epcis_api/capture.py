"""POST /capture: an EPCISDocument through exactly the MQTT landing path.

The body is checked by `foodtrace.ingest.edge.check_message` with the topic the
authenticated sender would publish on (foodtrace/v1/epcis/{actor_id}) and written
by the consumer's own `LandingWriter`, so everything the MQTT path guarantees holds
here: each event is stored once (message_id from the sender and its eventID), an
event that cannot be used is quarantined with its bytes and reasons, the document
is kept whole, validation and linking pick the events up from the same queue, and
the sender is told of each rejection once (on MQTT too, when FOODTRACE_MQTT_URL is
set; always in the capture job).

The job is finished when the response is sent: checking and landing a 1 MiB
document takes milliseconds, and a 202 that has already committed is the
strongest answer a client can get. If the database is down nothing is stored and
the client gets 503 with Retry-After: a retry stores once, like a redelivery.

GS1-Capture-Error-Behaviour: `proceed` (the default here, and what MQTT does) stores
the good events and rejects the bad ones; `rollback` stores none of the events of a
document with a rejected one (the rejections are quarantined all the same).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from foodtrace.epcis_api.auth import Principal
from foodtrace.epcis_api.problems import CAPTURE_LIMIT, IMPLEMENTATION, VALIDATION, Problem
from foodtrace.epcis_api.render import is_uri
from foodtrace.epcis_api.settings import ApiSettings
from foodtrace.ingest import topics
from foodtrace.ingest.consumer import rejection_notices
from foodtrace.ingest.edge import MAX_ELEMENTS, check_message
from foodtrace.ingest.landing import LandingItem, LandingWriter, StorageUnavailable
from foodtrace.ingest.messages import TOO_MANY_ELEMENTS, EdgeResult, Rejected

log = logging.getLogger("foodtrace.epcis_api.capture")

WORKER_ID = "epcis-api"  # ops.ingest_stats rows of the HTTP path
BEHAVIOURS = ("proceed", "rollback")
RETRY_AFTER_S = 5


@dataclass
class CaptureJob:
    capture_id: uuid.UUID
    actor_id: str
    created_at: datetime
    finished_at: datetime | None
    success: bool
    error_behaviour: str
    document_id: uuid.UUID | None = None
    events: int = 0
    accepted: int = 0
    stored: int = 0
    rejected: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    running: bool = False

    def as_json(self) -> dict[str, Any]:
        """The EPCIS 2.0 CaptureJob (openapi.yaml), plus foodtrace's counts."""
        out: dict[str, Any] = {
            "captureID": str(self.capture_id),
            "createdAt": self.created_at.isoformat(),
            "running": self.running,
            "success": self.success,
            "captureErrorBehaviour": self.error_behaviour,
            "errors": self.errors,
        }
        if self.finished_at is not None:
            out["finishedAt"] = self.finished_at.isoformat()
        out.update(eventCount=self.events, acceptedCount=self.accepted,
                   storedCount=self.stored, duplicateCount=max(self.accepted - self.stored, 0),
                   rejectedCount=self.rejected)
        return out


def _event_ids(result: EdgeResult) -> list[Any]:
    for doc in result.documents:
        body = doc.document.get("epcisBody")
        events = body.get("eventList") if isinstance(body, dict) else None
        if isinstance(events, list):
            return events
    return []


def problem_of(rej: Rejected, events: list[Any]) -> dict[str, Any]:
    """One rejection as an RFC 7807 problem of the capture job, with the same
    reasons (code, message, path) the MQTT rejection notice carries."""
    whole = rej.element_index is None
    problem: dict[str, Any] = {
        "type": VALIDATION,
        "title": "document rejected" if whole else f"event {rej.element_index} rejected",
        "status": 400,
        "detail": "; ".join(r.message for r in rej.reasons)[:2000],
    }
    if not whole and rej.element_index is not None and rej.element_index < len(events):
        event = events[rej.element_index]
        eid = event.get("eventID") if isinstance(event, dict) else None
        if is_uri(eid):
            problem["instance"] = eid
    problem["eventIndex"] = rej.element_index
    problem["messageID"] = str(rej.message_id) if rej.message_id else None
    problem["reasons"] = [r.as_dict() for r in rej.reasons]
    return problem


class _Notifier:
    """Rejection notices on foodtrace/v1/rejections/{sender}, as the consumer sends
    them; best effort (the job holds them too), one client, connected lazily."""

    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings.mqtt
        self._client: Any = None
        self._lock = threading.Lock()

    def send(self, notices: list[tuple[str | None, dict[str, Any]]]) -> None:
        if self.settings is None or not notices:
            return
        from foodtrace.mqtt_publish import Acks, client_id, connect

        with self._lock:
            try:
                if self._client is None:
                    self._client = connect(self.settings, Acks(), client_id("epcis-api"))
                for sender, body in notices:
                    self._client.publish(topics.rejection_topic(sender),
                                         json.dumps(body).encode(), qos=1)
            except Exception as exc:  # the capture stands; the job has the errors
                log.warning("could not publish %d rejection notices: %s", len(notices), exc)
                self.close()

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.disconnect()
                self._client.loop_stop()
            except Exception:
                pass
            self._client = None


_INSERT_JOB = """
INSERT INTO ops.epcis_capture_jobs (capture_id, actor_id, created_at, finished_at, running,
    success, error_behaviour, document_id, events, accepted, stored, rejected, errors)
VALUES (%(capture_id)s, %(actor_id)s, %(created_at)s, %(finished_at)s, %(running)s, %(success)s,
        %(error_behaviour)s, %(document_id)s, %(events)s, %(accepted)s, %(stored)s,
        %(rejected)s, %(errors)s)"""
_SELECT_JOB = """
SELECT capture_id, actor_id, created_at, finished_at, success, error_behaviour, document_id,
       events, accepted, stored, rejected, errors, running
FROM ops.epcis_capture_jobs WHERE capture_id = %s AND actor_id = %s"""


class CaptureService:
    """Landing writers (one connection each, not shared between threads) and the
    job table."""

    def __init__(self, settings: ApiSettings, pool: ConnectionPool) -> None:
        self.settings = settings
        self.pool = pool
        self._writers: queue.LifoQueue[LandingWriter] = queue.LifoQueue()
        for _ in range(settings.pool_size):
            self._writers.put(LandingWriter(settings.database_url, WORKER_ID))
        self._notifier = _Notifier(settings)

    def close(self) -> None:
        while not self._writers.empty():
            self._writers.get_nowait().close()
        self._notifier.close()

    @contextmanager
    def _writer(self) -> Iterator[LandingWriter]:
        writer = self._writers.get()
        try:
            yield writer
        finally:
            self._writers.put(writer)

    def capture(self, principal: Principal, body: bytes, behaviour: str) -> CaptureJob:
        created = datetime.now(UTC)
        topic = topics.inbound_topic("epcis", principal.actor_id)  # as the sender's MQTT login
        result = check_message(topic, body, max_bytes=self.settings.max_body_bytes, now=created)
        events = _event_ids(result)
        to_land = result
        if behaviour == "rollback" and result.rejected and result.accepted:
            to_land = EdgeResult(topic=result.topic, sender_id=result.sender_id,
                                 rejected=result.rejected)
        item = LandingItem(result=to_land, received_at=created, raw=body)
        try:
            with self._writer() as writer:
                counts = writer.write([item])
        except StorageUnavailable as exc:
            log.warning("capture from %s not stored: %s", principal.actor_id, exc)
            raise Problem(503, IMPLEMENTATION, "Storage unavailable",
                          "the database is not reachable; nothing was stored, retry later",
                          headers={"Retry-After": str(RETRY_AFTER_S)}) from None
        self._notifier.send(rejection_notices(item, set(counts.new_quarantine_keys)))
        whole = [r for r in result.rejected if r.element_index is None and not result.documents]
        if whole:
            too_many = any(x.code == TOO_MANY_ELEMENTS for x in whole[0].reasons)
            reasons = [x.as_dict() for x in whole[0].reasons]
            if too_many:
                raise Problem(413, CAPTURE_LIMIT, "Capture payload too large",
                              whole[0].reasons[0].message,
                              headers={"GS1-EPCIS-Capture-Limit": str(MAX_ELEMENTS)},
                              reasons=reasons)
            raise Problem(400, VALIDATION, "Not an EPCIS document foodtrace can capture",
                          "; ".join(x.message for x in whole[0].reasons)[:2000], reasons=reasons)
        stored_events = len(to_land.accepted)
        job = CaptureJob(
            capture_id=uuid.uuid4(),
            actor_id=principal.actor_id,
            created_at=created,
            finished_at=datetime.now(UTC),
            success=not result.rejected,
            error_behaviour=behaviour,
            document_id=result.documents[0].document_id if result.documents else None,
            events=len(events),
            accepted=stored_events,
            stored=counts.stored,
            rejected=len(result.rejected) + (len(result.accepted) - stored_events),
            errors=[problem_of(r, events) for r in result.rejected],
        )
        self._save(job)
        return job

    def _save(self, job: CaptureJob) -> None:
        params = {k: getattr(job, k) for k in (
            "capture_id", "actor_id", "created_at", "finished_at", "running", "success",
            "error_behaviour", "document_id", "events", "accepted", "stored", "rejected")}
        params["errors"] = Jsonb(job.errors)
        try:
            with self.pool.connection() as conn:
                conn.execute(_INSERT_JOB, params)
        except psycopg.Error as exc:
            log.error("capture %s landed but its job was not recorded: %s", job.capture_id, exc)
            raise Problem(503, IMPLEMENTATION, "Storage unavailable",
                          "the events were landed but the capture job could not be recorded; "
                          "capturing the document again stores nothing twice",
                          headers={"Retry-After": str(RETRY_AFTER_S)}) from None

    def job(self, principal: Principal, capture_id: uuid.UUID) -> CaptureJob | None:
        with self.pool.connection() as conn:
            rec = conn.execute(_SELECT_JOB, (capture_id, principal.actor_id)).fetchone()
        if rec is None:
            return None
        (cid, actor, created, finished, success, behaviour, doc, events, accepted, stored,
         rejected, errors, running) = rec
        return CaptureJob(cid, actor, created, finished, success, behaviour, doc, events,
                          accepted, stored, rejected, errors, running)
