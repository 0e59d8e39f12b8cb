"""The EPCIS 2.0 REST interface as an ASGI app (FastAPI, which Airflow 3 ships).

Routes (the EPCIS 2.0 REST binding's names): POST /capture, GET /capture/{captureID},
GET /events, GET /events/{eventID}; FastAPI serves the OpenAPI document at
/openapi.json (and /docs). Every route but the OpenAPI document needs a bearer
token (auth.py). Errors are RFC 7807 problems with EPCIS exception types.

Route handlers that touch the database are plain functions: FastAPI runs them in
its thread pool, where blocking psycopg calls belong. POST /capture reads the body
itself (async, to stop at the size limit without buffering more) and hands the
check and the landing to the pool.

No `from __future__ import annotations` here: FastAPI reads the route signatures
at run time, and their annotations name objects local to create_app.
"""

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import psycopg
from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import ConnectionPool, PoolTimeout
from starlette.concurrency import run_in_threadpool

from foodtrace.epcis_api import paging
from foodtrace.epcis_api.auth import Principal, TokenStore
from foodtrace.epcis_api.capture import BEHAVIOURS, CaptureService
from foodtrace.epcis_api.problems import (
    CAPTURE_LIMIT,
    IMPLEMENTATION,
    PROBLEM_JSON,
    UNSUPPORTED_MEDIA,
    VALIDATION,
    Problem,
    bad_query,
    not_found,
    unauthorized,
)
from foodtrace.epcis_api.query import fetch_event, fetch_page, parse_query
from foodtrace.epcis_api.render import query_document, render_event
from foodtrace.epcis_api.settings import ApiSettings

log = logging.getLogger("foodtrace.epcis_api")

LD_JSON = "application/ld+json"
CAPTURE_TYPES = ("application/json", LD_JSON)
GS1_HEADERS = {"GS1-EPCIS-Version": "2.0.0", "GS1-CBV-Version": "2.0.0"}


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None,
          media_type: str = LD_JSON) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=media_type,
                        headers={**GS1_HEADERS, **(headers or {})})


def _media_type(request: Request) -> str:
    """application/ld+json unless the client asked for plain JSON only."""
    accept = request.headers.get("accept", "")
    return "application/json" if "application/json" in accept and LD_JSON not in accept \
        else LD_JSON


