"""The simulated businesses' answering plan: seeded, per business, realistic."""

from __future__ import annotations

from datetime import datetime, timedelta

import jsonschema
import pytest
from foodtrace.ingest.schema_check import load_schema

from foodtrace.simulate.responders import (
    MAX_DELAY_S,
    Behaviour,
    answers,
    behaviour,
    plan_behaviours,
)

ISSUED = "2026-11-28T02:00:00+00:00"


def notice(lots, action="withdraw", **extra) -> dict:
    return {"notice_id": "9b1c2f3e-0000-4000-8000-000000000001", "actor_id": "retail-gz-01",
            "issued_at": ISSUED, "deadline": "2026-11-29T02:00:00+00:00", "action": action,
            "lots": [{"lot_code": lc, "product_code": "P", "quantity_held": q, "unit": "kg"}
                     for lc, q in lots], **extra}


def test_a_business_behaves_the_same_whatever_the_network() -> None:
    small = plan_behaviours(5, [f"b-{i}" for i in range(10)], min_silent=0)
    large = plan_behaviours(5, [f"b-{i}" for i in range(200)], min_silent=0)
    assert all(small[a] == large[a] for a in small)
    assert plan_behaviours(5, small, min_silent=0) == small
    assert plan_behaviours(6, small, min_silent=0) != small


def test_delays_are_realistic_and_a_few_never_answer() -> None:
    plan = plan_behaviours(1, [f"b-{i}" for i in range(1000)])
    silent = [b for b in plan.values() if b.kind == "silent"]
    answering = [b for b in plan.values() if b.kind == "answers"]
    assert 40 <= len(silent) <= 130  # about 8 %
    acks = sorted(b.ack_after_s for b in answering)
    assert 20 * 60 < acks[len(acks) // 2] < 90 * 60  # most within an hour or two
    assert all(60 <= b.ack_after_s <= b.withdraw_after_s <= MAX_DELAY_S for b in answering)
    late = [b for b in answering if b.withdraw_after_s > 24 * 3600]
    assert 0 < len(late) < len(answering) * 0.2  # a few miss a 24 h deadline


def test_at_least_one_silent_business() -> None:
    plan = plan_behaviours(3, [f"b-{i}" for i in range(5)], silent_share=0.0)
    assert sum(b.kind == "silent" for b in plan.values()) == 1


def test_answers_acknowledge_then_withdraw_what_is_held() -> None:
    b = Behaviour("retail-gz-01", "answers", 1800, 7200, 1.0, "returned")
    ack, withdrawn = answers(b, notice([("L1", 12.5), ("L2", 0.0), ("L3", None)]))
    assert (ack.payload["status"], ack.after_s) == ("acknowledged", 1800)
    assert withdrawn.payload["status"] == "withdrawn"
    assert withdrawn.payload["lots"] == [{"lot_code": "L1", "quantity": 12.5, "unit": "kg"}]
    assert withdrawn.payload["disposition"] == "returned"
    issued = datetime.fromisoformat(ISSUED)
    assert datetime.fromisoformat(withdrawn.payload["reported_at"]) == issued + timedelta(hours=2)
    schema = load_schema("withdrawal_report")
    for a in (ack, withdrawn):
        jsonschema.validate(a.payload, schema)
    again = answers(b, notice([("L1", 12.5), ("L2", 0.0), ("L3", None)]))
    assert [a.payload["message_id"] for a in again] == [ack.payload["message_id"],
                                                       withdrawn.payload["message_id"]]


@pytest.mark.parametrize("case", ["nothing_held", "released", "silent", "unknown", "hold"])
def test_other_answers(case: str) -> None:
    b = Behaviour("retail-gz-01", "answers", 600, 3600, 0.8, "destroyed")
    if case == "nothing_held":
        out = answers(b, notice([("L1", 0.0)]))
        assert [a.payload["status"] for a in out] == ["acknowledged", "not_held"]
    elif case == "released":
        assert answers(b, notice([], action="released", released=True)) == []
    elif case == "silent":
        assert answers(Behaviour("retail-gz-01", "silent"), notice([("L1", 5.0)])) == []
    elif case == "unknown":  # cannot say what it withdrew: acknowledges only
        assert [a.payload["status"] for a in answers(b, notice([("L1", None)]))] == [
            "acknowledged"]
    else:
        out = answers(b, notice([("L1", 10.0)], action="hold_for_testing"))
        assert out[1].payload["disposition"] == "held_for_testing"
        assert out[1].payload["lots"][0]["quantity"] == 8.0  # found 80 % on the shelf


def test_behaviour_is_deterministic() -> None:
    assert behaviour(9, "market-gz-01") == behaviour(9, "market-gz-01")
