"""nextPageToken: an opaque, tamper-evident keyset cursor.

A page ends at the (event_time, message_id) of its last event; the next page
starts strictly after it (keyset paging: every page costs the same index range
scan, however deep, and an event captured meanwhile never shifts a page).

The token carries that position and a digest of the query it belongs to (its
filters and the caller), signed with HMAC-SHA256 under the server's key. A token
edited, forged, or replayed with other filters or by another caller is refused
(400) instead of silently paging through something else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

_MAC_BYTES = 16


class BadPageToken(ValueError):
    pass


@dataclass(frozen=True)
class Position:
    event_time: datetime
    message_id: UUID


def query_digest(parts: list[str]) -> str:
    """A short digest of the normalised query (filters + caller) a token binds to."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(key: bytes, position: Position, digest: str) -> str:
    body = json.dumps(
        [position.event_time.isoformat(), str(position.message_id), digest],
        separators=(",", ":"),
    ).encode()
    mac = hmac.new(key, body, hashlib.sha256).digest()[:_MAC_BYTES]
    return _b64(body) + "." + _b64(mac)


def decode(key: bytes, token: str, digest: str) -> Position:
    """The position a token names; BadPageToken when it is not one of ours for
    this very query."""
    if len(token) > 400 or token.count(".") != 1:
        raise BadPageToken("nextPageToken is not a token this server issued")
    body_text, mac_text = token.split(".")
    try:
        body, mac = _unb64(body_text), _unb64(mac_text)
    except ValueError:
        raise BadPageToken("nextPageToken is not a token this server issued") from None
    expected = hmac.new(key, body, hashlib.sha256).digest()[:_MAC_BYTES]
    if not hmac.compare_digest(mac, expected):
        raise BadPageToken("nextPageToken was altered or was issued by another server "
                           "(FOODTRACE_API_PAGE_TOKEN_KEY)")
    try:
        at, mid, bound = json.loads(body)
        position = Position(datetime.fromisoformat(at), UUID(mid))
    except (ValueError, TypeError):
        raise BadPageToken("nextPageToken is malformed") from None
    if bound != digest:
        raise BadPageToken("nextPageToken belongs to another query: repeat the query's "
                           "parameters unchanged when following the Link header")
    return position