def create_app(settings: ApiSettings) -> FastAPI:
    tokens = TokenStore(settings.tokens_file)
    pool = ConnectionPool(
        settings.database_url,
        min_size=1,
        max_size=settings.pool_size,
        kwargs={"autocommit": True, "application_name": "foodtrace-api"},
        open=False,
    )
    captures = CaptureService(settings, pool)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool.open(wait=False)
        try:
            yield
        finally:
            captures.close()
            pool.close()

    app = FastAPI(
        title="foodtrace EPCIS 2.0 interface",
        version="1.0.0",
        description=(
            "Capture GS1 EPCIS 2.0 documents into foodtrace (the same landing path as "
            "MQTT: exactly once, quarantine, findings) and query the stored Critical "
            "Tracking Events as EPCIS 2.0 JSON-LD. Authenticate with a bearer token; a "
            "sender captures only as itself."
        ),
        lifespan=lifespan,
    )
    bearer = HTTPBearer(auto_error=False, description="a sender's token (tokens file)")

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return _json(exc.body(), exc.status, exc.headers, PROBLEM_JSON)

    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(PoolTimeout)
    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %s", type(exc).__name__)
        problem = Problem(503, IMPLEMENTATION, "Storage unavailable",
                          "the database is not reachable; retry later",
                          headers={"Retry-After": "5"})
        return _json(problem.body(), 503, problem.headers, PROBLEM_JSON)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problem = bad_query("; ".join(str(e.get("msg")) for e in exc.errors())[:500])
        return _json(problem.body(), 400, media_type=PROBLEM_JSON)

    def principal(
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        if creds is None or not creds.credentials:
            raise unauthorized("send 'Authorization: Bearer <token>'")
        found = tokens.authenticate(creds.credentials)
        if found is None:
            raise unauthorized("unknown token")
        return found

    Caller = Annotated[Principal, Depends(principal)]

    @app.post(
        "/capture",
        status_code=202,
        summary="Capture an EPCISDocument",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {t: {"schema": {"type": "object", "description": "EPCISDocument"}}
                            for t in CAPTURE_TYPES},
            },
        },
        responses={202: {"description": "captured; the job is at the Location header"},
                   400: {"description": "not an EPCIS document (quarantined)"},
                   401: {"description": "no or unknown token"},
                   413: {"description": "over the size or event limit"},
                   415: {"description": "not application/json or application/ld+json"},
                   503: {"description": "database unavailable: nothing stored, retry"}},
    )
    async def post_capture(
        request: Request,
        caller: Caller,
        behaviour: Annotated[str | None, Header(alias="GS1-Capture-Error-Behaviour")] = None,
    ) -> Response:
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media not in CAPTURE_TYPES:
            raise Problem(415, UNSUPPORTED_MEDIA, "Unsupported media type",
                          f"send the EPCISDocument as {' or '.join(CAPTURE_TYPES)}")
        chosen = (behaviour or "proceed").strip().lower()
        if chosen not in BEHAVIOURS:
            raise Problem(400, VALIDATION,
                          "Invalid GS1-Capture-Error-Behaviour", "use proceed or rollback")
        body = await _read_limited(request, settings.max_body_bytes)
        job = await run_in_threadpool(captures.capture, caller, body, chosen)
        return _json(job.as_json(), 202, {"Location": f"/capture/{job.capture_id}",
                                          "GS1-Capture-Error-Behaviour": chosen},
                     "application/json")

    @app.get("/capture/{capture_id}", summary="A capture job (its sender only)")
    def get_capture(capture_id: str, caller: Caller) -> Response:
        try:
            cid = uuid.UUID(capture_id)
        except ValueError:
            raise not_found(f"no capture job {capture_id[:60]!r}") from None
        job = captures.job(caller, cid)
        if job is None:
            raise not_found(f"no capture job {capture_id} of {caller.actor_id}")
        return _json(job.as_json(), media_type="application/json")

    @app.get("/events", summary="Query events (EPCISQueryDocument)")
    def get_events(
        request: Request,
        caller: Caller,
        GE_eventTime: Annotated[str | None, Query(description="RFC 3339, inclusive")] = None,
        LT_eventTime: Annotated[str | None, Query(description="RFC 3339, exclusive")] = None,
        eventType: Annotated[str | None, Query(description="ObjectEvent|TransformationEvent")] = None,
        EQ_bizStep: Annotated[str | None, Query(description="CBV words or URIs, |-separated")] = None,
        EQ_bizLocation: Annotated[str | None, Query(description="location URIs, |-separated")] = None,
        MATCH_anyEPC: Annotated[str | None, Query(description="serial EPCs, |-separated")] = None,
        MATCH_anyEPCClass: Annotated[str | None, Query(
            description="lot classes, |-separated; a trailing * for every lot of a product")] = None,
        EXISTS_errorDeclaration: Annotated[str | None, Query(
            description="no value: only events their sender declared wrong")] = None,
        perPage: Annotated[str | None, Query(description="default 30, at most 1000")] = None,
        nextPageToken: Annotated[str | None, Query(description="from the Link header")] = None,
    ) -> Response:
        q = parse_query(list(request.query_params.multi_items()))
        digest = paging.query_digest([caller.actor_id, caller.role, *q.normalised])
        after = None
        if q.page_token is not None:
            try:
                after = paging.decode(settings.page_token_key, q.page_token, digest)
            except paging.BadPageToken as exc:
                raise bad_query(str(exc)) from None
        with pool.connection() as conn:
            page = fetch_page(conn, q, caller, after)
        events = [render_event(row, settings.tz_offset) for row in page.rows]
        headers = {}
        if page.next_position is not None:
            token = paging.encode(settings.page_token_key, page.next_position, digest)
            headers["Link"] = f'<{request.url.include_query_params(nextPageToken=token)}>; rel="next"'
        return _json(query_document(events, datetime.now(UTC)), headers=headers,
                     media_type=_media_type(request))

    @app.get("/events/{event_id:path}", summary="One event by its eventID")
    def get_event(event_id: str, request: Request, caller: Caller) -> Response:
        with pool.connection() as conn:
            row = fetch_event(conn, event_id, caller)
        if row is None:
            raise not_found(f"no event {event_id[:200]!r} that {caller.actor_id} may see")
        return _json(render_event(row, settings.tz_offset, with_context=True),
                     media_type=_media_type(request))

    return app


async def _read_limited(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed `limit`."""
    too_big = Problem(413, CAPTURE_LIMIT, "Capture payload too large",
                      f"the body is over the limit of {limit} bytes "
                      "(FOODTRACE_MAX_MESSAGE_BYTES, as on MQTT): split the document",
                      headers={"GS1-EPCIS-Capture-File-Size-Limit": str(limit)},
                      limit=limit)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)
