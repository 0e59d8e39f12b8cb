"""The JSON Schemas of the contract: valid Draft 2020-12, the reference codes of
foodtrace/reference.py, the rules of spec section 2, and a fast path that agrees
with jsonschema."""

from __future__ import annotations

import json
from typing import Any

import pytest
from edge_samples import REPO_ROOT, chain_event, confirmatory, lab_result, location, product
from foodtrace.ingest.schema_check import (
    SCHEMA_FILES,
    compile_schema,
    fast_check,
    load_schema,
    schema_reasons,
    validator,
)
from jsonschema import Draft202012Validator

from foodtrace import reference

SCHEMA_DIR = REPO_ROOT / "schemas" / "json"
VALID = {
    "lab_result": lab_result,
    "chain_event": chain_event,
    "location": location,
    "product": product,
}


def _valid(kind: str, instance: Any) -> bool:
    """jsonschema's verdict, and the fast path must say the same."""
    verdict = validator(kind).is_valid(instance)
    assert fast_check(kind)(instance) == verdict, (kind, instance)
    return verdict


def _messages(kind: str, instance: Any) -> list[str]:
    return [f"{r.path}: {r.message}" for r in schema_reasons(kind, instance)]


def test_every_schema_file_is_draft_2020_12_and_named_by_its_kind() -> None:
    assert sorted(p.name for p in SCHEMA_DIR.glob("*.json")) == sorted(SCHEMA_FILES.values())
    for kind, name in SCHEMA_FILES.items():
        schema = json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        Draft202012Validator.check_schema(schema)
        assert load_schema(kind) == schema  # the packaged copy is the file
        assert schema["additionalProperties"] is False


def test_enums_are_the_reference_codes() -> None:
    lab = load_schema("lab_result")["properties"]
    assert lab["test_kind"]["enum"] == list(reference.TEST_KINDS)
    assert lab["analyte"]["enum"] == list(reference.ANALYTES)
    assert lab["unit"]["enum"] == list(reference.UNITS)
    assert lab["result"]["enum"] == list(reference.RESULTS)
    chain = load_schema("chain_event")
    assert chain["properties"]["event_type"]["enum"] == list(reference.EVENT_TYPES)
    assert chain["$defs"]["lot_line"]["properties"]["unit"]["enum"] == list(
        reference.QUANTITY_UNITS
    )
    loc = load_schema("location")["properties"]
    assert loc["kind"]["enum"] == list(reference.LOCATION_KINDS)
    assert loc["city"]["enum"] == list(reference.CITY_CODES)
    assert load_schema("product")["properties"]["category"]["enum"] == list(
        reference.FOOD_CATEGORIES
    )


def test_shared_definitions_are_the_same_in_every_file() -> None:
    seen: dict[str, Any] = {}
    for kind in SCHEMA_FILES:
        for name, definition in load_schema(kind)["$defs"].items():
            assert seen.setdefault(name, definition) == definition, name
    assert {"uuid", "timestamp", "id", "sender_id", "text"} <= set(seen)


def test_schema_names_are_constants_where_the_contract_gives_them() -> None:
    assert load_schema("lab_result")["properties"]["schema"] == {"const": "foodtrace/lab-result/v1"}
    assert "schema" in load_schema("lab_result")["required"]
    assert "schema" in load_schema("chain_event")["required"]
    for kind in ("location", "product"):  # master data: optional, but right when given
        schema = load_schema(kind)
        assert "schema" not in schema["required"]
        assert _valid(kind, VALID[kind]())
        assert _valid(kind, VALID[kind](schema=f"foodtrace/{kind}/v1"))
        assert not _valid(kind, VALID[kind](schema="foodtrace/lab-result/v1"))


@pytest.mark.parametrize("kind", list(VALID))
def test_samples_are_valid(kind: str) -> None:
    assert _valid(kind, VALID[kind]())
    assert schema_reasons(kind, VALID[kind]()) == []


@pytest.mark.parametrize("event_type", list(reference.EVENT_TYPES))
def test_every_event_type_has_a_valid_form(event_type: str) -> None:
    assert _valid("chain_event", chain_event(event_type))


@pytest.mark.parametrize(
    "bad",
    [
        "0b7e4f6a3c2d4e1f9a8b7c6d5e4f3a2b",  # no dashes
        "0b7e4f6a-3c2d-4e1f-9a8b-7c6d5e4f3a2",  # short
        "0b7e4f6a-3c2d-4e1f-9a8b-7c6d5e4f3a2g",
        "{0b7e4f6a-3c2d-4e1f-9a8b-7c6d5e4f3a2b}",
        "0b7e4f6a-3c2d-4e1f-9a8b-7c6d5e4f3a2b\n",
        "",
        42,
    ],
)
def test_message_id_must_be_a_uuid(bad: object) -> None:
    assert not _valid("lab_result", lab_result(message_id=bad))


