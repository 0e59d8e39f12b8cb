"""JSON Schema checks of inbound messages: fast to accept, thorough to reject.

The schemas in schemas/json/ are the contract. `jsonschema` (Draft 2020-12, with a
FormatChecker) is the authority, but it manages about 4,000 lab results/s here,
far below the ingest target. So every schema is also compiled once into plain
Python closures (`compile_schema`) covering exactly the keywords our schemas use;
that fast path decides "valid". Only when it says "invalid" does `jsonschema` run,
to list every error with a path and a sentence a person can act on. A test keeps
the two in agreement on generated messages, and compiling fails loudly on any
keyword the fast path does not know, so a schema edit cannot silently weaken it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any
from uuid import UUID

from foodtrace.ingest.messages import Reason

SCHEMA_FILES: dict[str, str] = {
    "lab_result": "lab-result.v1.json",
    "chain_event": "chain-event.v1.json",
    "location": "location.v1.json",
    "product": "product.v1.json",
    "withdrawal_report": "withdrawal-report.v1.json",
}
MAX_REASONS = 50  # per element; a message with more errors says how many were left out

Check = Callable[[Any], bool]


@cache
def load_schema(kind: str) -> dict[str, Any]:
    text = resources.files("foodtrace.schemas").joinpath("json", SCHEMA_FILES[kind]).read_text(
        encoding="utf-8"
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


# --- formats ---------------------------------------------------------------------


def _is_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return True  # formats only constrain strings
    try:
        UUID(value)
    except ValueError:
        return False
    return all(value[i] == "-" for i in (8, 13, 18, 23))


def _is_datetime(value: object) -> bool:
    """A real instant with an offset (the schemas' pattern pins the RFC 3339 shape;
    this rejects what the pattern cannot, such as 2026-02-30)."""
    return not isinstance(value, str) or instant(value) is not None


FORMATS: dict[str, Callable[[object], bool]] = {"uuid": _is_uuid, "date-time": _is_datetime}


@cache
def format_checker() -> Any:
    """jsonschema's FormatChecker with our uuid and date-time (jsonschema checks
    date-time only when the optional rfc3339-validator is installed: it is not)."""
    from jsonschema import FormatChecker

    checker = FormatChecker()
    for name, check in FORMATS.items():
        checker.checks(name)(check)
    return checker


@cache
def validator(kind: str) -> Any:
    """The Draft 2020-12 validator of a kind, built once."""
    from jsonschema import Draft202012Validator

    schema = load_schema(kind)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=format_checker())


# --- the fast path ----------------------------------------------------------------

_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$defs", "$comment", "title", "description", "examples", "default"}
)
# Keywords compiled together into one closure per instance type (fewer calls per
# value: this is the hot path).
_OBJECT_KEYWORDS = frozenset(
    {"properties", "required", "additionalProperties", "maxProperties", "minProperties"}
)
_STRING_KEYWORDS = frozenset({"minLength", "maxLength", "pattern", "format"})
_NUMBER_KEYWORDS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})
_ARRAY_KEYWORDS = frozenset({"items", "minItems", "maxItems"})
_REJECT_EXTRA = object()  # additionalProperties: false


def _is_number(x: object) -> bool:
    # a tuple, not `int | float`: the union would be built again on every call
    return isinstance(x, (int, float)) and not isinstance(x, bool)


_TYPES: dict[str, Check] = {
    "string": lambda x: isinstance(x, str),
    "number": _is_number,
    "integer": lambda x: (isinstance(x, int) and not isinstance(x, bool))
    or (isinstance(x, float) and x.is_integer()),
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
}


def json_equal(a: object, b: object) -> bool:
    """Equality as JSON Schema means it: true is not 1, 1 is 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def compile_schema(schema: Any, root: dict[str, Any] | None = None) -> Check:
    """A predicate equivalent to `schema` for the keywords our schemas use.
    Raises ValueError on any other keyword."""
    root = root if root is not None else schema
    refs: dict[str, Check] = {}

    def ref(pointer: str) -> Check:
        if pointer not in refs:
            if not pointer.startswith("#/$defs/"):
                raise ValueError(f"only local #/$defs/ references are supported, not {pointer}")
            refs[pointer] = _always  # placeholder while compiling (no recursive defs here)
            refs[pointer] = build(root["$defs"][pointer[len("#/$defs/") :]])
        return refs[pointer]

    def build(s: Any) -> Check:
        if s is True:
            return _always
        if s is False:
            return _never
        keys = set(s) - _ANNOTATIONS - {"then", "else"}
        typ = s.get("type")
        checks: list[Check] = []
        for group, fused_type, make in (
            (_OBJECT_KEYWORDS, "object", object_check),
            (_STRING_KEYWORDS, "string", string_check),
            (_NUMBER_KEYWORDS, "number", number_check),
            (_ARRAY_KEYWORDS, "array", array_check),
        ):
            if keys & group:
                strict = typ == fused_type  # the type keyword is folded in
                checks.append(make(s, strict))
                keys -= group
                if strict:
                    keys.discard("type")
        checks.extend(keyword(key, s[key], s) for key in sorted(keys))
        return _all_of(checks)

    def object_check(s: dict[str, Any], strict: bool) -> Check:
        props = {name: build(sub) for name, sub in s.get("properties", {}).items()}
        required = tuple(s.get("required", ()))
        extra_schema = s.get("additionalProperties", True)
        if "patternProperties" in s:
            raise ValueError("patternProperties is not supported by the fast path")
        extra: Any = None if extra_schema is True else (
            _REJECT_EXTRA if extra_schema is False else build(extra_schema)
        )
        max_props = s.get("maxProperties")
        min_props = s.get("minProperties", 0)
        listed = tuple(props.items())

        def check(x: Any) -> bool:
            if not isinstance(x, dict):
                return not strict
            for name in required:
                if name not in x:
                    return False
            if len(x) < min_props or (max_props is not None and len(x) > max_props):
                return False
            if extra is None:  # only the listed properties matter (e.g. an `if`)
                for name, sub in listed:  # noqa: SIM110 - hot path, see above
                    if name in x and not sub(x[name]):
                        return False
                return True
            for key, value in x.items():
                prop = props.get(key)
                if prop is None:
                    if extra is None:
                        continue
                    if extra is _REJECT_EXTRA or not extra(value):
                        return False
                elif not prop(value):
                    return False
            return True

        return check

    def string_check(s: dict[str, Any], strict: bool) -> Check:
        min_len = s.get("minLength", 0)
        max_len = s.get("maxLength")
        search = re.compile(s["pattern"]).search if "pattern" in s else None
        fmt = None
        if "format" in s:
            fmt = FORMATS.get(s["format"])
            if fmt is None:
                raise ValueError(f"format {s['format']!r} is not supported by the fast path")

        def check(x: Any) -> bool:
            if not isinstance(x, str):
                return not strict
            n = len(x)
            if n < min_len or (max_len is not None and n > max_len):
                return False
            if search is not None and search(x) is None:
                return False
            return fmt is None or fmt(x)

        return check

    def number_check(s: dict[str, Any], strict: bool) -> Check:
        lo, hi = s.get("minimum"), s.get("maximum")
        xlo, xhi = s.get("exclusiveMinimum"), s.get("exclusiveMaximum")

        def check(x: Any) -> bool:
            if not _is_number(x):
                return not strict
            return (
                (lo is None or x >= lo)
                and (hi is None or x <= hi)
                and (xlo is None or x > xlo)
                and (xhi is None or x < xhi)
            )

        return check

    def array_check(s: dict[str, Any], strict: bool) -> Check:
        if "prefixItems" in s:
            raise ValueError("prefixItems is not supported by the fast path")
        item = build(s.get("items", True))
        min_items = s.get("minItems", 0)
        max_items = s.get("maxItems")

        def check(x: Any) -> bool:
            if not isinstance(x, list):
                return not strict
            if len(x) < min_items or (max_items is not None and len(x) > max_items):
                return False
            for value in x:  # noqa: SIM110 - a loop: all() + generator costs more here
                if not item(value):
                    return False
            return True

        return check

    def keyword(key: str, value: Any, s: dict[str, Any]) -> Check:
        match key:
            case "$ref":
                return ref(value)
            case "type":
                names = [value] if isinstance(value, str) else list(value)
                if sorted(names) == ["null", "number"]:  # the common optional number
                    return lambda x: x is None or _is_number(x)
                tests = [_TYPES[n] for n in names]
                return tests[0] if len(tests) == 1 else (lambda x: any(t(x) for t in tests))
            case "enum" | "const":
                options = [value] if key == "const" else list(value)
                if all(isinstance(o, str) for o in options):
                    allowed = frozenset(options)
                    return lambda x: isinstance(x, str) and x in allowed
                return lambda x: any(json_equal(x, o) for o in options)
            case "allOf":
                return _all_of([build(sub) for sub in value])
            case "anyOf":
                subs = [build(sub) for sub in value]
                return lambda x: any(sub(x) for sub in subs)
            case "not":
                sub = build(value)
                return lambda x: not sub(x)
            case "if":
                cond = build(value)
                then = build(s.get("then", True))
                other = build(s.get("else", True))
                return lambda x: then(x) if cond(x) else other(x)
        raise ValueError(f"keyword {key!r} is not supported by the fast path")

    return build(schema)


