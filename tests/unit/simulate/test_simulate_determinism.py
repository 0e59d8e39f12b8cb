"""Same (seed, date, size) -> the same messages; anything else -> different ones."""

from __future__ import annotations

import json
from datetime import date

from sim_helpers import DAY, day

from foodtrace.simulate import simulate_day


def _dump(sim) -> str:
    return json.dumps(list(sim.messages()), sort_keys=True)


def test_same_seed_same_day_is_identical() -> None:
    a = simulate_day(5, DAY, scale=0.3, incident="pesticide")
    b = simulate_day(5, DAY, scale=0.3, incident="pesticide")
    assert _dump(a) == _dump(b)
    assert a.truth.to_json() == b.truth.to_json()


def test_different_seed_differs() -> None:
    a, b = day(5, 0.3), day(6, 0.3)
    assert _dump(a) != _dump(b)
    ids_a = {p["message_id"] for _, p in a.messages()}
    ids_b = {p["message_id"] for _, p in b.messages()}
    assert not ids_a & ids_b


def test_different_days_share_the_network_but_not_lots_or_ids() -> None:
    a = day(5, 0.3)
    b = day(5, 0.3, on=date(2026, 11, 28))
    assert a.locations == b.locations  # same businesses, same master-data messages
    lots_a = {line["lot_code"] for ev in a.chain_events for line in ev.get("lots", [])}
    lots_b = {line["lot_code"] for ev in b.chain_events for line in ev.get("lots", [])}
    assert lots_a and lots_b and not lots_a & lots_b
    assert not {e["message_id"] for e in a.chain_events} & {e["message_id"] for e in b.chain_events}


def test_lot_codes_of_different_seeds_never_collide() -> None:
    codes = [
        {line["lot_code"] for ev in day(seed, 0.3).chain_events for line in ev.get("lots", [])}
        for seed in (1, 2, 3)
    ]
    assert not codes[0] & codes[1] and not codes[1] & codes[2] and not codes[0] & codes[2]


def test_incident_changes_only_lab_results() -> None:
    plain = day(5, 0.3)
    for kind in ("pesticide", "clenbuterol", "malachite_green"):
        sick = day(5, 0.3, kind)
        assert sick.chain_events == plain.chain_events
        assert sick.locations == plain.locations
        incident_ids = {a.message_id for a in sick.truth.expected_alerts}
        kept = [r for r in sick.lab_results if r["message_id"] not in incident_ids]
        # every routine result that remains is one of the plain day's results
        plain_ids = {r["message_id"] for r in plain.lab_results}
        assert {r["message_id"] for r in kept} <= plain_ids
        assert all(r["lot_code"] != sick.truth.lot_code for r in kept)


def test_scale_changes_the_size() -> None:
    small, big = day(5, 0.1), day(5, 1.0)
    assert 200 <= len(small.chain_events) <= 1000
    assert len(big.chain_events) > 3 * len(small.chain_events)