@pytest.mark.parametrize(
    "bad",
    [
        "2026-11-28T09:30:00",  # no offset
        "2026-11-28 09:30:00+08:00",
        "2026-11-28T09:30+08:00",
        "2026-02-30T09:30:00+08:00",  # no such day
        "2026-11-28T24:00:00Z",
        "2026-11-28T09:30:00+0800",
        "2026-11-28T09:30:00+08:00\n",
        "1764293400",
        "",
    ],
)
def test_timestamps_are_rfc3339_with_an_offset(bad: str) -> None:
    assert not _valid("lab_result", lab_result(tested_at=bad))
    assert not _valid("chain_event", chain_event(event_time=bad))


@pytest.mark.parametrize(
    "good",
    ["2026-11-28T09:30:00+08:00", "2026-11-28T01:30:00Z", "2026-11-28T01:30:00.123456789-03:30"],
)
def test_valid_timestamps(good: str) -> None:
    assert _valid("chain_event", chain_event(event_time=good))


def test_confirmatory_needs_value_and_unit() -> None:
    assert _valid("lab_result", confirmatory())
    no_value = confirmatory()
    del no_value["value"]
    assert not _valid("lab_result", no_value)
    assert any("/value" in m and "confirmatory" in m for m in _messages("lab_result", no_value))
    assert not _valid("lab_result", confirmatory(value=None))
    no_unit = confirmatory()
    del no_unit["unit"]
    assert not _valid("lab_result", no_unit)


def test_rapid_needs_a_result_and_a_value_needs_its_unit() -> None:
    no_result = lab_result()
    del no_result["result"]
    assert not _valid("lab_result", no_result)
    bare_rapid = lab_result()
    del bare_rapid["value"], bare_rapid["unit"]
    assert _valid("lab_result", bare_rapid)
    assert _valid("lab_result", dict(bare_rapid, value=None))  # null value needs no unit
    no_unit = lab_result()
    del no_unit["unit"]
    assert not _valid("lab_result", no_unit)
    assert not _valid("lab_result", lab_result(value=-1))
    assert not _valid("lab_result", lab_result(value=True))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("test_kind", "guesswork"),
        ("analyte", "Lead"),
        ("unit", "ppm"),
        ("result", "maybe"),
        ("schema", "foodtrace/lab-result/v2"),
    ],
)
def test_lab_codes_come_from_the_reference(field: str, value: str) -> None:
    assert not _valid("lab_result", lab_result(**{field: value}))


@pytest.mark.parametrize(
    ("event_type", "missing"),
    [
        ("harvesting", "lots"),
        ("shipping", "destination_location_id"),
        ("receiving", "source_location_id"),
        ("harvesting", "tlc_source_location_id"),
        ("initial_packing", "tlc_source_location_id"),
        ("first_receiving", "tlc_source_location_id"),
        ("transformation", "tlc_source_location_id"),
        ("transformation", "inputs"),
        ("transformation", "outputs"),
        ("cooling", "location_id"),
    ],
)
def test_chain_event_requires_what_its_type_needs(event_type: str, missing: str) -> None:
    msg = chain_event(event_type)
    del msg[missing]
    assert not _valid("chain_event", msg)
    assert any(f"/{missing}:" in m for m in _messages("chain_event", msg)), _messages(
        "chain_event", msg
    )


def test_the_top_level_required_fields_leave_out_reference_document() -> None:
    assert load_schema("chain_event")["required"] == [
        "schema",
        "message_id",
        "actor_id",
        "event_type",
        "event_time",
        "location_id",
    ]


@pytest.mark.parametrize(
    "event_type",
    [
        "harvesting",
        "cooling",
        "initial_packing",
        "first_receiving",
        "shipping",
        "receiving",
        "transformation",
        "sale",
    ],
)
def test_reference_document_is_optional_at_the_edge(event_type: str) -> None:
    """A missing reference document is a validation finding (spec 2.2), not a rejection."""
    assert event_type in reference.EVENT_TYPES
    msg = chain_event(event_type)
    assert "reference_document" in msg  # the sample names one: removing it is the test
    del msg["reference_document"]
    assert _valid("chain_event", msg), _messages("chain_event", msg)
    assert _messages("chain_event", msg) == []
    # present, it must still be {type, number}
    assert not _valid("chain_event", {**msg, "reference_document": None})
    assert not _valid("chain_event", {**msg, "reference_document": {"number": "B-1"}})


def test_cooling_and_sale_need_no_tlc_source() -> None:
    for event_type in ("cooling", "sale", "shipping", "receiving"):
        msg = chain_event(event_type)
        msg.pop("tlc_source_location_id", None)
        assert _valid("chain_event", msg)


