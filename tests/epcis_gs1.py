"""GS1's EPCIS 2.0 JSON Schema (../shared/vectors/epcis-gs1, read in place: it is
GS1's, not ours to ship) as a validator that also checks the formats it names.

jsonschema checks `format` only with a FormatChecker, and its built-in `uri` and
`date-time` checks need packages that are not installed (rfc3987, rfc3339-validator):
without them every string would pass. So both are checked here: `uri` as an
absolute URI (RFC 3986: a scheme, then no space or character a URI cannot hold),
`date-time` as RFC 3339 (a full date and time with an offset).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA_PATH = (Path(__file__).resolve().parents[2] / "shared" / "vectors" / "epcis-gs1"
               / "EPCIS-JSON-Schema.json")

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]*$")
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)

_formats = jsonschema.FormatChecker(formats=())


@_formats.checks("uri")
def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or bool(_URI.match(value))


@_formats.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    datetime.fromisoformat(value.replace("z", "Z"))
    return True


@cache
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA_PATH.read_text("utf-8"))
    return jsonschema.Draft7Validator(schema, format_checker=_formats)


def schema_errors(document: Any) -> list[str]:
    """Every way `document` breaks GS1's schema (empty: valid)."""
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in validator().iter_errors(document)]


def assert_valid(document: Any) -> None:
    errors = schema_errors(document)
    assert not errors, "not valid against GS1's EPCIS 2.0 JSON Schema:\n" + "\n".join(errors[:20])
