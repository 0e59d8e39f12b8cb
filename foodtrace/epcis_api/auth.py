"""Who is calling: bearer tokens mapped to senders, as MQTT logins are.

The tokens file (FOODTRACE_API_TOKENS_FILE) holds the SHA-256 of each token, never
the token, so a copy of the file lets nobody capture. Two forms:

Lines (`#` starts a comment):

    <sha256 hex of the token> <actor_id> [actor|regulator] [LOCATION,LOCATION,...]

JSON: a mapping `{"<sha256 hex>": "<actor_id>"}`, or a list of entries
`[{"sha256": "...", "actor_id": "...", "role": "regulator", "locations": [...]}]`.

Make an entry with `printf %s "$TOKEN" | sha256sum`.

What a principal may do (the contract is silent; this is the documented choice):
- capture: always as itself. The edge check runs with topic
  foodtrace/v1/epcis/{actor_id} of the token, exactly as a login on MQTT may only
  publish under its own id; a payload speaking for another is `sender_mismatch`.
- read capture jobs: its own only (another's is 404, not 403: ids are not probed).
- query events: role `regulator` reads every event. An actor reads the events it
  recorded and the events at, from or to one of its `locations` (its own sites,
  listed in its entry), so a market sees the shipments sent to it and the
  receipts of what it shipped, but not the rest of the chain.

The file is read again when it changes (checked at most once a second), so a
revoked token stops working without a restart. A token is compared against every
entry with hmac.compare_digest, never with a dict lookup that would stop early.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from foodtrace.config import ConfigError
from foodtrace.ingest.topics import valid_sender_id

log = logging.getLogger("foodtrace.epcis_api.auth")

Role = Literal["actor", "regulator"]
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
RELOAD_CHECK_S = 1.0


@dataclass(frozen=True)
class Principal:
    actor_id: str
    role: Role = "actor"
    locations: tuple[str, ...] = ()

    @property
    def regulator(self) -> bool:
        return self.role == "regulator"


@dataclass(frozen=True)
class _Entry:
    digest: bytes  # 32 bytes
    principal: Principal


def token_digest(token: str) -> str:
    """The hex SHA-256 a tokens file lists for `token`."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_tokens(text: str, source: str = "tokens file") -> list[_Entry]:
    """Every entry of a tokens file (either form); ConfigError names the bad line."""
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        return _parse_json(stripped, source)
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) < 2 or len(parts) > 4:
            raise ConfigError(f"{source} line {number}: expected '<sha256> <actor_id> "
                              "[actor|regulator] [LOCATION,...]'")
        role = parts[2] if len(parts) > 2 else "actor"
        locations = parts[3].split(",") if len(parts) > 3 else []
        entries.append(_entry(parts[0], parts[1], role, locations, f"{source} line {number}"))
    return entries


def _parse_json(text: str, source: str) -> list[_Entry]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{source}: not valid JSON ({exc})") from None
    if isinstance(data, dict):
        return [_entry(k, v, "actor", [], f"{source} entry {k[:8]}...") for k, v in data.items()]
    if not isinstance(data, list):
        raise ConfigError(f"{source}: expected a JSON object or array")
    entries = []
    for i, item in enumerate(data):
        where = f"{source} entry {i}"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: expected an object")
        entries.append(_entry(item.get("sha256"), item.get("actor_id"),
                              item.get("role", "actor"), item.get("locations", []), where))
    return entries


def _entry(digest: Any, actor_id: Any, role: Any, locations: Any, where: str) -> _Entry:
    if not isinstance(digest, str) or not _HEX64.match(digest.lower()):
        raise ConfigError(f"{where}: the token must be given as its SHA-256 in hex (64 digits)")
    if not isinstance(actor_id, str) or not valid_sender_id(actor_id):
        raise ConfigError(f"{where}: {actor_id!r} is not a sender id (as in MQTT topics)")
    if role not in ("actor", "regulator"):
        raise ConfigError(f"{where}: role must be actor or regulator, got {role!r}")
    if not isinstance(locations, list) or not all(isinstance(x, str) and x for x in locations):
        raise ConfigError(f"{where}: locations must be a list of location ids")
    return _Entry(bytes.fromhex(digest.lower()), Principal(actor_id, role, tuple(locations)))


class TokenStore:
    """The tokens file, re-read when it changes; `authenticate` is thread-safe."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._entries: list[_Entry] = []
        self._mtime: int | None = None
        self._checked = 0.0
        self._load()  # a missing or bad file fails at start-up, not on the first request

    def _load(self) -> None:
        try:
            stat = self.path.stat()
            text = self.path.read_text("utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read the tokens file {self.path}: {exc.strerror}") from None
        self._entries = parse_tokens(text, str(self.path))
        self._mtime = stat.st_mtime_ns
        log.info("tokens file %s: %d senders", self.path, len(self._entries))

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < RELOAD_CHECK_S:
            return
        self._checked = now
        try:
            mtime = self.path.stat().st_mtime_ns
        except OSError:
            return  # keep the last good entries rather than lock everybody out
        if mtime != self._mtime:
            try:
                self._load()
            except ConfigError as exc:
                log.error("%s; keeping the previous tokens", exc)
                self._mtime = mtime

    def authenticate(self, token: str) -> Principal | None:
        with self._lock:
            self._refresh()
            entries = self._entries
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        found: Principal | None = None
        for entry in entries:  # every entry, whatever matched: no early exit
            if hmac.compare_digest(entry.digest, digest) and found is None:
                found = entry.principal
        return found
