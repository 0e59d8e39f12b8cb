"""On the simulator's incident: the notices go to exactly the ground truth's
affected businesses, with the quantities the simulated chain says each holds
(computed here from the simulated events, not from any SQL)."""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "pipeline"))
from pipeline_helpers import land_day, simulated_day
from wd_helpers import live_notices

from foodtrace.db import connect
from foodtrace.pipeline.steps import run_once

IN = {"harvesting": "lots", "first_receiving": "lots", "receiving": "lots",
      "initial_packing": "lots", "transformation": "outputs"}
OUT = {"shipping": "lots", "sale": "lots", "transformation": "inputs"}


def held_by_events(events: list[dict]) -> dict[tuple[str, str], float]:
    """(actor, lot) -> received + made - shipped - sold - used, from the messages."""
    held: dict[tuple[str, str], float] = defaultdict(float)
    made: dict[tuple[str, str], float] = {}
    for e in events:
        where = e["location_id"]
        if e["event_type"] in ("harvesting", "initial_packing", "transformation"):
            for line in e.get(IN[e["event_type"]], []):
                key = (where, line["lot_code"])
                made[key] = max(made.get(key, 0.0), line["quantity"])
        elif e["event_type"] in IN:
            for line in e.get("lots", []):
                held[(where, line["lot_code"])] += line["quantity"]
        if e["event_type"] in OUT:
            for line in e.get(OUT[e["event_type"]], []):
                held[(where, line["lot_code"])] -= line["quantity"]
    for key, q in made.items():
        held[key] += q
    return held


@pytest.mark.slow
def test_notices_are_the_ground_truths_affected_businesses(fresh_db_url: str, tmp_path) -> None:
    sim = simulated_day(scale=0.3, seed=7, incident="pesticide")
    truth = sim.truth
    with connect(fresh_db_url) as conn:
        land_day(conn, sim)
        run_once(fresh_db_url, report_dir=tmp_path)
        alert_id = conn.execute(
            "SELECT alert_id FROM core.alerts WHERE lot_code = %s ORDER BY raised_at LIMIT 1",
            (truth.lot_code,)).fetchone()[0]
        notices = live_notices(conn, alert_id)
    # the simulator's businesses are their locations (actor_id = location_id)
    assert set(notices) == set(truth.affected_locations)
    assert len(notices) >= 3
    assert any(q and q > 0 for n in notices.values() for q in n["lots"].values())
    expected = held_by_events(sim.chain_events)
    affected = set(truth.affected_lots)
    for actor, n in notices.items():
        want = {lot: round(max(q, 0.0), 1) for (a, lot), q in expected.items()
                if a == actor and lot in affected}
        got = {lot: float(q) for lot, q in n["lots"].items() if q is not None}
        assert set(got) == set(want), actor
        for lot in want:
            assert got[lot] == pytest.approx(want[lot], abs=0.05), (actor, lot)