def test_lots_and_inputs_outputs_do_not_mix() -> None:
    transformation = chain_event("transformation", lots=chain_event()["lots"])
    assert not _valid("chain_event", transformation)
    assert any("not `lots`" in m for m in _messages("chain_event", transformation))
    shipping = chain_event("shipping", inputs=chain_event()["lots"])
    assert not _valid("chain_event", shipping)


@pytest.mark.parametrize(
    "line",
    [
        {"lot_code": "L", "product_code": "P", "quantity": 0, "unit": "kg"},
        {"lot_code": "L", "product_code": "P", "quantity": -5, "unit": "kg"},
        {"lot_code": "L", "product_code": "P", "quantity": "5", "unit": "kg"},
        {"lot_code": "L", "product_code": "P", "quantity": 5, "unit": "pallet"},
        {"lot_code": "L", "product_code": "P", "quantity": 5},
        {"lot_code": "", "product_code": "P", "quantity": 5, "unit": "kg"},
        {"lot_code": "L", "product_code": "P", "quantity": 5, "unit": "kg", "note": "x"},
    ],
)
def test_lot_lines(line: dict[str, Any]) -> None:
    assert not _valid("chain_event", chain_event(lots=[line]))


def test_empty_lot_list_and_reference_document_shape() -> None:
    assert not _valid("chain_event", chain_event(lots=[]))
    assert not _valid("chain_event", chain_event(reference_document={"type": "BOL"}))
    assert not _valid("chain_event", chain_event(reference_document="BOL 123"))
    assert _valid("chain_event", chain_event(kdes={"field_id": "F-7", "nested": {"any": [1]}}))
    assert not _valid("chain_event", chain_event(kdes=["not", "an", "object"]))


@pytest.mark.parametrize(
    "bad",
    ["x" * 129, "", " LOT-1", "LOT-1 ", "LOT\n1", "LOT-1\n", "LOT\x00"],
)
def test_identifiers_are_capped_and_clean(bad: str) -> None:
    assert not _valid("lab_result", lab_result(lot_code=bad))


@pytest.mark.parametrize("bad", ["lab/gz", "lab+gz", "lab#", "lab gz", "x" * 129])
def test_sender_ids_are_topic_levels(bad: str) -> None:
    assert not _valid("lab_result", lab_result(lab_id=bad))
    assert not _valid("chain_event", chain_event(actor_id=bad))


def test_top_level_is_closed_except_kdes() -> None:
    for kind, make in VALID.items():
        assert not _valid(kind, make(surprise=1)), kind
    assert _valid("chain_event", chain_event(kdes={"surprise": 1}))


@pytest.mark.parametrize(
    ("field", "value"),
    [("kind", "warehouse"), ("city", "hong_kong"), ("lat", 91), ("lon", -180.5), ("lat", "23")],
)
def test_location_fields(field: str, value: Any) -> None:
    assert not _valid("location", location(**{field: value}))


def test_location_city_other_and_product_category() -> None:
    assert _valid("location", location(city="other"))
    assert not _valid("product", product(category="vegetable"))
    for missing in ("product_code", "name", "category", "message_id"):
        msg = product()
        del msg[missing]
        assert not _valid("product", msg)


def test_every_error_is_listed_with_a_path() -> None:
    msg = lab_result(test_kind="guesswork", tested_at=12345, extra=1)
    del msg["lot_code"]
    reasons = schema_reasons("lab_result", msg)
    by_path = {r.path: r.message for r in reasons}
    assert set(by_path) == {"/test_kind", "/tested_at", "/extra", "/lot_code"}
    assert "missing required field 'lot_code'" in by_path["/lot_code"]
    assert "guesswork" in by_path["/test_kind"] and "confirmatory" in by_path["/test_kind"]
    assert "must be a string" in by_path["/tested_at"]
    assert "unexpected field 'extra'" in by_path["/extra"]
    assert all(r.code == "schema" for r in reasons)


def test_pattern_errors_say_what_is_expected() -> None:
    (reason,) = schema_reasons("lab_result", lab_result(tested_at="2026-11-28 10:00"))
    assert reason.path == "/tested_at" and "RFC 3339" in reason.message


def test_the_fast_path_refuses_keywords_it_does_not_know() -> None:
    with pytest.raises(ValueError, match="dependentRequired"):
        compile_schema({"type": "object", "dependentRequired": {"a": ["b"]}})
    with pytest.raises(ValueError, match="format"):
        compile_schema({"type": "string", "format": "email"})
    assert compile_schema({"$ref": "#/$defs/x", "$defs": {"x": {"const": 1}}})(1.0)
    assert not compile_schema({"enum": [1]})(True)  # true is not 1
