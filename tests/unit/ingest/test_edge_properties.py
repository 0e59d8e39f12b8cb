"""Properties of the edge on generated input: it never raises, every element is
accounted for exactly once, valid messages always pass, and the fast schema path
agrees with jsonschema."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from edge_samples import NOW, chain_event, lab_result, location, product
from foodtrace.ingest.edge import check_message
from foodtrace.ingest.messages import EDGE_REASON_CODES, EdgeResult
from foodtrace.ingest.schema_check import fast_check, validator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foodtrace import reference

BOUNDED = settings(max_examples=200, deadline=None, database=None,
                   suppress_health_check=[HealthCheck.too_slow])

SENDERS = ["lab-gz-01", "farm-zq-01"]
TOPICS = [
    "foodtrace/v1/labs/lab-gz-01/results",
    "foodtrace/v1/chain/farm-zq-01/events",
    "foodtrace/v1/epcis/farm-zq-01",
    "foodtrace/v1/registry/locations",
    "foodtrace/v1/registry/products",
]
topics = st.sampled_from(TOPICS) | st.text(max_size=60) | st.sampled_from(
    ["foodtrace/v1/labs/a/b/results", "foodtrace/v1/epcis/", "$share/x/foodtrace/v1/epcis/a"]
)

# Any JSON value, including the non-standard NaN/Infinity json.dumps writes.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=25,
)


def accounted(result: EdgeResult, topic: Any, raw: bytes) -> None:
    """Every element is accepted or rejected exactly once; reasons are well-formed."""
    assert isinstance(result, EdgeResult)
    for rej in result.rejected:
        assert rej.reasons and isinstance(rej.raw, bytes)
        for reason in rej.reasons:
            assert reason.code in EDGE_REASON_CODES and reason.code != "internal_error", reason
            assert reason.message
    whole = [r for r in result.rejected if r.element_index is None]
    if whole:  # the whole MQTT message was refused, as it came
        assert len(result.rejected) == 1 and not result.accepted and whole[0].raw == raw
        return
    single = [a for a in result.accepted if a.element_index is None]
    if single:  # one JSON object, accepted
        assert len(result.accepted) == 1 and not result.rejected
        return
    value = json.loads(raw)
    elements = value["epcisBody"]["eventList"] if result.documents else value
    indices = sorted([a.element_index for a in result.accepted]
                     + [r.element_index for r in result.rejected])
    assert indices == list(range(len(elements)))


@BOUNDED
@given(topic=topics, raw=st.binary(max_size=600))
def test_random_bytes_never_raise(topic: str, raw: bytes) -> None:
    accounted(check_message(topic, raw, now=NOW), topic, raw)


@BOUNDED
@given(topic=topics, value=json_values, ascii_only=st.booleans())
def test_random_json_never_raises(topic: str, value: Any, ascii_only: bool) -> None:
    raw = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    accounted(check_message(topic, raw, now=NOW), topic, raw)


# --- mutated contract messages ---------------------------------------------------------------

SAMPLES = {
    "foodtrace/v1/labs/lab-gz-01/results": ("lab_result", lab_result),
    "foodtrace/v1/chain/farm-zq-01/events": ("chain_event", chain_event),
    "foodtrace/v1/registry/locations": ("location", location),
    "foodtrace/v1/registry/products": ("product", product),
}


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, str, Any]:
    """A valid message with a few random changes (fields removed, replaced, added,
    nested lot lines broken)."""
    topic = draw(st.sampled_from(sorted(SAMPLES)))
    kind, make = SAMPLES[topic]
    msg = make(draw(st.sampled_from(reference.EVENT_TYPES))) if kind == "chain_event" else make()
    for _ in range(draw(st.integers(0, 3))):
        keys = sorted(msg)
        op = draw(st.sampled_from(["drop", "set", "add", "lot"]))
        if op == "drop" and keys:
            del msg[draw(st.sampled_from(keys))]
        elif op == "set" and keys:
            msg[draw(st.sampled_from(keys))] = draw(json_values | st.sampled_from(
                ["", " x", "x" * 129, "2026-11-28T09:30:00+08:00", "confirmatory", "shipping"]
            ))
        elif op == "add":
            msg[draw(st.text(max_size=12))] = draw(json_values)
        elif op == "lot":
            lines = msg.get("lots") or msg.get("inputs")
            if isinstance(lines, list) and lines and isinstance(lines[0], dict):
                lines[0][draw(st.sampled_from(["quantity", "unit", "lot_code", "x"]))] = draw(
                    json_values
                )
    as_array = draw(st.booleans())
    return topic, kind, [msg] if as_array else msg


@BOUNDED
@given(case=mutated())
def test_the_fast_path_agrees_with_jsonschema(case: tuple[str, str, Any]) -> None:
    topic, kind, value = case
    msg = value[0] if isinstance(value, list) else value
    assert fast_check(kind)(msg) == validator(kind).is_valid(msg)
    raw = json.dumps(value).encode()
    result = check_message(topic, raw, now=NOW)
    accounted(result, topic, raw)
    if not validator(kind).is_valid(msg):  # refused: by the schema, or as NaN/Infinity
        assert result.rejected and {"schema", "not_json"} & {
            r.code for r in result.rejected[0].reasons
        }


# --- valid messages ---------------------------------------------------------------------------

ids = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Z")), min_size=1, max_size=128)
texts = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Z")), min_size=1, max_size=200)
offsets = st.sampled_from([UTC, timezone(timedelta(hours=8)),
                           timezone(timedelta(hours=-3, minutes=-30)), timezone(timedelta(hours=14))])
instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2026, 11, 27),
                        timezones=offsets)
quantities = st.integers(1, 10**9) | st.floats(min_value=1e-6, max_value=1e12)
# What PostgreSQL's jsonb can hold: finite numbers, no NUL, no lone surrogates.
storable_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                        max_size=10)
storable_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | storable_text,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(storable_text, children, max_size=4),
    max_leaves=15,
)
lot_lines = st.fixed_dictionaries({
    "lot_code": ids, "product_code": ids, "quantity": quantities,
    "unit": st.sampled_from(reference.QUANTITY_UNITS),
})


@st.composite
def valid_lab_results(draw: st.DrawFn) -> dict[str, Any]:
    sampled = draw(instants)
    tested = sampled + draw(st.timedeltas(timedelta(0), timedelta(days=3)))
    tested = min(tested, NOW).astimezone(draw(offsets))
    kind = draw(st.sampled_from(reference.TEST_KINDS))
    msg = lab_result(
        sample_id=draw(ids), lot_code=draw(ids), sampled_location_id=draw(ids),
        sampled_at=sampled.isoformat(), tested_at=tested.isoformat(), test_kind=kind,
        method=draw(texts), analyte=draw(st.sampled_from(reference.ANALYTES)),
        value=draw(st.floats(min_value=0, max_value=1e6) | st.integers(0, 10**6)),
        unit=draw(st.sampled_from(reference.UNITS)),
        result=draw(st.sampled_from(reference.RESULTS)),
    )
    if kind == "confirmatory" and draw(st.booleans()):
        del msg["result"]
    if kind == "rapid" and draw(st.booleans()):
        msg["value"] = None
        del msg["unit"]
    for optional in ("product_code", "operator", "instrument"):
        if draw(st.booleans()):
            msg[optional] = draw(ids if optional == "product_code" else texts)
    return msg


@st.composite
def valid_chain_events(draw: st.DrawFn) -> dict[str, Any]:
    event_type = draw(st.sampled_from(reference.EVENT_TYPES))
    msg = chain_event(
        event_type,
        event_time=draw(instants).isoformat(),
        location_id=draw(ids),
        reference_document={"type": draw(st.sampled_from(["BOL", "PO", "INV", "发货单"])),
                            "number": draw(ids)},
    )
    lines = st.lists(lot_lines, min_size=1, max_size=4)
    if event_type == "transformation":
        msg["inputs"], msg["outputs"] = draw(lines), draw(lines)
    else:
        msg["lots"] = draw(lines)
    if draw(st.booleans()):
        msg["kdes"] = draw(st.dictionaries(storable_text, storable_json, max_size=4))
    return msg


valid_locations = st.builds(
    lambda loc_id, name, kind, city, lat, lon, named: location(
        location_id=loc_id, name=name, kind=kind, city=city, lat=lat, lon=lon,
        **({"schema": "foodtrace/location/v1"} if named else {})),
    ids, texts, st.sampled_from(reference.LOCATION_KINDS), st.sampled_from(reference.CITY_CODES),
    st.floats(-90, 90), st.floats(-180, 180), st.booleans(),
)
valid_products = st.builds(
    lambda code, name, category: product(product_code=code, name=name, category=category),
    ids, texts, st.sampled_from(list(reference.FOOD_CATEGORIES)),
)
VALID = {
    "foodtrace/v1/labs/lab-gz-01/results": valid_lab_results(),
    "foodtrace/v1/chain/farm-zq-01/events": valid_chain_events(),
    "foodtrace/v1/registry/locations": valid_locations,
    "foodtrace/v1/registry/products": valid_products,
}


@st.composite
def valid_payloads(draw: st.DrawFn) -> tuple[str, Any]:
    topic = draw(st.sampled_from(sorted(VALID)))
    messages = draw(st.lists(VALID[topic], min_size=1, max_size=4))
    return topic, messages if len(messages) > 1 or draw(st.booleans()) else messages[0]


@BOUNDED
@given(case=valid_payloads(), ascii_only=st.booleans(), indent=st.sampled_from([None, 2]))
def test_valid_messages_are_always_accepted(case: tuple[str, Any], ascii_only: bool,
                                            indent: int | None) -> None:
    topic, value = case
    raw = json.dumps(value, ensure_ascii=ascii_only, indent=indent).encode()
    result = check_message(topic, raw, now=NOW)
    assert not result.rejected, [r.reasons for r in result.rejected]
    messages = value if isinstance(value, list) else [value]
    assert [a.payload for a in result.accepted] == messages
    assert all(str(a.message_id) == m["message_id"] for a, m in zip(result.accepted, messages,
                                                                     strict=True))


def test_the_clock_of_the_strategies_is_the_tests_clock() -> None:
    assert NOW.tzinfo is UTC and datetime(2026, 11, 27) < NOW.replace(tzinfo=None)
