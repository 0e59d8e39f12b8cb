"""Every simulated message passes the contract's JSON Schemas and the ingest edge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from foodtrace.ingest import edge
from foodtrace.ingest.publish import encode, plan, topic_for
from jsonschema import Draft202012Validator, FormatChecker
from sim_helpers import day

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas" / "json"
FILES = {
    "lab_result": "lab-result.v1.json",
    "chain_event": "chain-event.v1.json",
    "location": "location.v1.json",
    "product": "product.v1.json",
}
CASES = [(11, 1.0, "pesticide"), (3, 0.2, "clenbuterol"), (8, 0.3, "malachite_green")]


def _validators() -> dict[str, Draft202012Validator]:
    return {
        kind: Draft202012Validator(
            json.loads((SCHEMAS / name).read_text()), format_checker=FormatChecker()
        )
        for kind, name in FILES.items()
    }


@pytest.mark.parametrize(("seed", "scale", "incident"), CASES)
def test_every_message_is_valid_against_the_json_schemas(
    seed: int, scale: float, incident: str
) -> None:
    validators = _validators()
    counts = dict.fromkeys(FILES, 0)
    for kind, payload in day(seed, scale, incident).messages():
        errors = [e.message for e in validators[kind].iter_errors(payload)]
        assert not errors, (kind, payload, errors)
        counts[kind] += 1
    assert all(counts.values())


@pytest.mark.parametrize(("seed", "scale", "incident"), CASES)
def test_every_message_passes_the_edge(seed: int, scale: float, incident: str) -> None:
    sim = day(seed, scale, incident)
    for kind, payload in sim.messages():
        result = edge.check_message(topic_for(kind, payload), encode(payload))
        assert not result.rejected, (kind, payload, [r.reasons for r in result.rejected])
        assert len(result.accepted) == 1
    # batched as the simulator can publish them (arrays per topic)
    for msg in plan(sim.messages(), 25):
        result = edge.check_message(msg.topic, msg.payload)
        assert not result.rejected and len(result.accepted) == msg.elements