def _always(x: object) -> bool:
    return True


def _never(x: object) -> bool:
    return False


def _all_of(checks: list[Check]) -> Check:
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        a, b = checks
        return lambda x: a(x) and b(x)

    def check(x: Any) -> bool:
        for c in checks:  # noqa: SIM110 - a loop: all() + generator costs more here
            if not c(x):
                return False
        return True

    return check


@cache
def fast_check(kind: str) -> Check:
    """The compiled predicate of a kind, built once."""
    return compile_schema(load_schema(kind))


# --- the thorough path: every error, in words ---------------------------------------

_JSON_TYPE_NAMES = {
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "object": "an object",
    "array": "an array",
    "boolean": "true or false",
    "null": "null",
}


def json_type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def shown(value: object, limit: int = 60) -> str:
    """A value as JSON, cut to `limit` characters."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def instant(value: object) -> datetime | None:
    """The moment an RFC 3339 timestamp with an offset names; None for anything else
    (no offset, not a string, or longer than any timestamp)."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def pointer_token(part: object) -> str:
    """One reference token of a JSON Pointer, escaped (RFC 6901: ~ as ~0, / as ~1)."""
    return str(part).replace("~", "~0").replace("/", "~1")


def pointer(parts: Iterable[object]) -> str:
    """A JSON Pointer (RFC 6901) to the offending field; "" is the whole message."""
    return "".join("/" + pointer_token(p) for p in parts)


