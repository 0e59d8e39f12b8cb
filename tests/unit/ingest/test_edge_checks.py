"""check_message: every rejection code, with good neighbours that pass."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from edge_samples import (
    CHAIN_TOPIC,
    LAB,
    LAB_TOPIC,
    LOCATIONS_TOPIC,
    NOW,
    PRODUCTS_TOPIC,
    chain_event,
    check,
    codes,
    confirmatory,
    encode,
    lab_result,
    location,
    only_rejection,
    product,
)
from foodtrace.ingest import edge
from foodtrace.ingest.edge import DEFAULT_MAX_BYTES, MAX_CLOCK_SKEW, check_message
from foodtrace.ingest.messages import EDGE_REASON_CODES


def _compact(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# --- accepted ------------------------------------------------------------------------


def test_a_lab_result_is_accepted_as_sent() -> None:
    msg = lab_result()
    result = check(LAB_TOPIC, msg)
    assert (result.topic, result.sender_id, result.rejected, result.documents) == (
        LAB_TOPIC, LAB, [], []
    )
    (acc,) = result.accepted
    assert acc.kind == "lab_result" and acc.sender_id == LAB
    assert acc.message_id == uuid.UUID(msg["message_id"])
    assert acc.payload == msg and acc.element_index is None and acc.natural_key is None
    assert check(LAB_TOPIC, confirmatory()).accepted


def test_a_chain_event_of_every_type_is_accepted() -> None:
    events = [chain_event(t) for t in ("harvesting", "cooling", "initial_packing",
                                       "first_receiving", "shipping", "receiving",
                                       "transformation", "sale")]
    result = check(CHAIN_TOPIC, events)
    assert not result.rejected
    assert [a.payload["event_type"] for a in result.accepted] == [e["event_type"] for e in events]
    assert [a.element_index for a in result.accepted] == list(range(8))
    assert all(a.kind == "chain_event" and a.document_id is None for a in result.accepted)


def test_master_data_gets_its_natural_key_and_the_registry_as_sender() -> None:
    loc = check(LOCATIONS_TOPIC, location(location_id="MKT-GZ-JIANGNAN"))
    (acc,) = loc.accepted
    assert (acc.kind, acc.natural_key, acc.sender_id) == ("location", "MKT-GZ-JIANGNAN", "registry")
    prods = check(PRODUCTS_TOPIC, [product(product_code="PORK", category="livestock_meat"),
                                   product(schema="foodtrace/product/v1")])
    assert [(a.kind, a.natural_key) for a in prods.accepted] == [
        ("product", "PORK"), ("product", "CHOY-SUM")
    ]


# --- whole-message rejections ---------------------------------------------------------


def test_unknown_topic_keeps_the_bytes_and_names_the_topics() -> None:
    raw = encode(location())
    result = check_message("foodtrace/v1/registry/warehouses", raw, now=NOW)
    rej = only_rejection(result)
    assert result.sender_id is None and rej.raw == raw
    (reason,) = rej.reasons
    assert reason.code == "unknown_topic"
    assert "foodtrace/v1/registry/warehouses" in reason.message
    assert "foodtrace/v1/labs/{lab_id}/results" in reason.message


def test_oversize_says_the_limit_and_keeps_the_bytes() -> None:
    raw = encode(lab_result(operator="x" * 150))
    rej = only_rejection(check(LAB_TOPIC, raw, max_bytes=len(raw) - 1))
    assert rej.raw == raw and rej.element_index is None
    (reason,) = rej.reasons
    assert reason.code == "oversize"
    assert f"{len(raw)} bytes" in reason.message and f"limit is {len(raw) - 1}" in reason.message
    assert check(LAB_TOPIC, raw, max_bytes=len(raw)).accepted  # the limit itself is fine
    assert DEFAULT_MAX_BYTES == 1024 * 1024


def test_oversize_is_checked_before_parsing() -> None:
    rej = only_rejection(check(LAB_TOPIC, b"{" * 2000, max_bytes=1000))
    assert [r.code for r in rej.reasons] == ["oversize"]


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"{this is not json", "line 1 column 2"),
        (b'{"a": 1,\n "b": }', "line 2 column 7"),
        (b"\xff\xfe{}", "offset 0"),
        (b'{"lab_id": "caf\xc3"}', "offset 15"),
        ("\ufeff{}".encode(), "byte order mark"),
        (b'{"value": NaN}', "NaN"),
        (b'{"value": -Infinity}', "Infinity"),
        (b'{"value": 1e400}', "1e400"),
        (b'{"value": ' + b"9" * 5000 + b"}", "digits"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"", "line 1 column 1"),
    ],
)
def test_not_json_says_where(raw: bytes, words: str) -> None:
    rej = only_rejection(check(LAB_TOPIC, raw))
    assert rej.raw == raw
    (reason,) = rej.reasons
    assert reason.code == "not_json" and words in reason.message, reason.message


def test_a_key_named_twice_is_refused() -> None:
    raw = encode(lab_result())[:-1] + b', "lab_id": "lab-sz-02"}'
    (reason,) = only_rejection(check(LAB_TOPIC, raw)).reasons
    assert reason.code == "duplicate_key" and "lab_id" in reason.message


@pytest.mark.parametrize(("raw", "kind"), [(b"42", "a number"), (b'"x"', "a string"),
                                           (b"null", "null"), (b"true", "a boolean")])
def test_the_payload_must_be_an_object_or_an_array(raw: bytes, kind: str) -> None:
    (reason,) = only_rejection(check(LAB_TOPIC, raw)).reasons
    assert reason.code == "schema" and kind in reason.message


def test_an_empty_array_is_refused() -> None:
    rej = only_rejection(check(LAB_TOPIC, b" [ ] "))
    assert [r.code for r in rej.reasons] == ["empty_array"] and rej.raw == b" [ ] "


def test_too_many_elements_is_refused_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(edge, "MAX_ELEMENTS", 3)
    assert len(check(LAB_TOPIC, [lab_result() for _ in range(3)]).accepted) == 3
    rej = only_rejection(check(LAB_TOPIC, [lab_result() for _ in range(4)]))
    assert [r.code for r in rej.reasons] == ["too_many_elements"]


def test_a_schema_failure_lists_every_error_and_keeps_the_exact_bytes() -> None:
    msg = lab_result(test_kind="guesswork", tested_at=12345)
    del msg["lot_code"]
    raw = json.dumps(msg, indent=2).encode()
    rej = only_rejection(check(LAB_TOPIC, raw))
    assert rej.raw == raw and rej.element_index is None
    assert rej.message_id == uuid.UUID(msg["message_id"])  # the sender can match it up
    assert {r.path for r in rej.reasons} == {"/lot_code", "/test_kind", "/tested_at"}
    assert {r.code for r in rej.reasons} == {"schema"}
    assert any("lot_code" in r.message for r in rej.reasons)


def test_a_rejection_without_a_usable_message_id_has_none() -> None:
    rej = only_rejection(check(LAB_TOPIC, lab_result(message_id="not-a-uuid")))
    assert rej.message_id is None


# --- sender -----------------------------------------------------------------------------


def test_a_lab_cannot_speak_for_another_lab() -> None:
    rej = only_rejection(check(LAB_TOPIC, lab_result(lab_id="lab-sz-02")))
    (reason,) = rej.reasons
    assert reason.code == "sender_mismatch" and reason.path == "/lab_id"
    assert reason.message == (
        "topic says lab lab-gz-01 but payload says lab-sz-02: one sender cannot speak for another"
    )


def test_an_actor_cannot_speak_for_another_actor() -> None:
    result = check(CHAIN_TOPIC, [chain_event(), chain_event(actor_id="packer-gz-01")])
    assert len(result.accepted) == 1 and result.accepted[0].element_index == 0
    (rej,) = result.rejected
    assert rej.element_index == 1 and codes(result) == [{"sender_mismatch"}]
    assert "actor farm-zq-01 but payload says packer-gz-01" in rej.reasons[0].message


def test_a_sender_mismatch_is_reported_with_the_schema_errors() -> None:
    msg = lab_result(lab_id="lab-sz-02")
    del msg["analyte"]
    assert codes(check(LAB_TOPIC, msg)) == [{"schema", "sender_mismatch"}]


# --- arrays -----------------------------------------------------------------------------


def test_each_array_element_is_checked_on_its_own() -> None:
    good, bad, good2 = lab_result(), lab_result(test_kind="guesswork"), confirmatory()
    result = check(LAB_TOPIC, [good, bad, 7, good2])
    assert [(a.element_index, a.payload) for a in result.accepted] == [(0, good), (3, good2)]
    assert [r.element_index for r in result.rejected] == [1, 2]
    bad_rej, number_rej = result.rejected
    assert bad_rej.raw == _compact(bad) and bad_rej.message_id == uuid.UUID(bad["message_id"])
    assert number_rej.raw == b"7" and number_rej.message_id is None
    assert number_rej.reasons[0].code == "schema" and "a number" in number_rej.reasons[0].message


def test_rejected_elements_keep_non_ascii_text_as_utf8() -> None:
    bad = location(kind="warehouse")
    result = check(LOCATIONS_TOPIC, [location(), bad])
    assert result.rejected[0].raw == _compact(bad)
    assert "菜心基地".encode() in result.rejected[0].raw


def test_a_message_id_reused_for_another_message_is_refused() -> None:
    first = lab_result()
    other = lab_result(message_id=first["message_id"].upper(), sample_id="S-other")
    result = check(LAB_TOPIC, [first, other])
    assert [a.element_index for a in result.accepted] == [0]
    (rej,) = result.rejected
    assert rej.element_index == 1 and codes(result) == [{"duplicate_message_id"}]
    assert "element 0" in rej.reasons[0].message


def test_the_same_message_twice_in_an_array_is_a_duplicate_not_an_error() -> None:
    msg = lab_result()
    result = check(LAB_TOPIC, [msg, msg])
    assert not result.rejected and [a.element_index for a in result.accepted] == [0, 1]


# --- times --------------------------------------------------------------------------------


def test_tested_before_sampled_is_refused() -> None:
    msg = lab_result(sampled_at="2026-11-28T10:00:00+08:00", tested_at="2026-11-28T01:59:59Z")
    (reason,) = only_rejection(check(LAB_TOPIC, msg)).reasons
    assert reason.code == "time_order" and reason.path == "/tested_at"
    # the same instant in another offset is fine
    assert check(LAB_TOPIC, lab_result(sampled_at="2026-11-28T10:00:00+08:00",
                                       tested_at="2026-11-28T02:00:00Z")).accepted


def test_the_future_allows_clock_skew_only() -> None:
    ok = (NOW + MAX_CLOCK_SKEW - timedelta(seconds=1)).isoformat()
    late = (NOW + MAX_CLOCK_SKEW + timedelta(seconds=1)).isoformat()
    assert check(LAB_TOPIC, lab_result(tested_at=ok)).accepted
    (reason,) = only_rejection(check(LAB_TOPIC, lab_result(tested_at=late))).reasons
    assert reason.code == "future_time" and reason.path == "/tested_at"
    assert check(CHAIN_TOPIC, chain_event(event_time=ok)).accepted
    assert codes(check(CHAIN_TOPIC, chain_event(event_time=late))) == [{"future_time"}]


def test_now_defaults_to_the_real_clock() -> None:
    far = lab_result(tested_at="2099-01-01T00:00:00+08:00")
    assert codes(check_message(LAB_TOPIC, encode(far))) == [{"future_time"}]
    assert check_message(LAB_TOPIC, encode(far), now=NOW.replace(year=2099)).accepted


# --- text that cannot be stored -------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw_field", "path"),
    [
        (b'"operator": "Chen\\u0000Wei"', "/operator"),
        (b'"operator": "\\ud800"', "/operator"),
    ],
)
def test_nul_and_lone_surrogates_are_refused(raw_field: bytes, path: str) -> None:
    raw = encode(lab_result())[:-1] + b", " + raw_field + b"}"
    rej = only_rejection(check(LAB_TOPIC, raw))
    assert rej.raw == raw
    assert {(r.code, r.path) for r in rej.reasons} >= {("invalid_text", path)}


def test_bad_text_deep_in_kdes_or_in_a_key_is_found() -> None:
    raw = encode([chain_event()])[:-2] + b', "kdes": {"a": [{"\\udc00": 1}]}}]'
    result = check(CHAIN_TOPIC, raw)
    (rej,) = result.rejected
    assert codes(result) == [{"invalid_text"}] and rej.reasons[0].path == "/kdes/a/0/\udc00"
    rej.raw.decode("utf-8")  # the element's bytes stay valid UTF-8 (escaped)
    # escaped but harmless text is fine
    assert check(LAB_TOPIC, encode(lab_result(operator="Chén \\u0000"))).accepted


# --- never raises ------------------------------------------------------------------------------


@pytest.mark.parametrize("topic", [None, 42, b"foodtrace/v1/labs/x/results", "", "#"])
def test_odd_topics_are_unknown(topic: object) -> None:
    result = check_message(topic, b"{}")  # type: ignore[arg-type]
    assert codes(result) == [{"unknown_topic"}] and result.rejected[0].raw == b"{}"


@pytest.mark.parametrize("wrap", [bytearray, memoryview])
def test_byte_like_payloads_are_read(wrap: type) -> None:
    assert check_message(LAB_TOPIC, wrap(encode(lab_result())), now=NOW).accepted


def test_a_bug_in_a_check_quarantines_instead_of_raising(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(kind: str):
        raise RuntimeError("boom")

    monkeypatch.setattr(edge, "fast_check", broken)
    raw = encode(lab_result())
    rej = only_rejection(check(LAB_TOPIC, raw))
    assert rej.raw == raw and rej.reasons[0].code == "internal_error"
    assert "boom" in rej.reasons[0].message


def test_every_code_used_is_documented() -> None:
    assert {"unknown_topic", "oversize", "not_json", "schema", "sender_mismatch",
            "duplicate_message_id", "time_order", "future_time", "empty_array",
            "invalid_text", "duplicate_key", "epcis_unsupported",
            "epcis_incomplete", "not_epcis"} <= EDGE_REASON_CODES
