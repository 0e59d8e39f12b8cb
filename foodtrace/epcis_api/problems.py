"""RFC 7807 problem documents with the EPCIS 2.0 exception types, so that an
EPCIS client reads foodtrace's errors the way it reads any repository's."""

from __future__ import annotations

from typing import Any

PROBLEM_JSON = "application/problem+json"

QUERY_PARAMETER = "epcisException:QueryParameterException"
SECURITY = "epcisException:SecurityException"
NO_SUCH_RESOURCE = "epcisException:NoSuchResourceException"
CAPTURE_LIMIT = "epcisException:CaptureLimitExceededException"
VALIDATION = "epcisException:ValidationException"
UNSUPPORTED_MEDIA = "epcisException:UnsupportedMediaTypeException"
IMPLEMENTATION = "epcisException:ImplementationException"


class Problem(Exception):
    """Raised by a route; the app turns it into an application/problem+json response."""

    def __init__(self, status: int, type_: str, title: str, detail: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(title)
        self.status = status
        self.type = type_
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail:
            out["detail"] = self.detail
        out.update(self.extra)
        return out


def unauthorized(detail: str) -> Problem:
    return Problem(401, SECURITY, "Unauthorized", detail,
                   headers={"WWW-Authenticate": 'Bearer realm="foodtrace"'})


def not_found(what: str) -> Problem:
    return Problem(404, NO_SUCH_RESOURCE, "Not found", what)


def bad_query(detail: str) -> Problem:
    return Problem(400, QUERY_PARAMETER, "Invalid query parameter", detail)