def _field(path: str) -> str:
    return path.rsplit("/", 1)[-1] if path else "the message"


def _describe(error: Any) -> list[tuple[str, str]]:
    """(path, message) pairs for one jsonschema error."""
    path = pointer(error.absolute_path)
    kw, schema, instance = error.validator, error.schema, error.instance
    context = schema.get("description") if isinstance(schema, dict) else None
    in_condition = "then" in error.schema_path or kw == "not"
    why = f" ({context})" if context and in_condition else ""
    name = _field(path)
    if kw == "required":
        return [
            (f"{path}/{missing}", f"missing required field '{missing}'{why}")
            for missing in error.validator_value
            if isinstance(instance, dict) and missing not in instance
        ]
    if kw == "additionalProperties":
        known = set(schema.get("properties", {}))
        allowed = ", ".join(sorted(known))
        return [
            (f"{path}/{extra}", f"unexpected field '{extra}' (allowed: {allowed})")
            for extra in sorted(set(instance) - known)
        ]
    if kw == "type":
        wanted = error.validator_value
        names = [wanted] if isinstance(wanted, str) else wanted
        expected = " or ".join(_JSON_TYPE_NAMES.get(n, n) for n in names)
        got = "got null" if instance is None else f"got {json_type_name(instance)} ({shown(instance)})"
        return [(path, f"{name} must be {expected}, {got}{why}")]
    if kw == "enum":
        options = ", ".join(str(o) for o in error.validator_value)
        return [(path, f"{name} {shown(instance)} is not one of: {options}")]
    if kw == "const":
        return [(path, f"{name} must be {shown(error.validator_value)}, got {shown(instance)}")]
    if kw in ("pattern", "format"):
        what = context or f"matching {error.validator_value}"
        return [(path, f"{name} {shown(instance)} is not {what}")]
    if kw in ("minLength", "maxLength"):
        limit = error.validator_value
        bound = "at least" if kw == "minLength" else "at most"
        return [(path, f"{name} must be {bound} {limit} characters long, got {len(instance)}")]
    if kw in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        bound = {
            "minimum": "at least",
            "maximum": "at most",
            "exclusiveMinimum": "greater than",
            "exclusiveMaximum": "less than",
        }[kw]
        return [(path, f"{name} must be {bound} {error.validator_value}, got {shown(instance)}")]
    if kw in ("minItems", "maxItems"):
        bound = "at least" if kw == "minItems" else "at most"
        limit = error.validator_value
        entries = "entry" if limit == 1 else "entries"
        return [(path, f"{name} must have {bound} {limit} {entries}, got {len(instance)}")]
    if kw == "maxProperties":
        return [(path, f"{name} must have at most {error.validator_value} fields, got {len(instance)}")]
    if kw == "not" and context:
        return [(path, context)]
    if kw is False or schema is False:
        return [(path, f"{name} is not allowed here")]
    return [(path, error.message)]


def schema_reasons(kind: str, instance: Any) -> list[Reason]:
    """Every schema error of `instance`, as code-`schema` reasons sorted by path.
    Empty when the instance is valid."""
    pairs: dict[tuple[str, str], None] = {}
    for error in validator(kind).iter_errors(instance):
        for pair in _describe(error):
            pairs.setdefault(pair)
    ordered = sorted(pairs)
    reasons = [Reason("schema", message, path) for path, message in ordered[:MAX_REASONS]]
    if len(ordered) > MAX_REASONS:
        reasons.append(
            Reason("schema", f"… and {len(ordered) - MAX_REASONS} more schema errors", None)
        )
    return reasons
