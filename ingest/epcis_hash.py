"""Canonical EPCIS event hash (GS1 CBV 2.0 "event hash ID") for one EPCIS 2.0 JSON event.

Why: an EPCIS event without ``eventID`` has no key of its own, yet re-delivered or replayed
events must land once. The CBV 2.0 event hash (``ni:///sha-256;<hex>?ver=CBV2.0``) is derived
from the event's content alone: field order, whitespace, timestamp notation and time zone,
numeric notation, URN vs. GS1 Digital Link identifiers, bare CBV values vs. full web-vocabulary
URIs, and list order do not change it, while any change of content does. That makes it the
idempotency key for events that lack an eventID.

Implementation: a thin wrapper around the reference implementation of the algorithm, the PyPI
package ``epcis-event-hash-generator`` 1.9.3 (Ralph Troeger, Sebastian Schmittner; MIT;
https://github.com/RalphTro/epcis-event-hash-generator). It reproduces that repository's
published example hashes (tests/data/epcis-hash/). The package is document-oriented and keeps
module-global state, so this wrapper:

* builds a one-event EPCISDocument around the event, with the document's ``@context``
  (the standard EPCIS 2.0 context is used when none is given, and prepended when missing;
  an ``@context`` inside the event is taken as context, not hashed as content);
* works on a JSON round-tripped copy (the package rewrites its input in place);
* clears the package's global namespace table before each call (otherwise prefixes from an
  earlier document leak into later hashes) and serialises calls with a lock;
* resolves only the two EPCIS context URLs the package ships; any other remote context is
  refused instead of fetched from the network;
* turns every failure, including the package's silent dropping of unparseable events, into
  one ``ValueError``.

Failure behaviour: :func:`event_hash` and :func:`event_prehash` either return a string or raise
``ValueError``; no other exception escapes for any input.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

_saved_sys_path = list(sys.path)
try:
    from epcis_event_hash_generator import hash_generator, json_to_py
    from pyld import jsonld
finally:
    # the package's context.py inserts site-packages at sys.path[0] as an import side effect
    sys.path[:] = _saved_sys_path
del _saved_sys_path

__all__ = ["EPCIS_CONTEXT", "Context", "event_hash", "event_prehash"]

Context = str | dict[str, str] | list[str | dict[str, str]]
"""A JSON-LD ``@context`` as EPCIS documents use it: context URLs and prefix-to-IRI maps."""

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
"""The standard EPCIS 2.0 JSON-LD context, assumed when no context is given."""

_BUNDLED_CONTEXTS = frozenset({EPCIS_CONTEXT, "https://gs1.github.io/EPCIS/epcis-context.jsonld"})
_LOCK = threading.Lock()


def _offline_loader(package_loader: Any) -> Any:
    def load(url: str, options: dict[str, Any] | None = None) -> Any:
        if url in _BUNDLED_CONTEXTS:
            return package_loader(url, options or {})
        raise ValueError(f"remote JSON-LD context not available offline: {url}")

    return load


def _context_list(context: Any, event_context: Any) -> list[str | dict[str, str]]:
    items: list[str | dict[str, str]] = []
    for ctx in (context, event_context):
        if ctx is None:
            continue
        for item in ctx if isinstance(ctx, list) else [ctx]:
            if isinstance(item, str):
                items.append(item)
            elif isinstance(item, dict):
                if any(not isinstance(v, str) for v in item.values()):
                    raise ValueError("only prefix-to-IRI @context entries are supported")
                if item:
                    items.append(item)
            else:
                raise ValueError(f"unsupported @context entry: {item!r}")
    if not _BUNDLED_CONTEXTS.intersection(i for i in items if isinstance(i, str)):
        items.insert(0, EPCIS_CONTEXT)
    return items


def event_prehash(event: dict[str, Any], context: Context | None = None) -> str:
    """The canonical pre-hash string of ``event`` (what :func:`event_hash` hashes).

    ``event`` is one EPCIS 2.0 event as it appears in ``epcisBody.eventList``; ``context`` is
    the enclosing document's ``@context`` (a URL, a prefix mapping, or a list of these).
    Raises ``ValueError`` if no hash can be computed.
    """
    try:
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise ValueError("an EPCIS event must be a JSON object with a string 'type'")
        body = json.loads(json.dumps(event, allow_nan=False))
        ctx = _context_list(context, body.pop("@context", None))
        document = {"@context": ctx, "type": "EPCISDocument", "epcisBody": {"eventList": [body]}}
        with _LOCK:
            json_to_py._namespaces.clear()
            package_loader = jsonld.get_document_loader()
            jsonld.set_document_loader(_offline_loader(package_loader))
            try:
                events = json_to_py.event_list_from_epcis_document_json(document)
                prehashes = hash_generator.derive_prehashes_from_events(events, "")
            finally:
                jsonld.set_document_loader(package_loader)
                json_to_py._namespaces.clear()
    except ValueError:
        raise
    except Exception as exc:
        raise ValueError(f"cannot compute EPCIS event hash: {exc!r}") from exc
    if len(prehashes) != 1:
        raise ValueError("cannot compute EPCIS event hash: the event could not be canonicalised")
    prehash: str = prehashes[0]
    return prehash


def event_hash(event: dict[str, Any], context: Context | None = None) -> str:
    """The CBV 2.0 event hash ID ``ni:///sha-256;<hex>?ver=CBV2.0`` of one EPCIS 2.0 event.

    Arguments as for :func:`event_prehash`. Raises ``ValueError`` (and nothing else) if the
    event cannot be hashed, e.g. it is not an object with a ``type``, holds non-JSON values,
    or its context names a remote document other than the standard EPCIS context.
    """
    hashes: list[str] = hash_generator.calculate_hashes_from_pre_hashes(
        [event_prehash(event, context)]
    )
    return hashes[0]

