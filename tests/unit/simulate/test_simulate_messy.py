"""`make_messy`: the same messages as the clean day, shaped and ordered as the world
sends them, with the clean day's ground truth."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from sim_helpers import DAY, EventGraph, day, event_lots

from foodtrace.cli.main import main
from foodtrace.simulate import INCIDENTS, SimulatedDay
from foodtrace.simulate.messy import (
    DROP_KDE,
    DROP_LAB_PRODUCT_CODE,
    DROP_NEXT_RECIPIENT,
    DROP_TLC_SOURCE,
    LAB_FIRST,
    LATE_MASTER,
    LATE_UPLOAD,
    NEXT_RECIPIENT,
    MessRates,
    MessyDay,
    make_messy,
)
from foodtrace.simulate.messy_times import LATE_HOURS, SYNC_MINUTES

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas" / "json"
FILES = {
    "lab_result": "lab-result.v1.json",
    "chain_event": "chain-event.v1.json",
    "location": "location.v1.json",
    "product": "product.v1.json",
}
# What the world may leave out (interfaces.md 2.2, 2.1): everything else must stay.
OPTIONAL = {
    "chain_event": {"tlc_source_location_id", "kdes", "reference_document"},
    "lab_result": {"product_code"},
    "location": set(),
    "product": set(),
}
SEED = 7


@lru_cache(maxsize=16)
def messy(seed: int = 11, scale: float = 1.0, incident: str | None = "pesticide") -> MessyDay:
    return make_messy(day(seed, scale, incident), SEED)


def _dump(m: MessyDay) -> str:
    rows = [(p.kind, p.payload, p.publish_at.isoformat(), p.wave, p.reason) for p in m.plan]
    return json.dumps(rows, sort_keys=True)


def _clean(sim: SimulatedDay) -> dict[str, tuple[str, dict]]:
    return {p["message_id"]: (kind, p) for kind, p in sim.messages()}


def _validators() -> dict[str, Draft202012Validator]:
    out = {}
    for kind, name in FILES.items():
        schema = json.loads((SCHEMAS / name).read_text())
        if kind == "chain_event":  # optional at the edge (a validation finding), changed elsewhere
            schema["required"] = [r for r in schema["required"] if r != "reference_document"]
        out[kind] = Draft202012Validator(schema, format_checker=FormatChecker())
    return out


def _position(m: MessyDay) -> dict[str, int]:
    return {p.payload["message_id"]: n for n, p in enumerate(m.plan)}


# ---- determinism and purity --------------------------------------------------------


def test_same_seed_same_mess_other_seed_other_mess() -> None:
    sim = day(11, 1.0, "pesticide")
    a, b = make_messy(sim, SEED), make_messy(sim, SEED)
    assert _dump(a) == _dump(b)
    assert a.summary() == b.summary()
    other = make_messy(sim, SEED + 1)
    assert _dump(other) != _dump(a)


def test_the_clean_day_is_not_modified() -> None:
    sim = day(4, 0.3, "clenbuterol")
    before = json.dumps(list(sim.messages()), sort_keys=True)
    m = make_messy(sim, SEED)
    for p in m.plan:  # the messy payloads are copies: changing them changes nothing clean
        p.payload["message_id"] = "changed"
        for line in event_lots(p.payload):
            line["quantity"] = -1
        p.payload.get("kdes", {}).clear()
    assert json.dumps(list(sim.messages()), sort_keys=True) == before


def test_chain_events_are_reshaped_alike_with_or_without_incident() -> None:
    plain, sick = make_messy(day(5, 0.3), SEED), make_messy(day(5, 0.3, "pesticide"), SEED)

    def chain(m: MessyDay) -> list[str]:
        return sorted(json.dumps(p, sort_keys=True) for k, p in m.messages() if k == "chain_event")

    # the same fields left out; only publishing times may differ (the incident's held location)
    assert chain(plain) and chain(plain) == chain(sick)


# ---- nothing lost, only optional fields removed -------------------------------------


@pytest.mark.parametrize(("seed", "scale", "incident"), [(11, 1.0, "pesticide"), (3, 0.2, None)])
def test_no_message_lost_or_duplicated(seed: int, scale: float, incident: str | None) -> None:
    sim, m = day(seed, scale, incident), messy(seed, scale, incident)
    clean = Counter((k, p["message_id"]) for k, p in sim.messages())
    got = Counter((k, p["message_id"]) for k, p in m.messages())
    assert sum(clean.values()) > 0 and got == clean
    assert sum(len(w) for w in m.waves()) == len(m.plan) == sum(clean.values())


def test_only_optional_fields_are_removed_and_payloads_stay_valid() -> None:
    sim, m = day(11, 1.0, "pesticide"), messy()
    clean = _clean(sim)
    validators = _validators()
    counts: Counter[str] = Counter()
    missing: Counter[str] = Counter()
    for kind, payload in m.messages():
        errors = [e.message for e in validators[kind].iter_errors(payload)]
        assert not errors, (kind, payload, errors)
        original = clean[payload["message_id"]][1]
        gone = set(original) - set(payload)
        assert not set(payload) - set(original), payload
        assert gone <= OPTIONAL[kind], (kind, gone)
        for key, value in payload.items():
            if key == "kdes":  # entries may go, the rest is unchanged
                assert value and value.items() <= original["kdes"].items()
            else:
                assert value == original[key], (key, payload)
        counts[kind] += 1
        missing.update(f"{kind}.{k}" for k in gone)
        missing.update(
            f"kdes.{k}" for k in set(original.get("kdes", {})) - set(payload.get("kdes", {}))
        )
    assert all(counts[k] > 0 for k in FILES)
    for field in ("tlc_source_location_id", "reference_document"):
        assert missing[f"chain_event.{field}"] > 0
    assert missing["lab_result.product_code"] > 0
    assert missing[f"kdes.{NEXT_RECIPIENT}"] > 0 and missing["kdes.field_id"] > 0
    # the summary counts what was removed
    assert m.dropped["tlc_source_location_id"] == missing["chain_event.tlc_source_location_id"]
    assert m.dropped["reference_document"] == missing["chain_event.reference_document"]
    assert m.dropped["product_code"] == missing["lab_result.product_code"]


def test_the_edge_accepts_every_message_but_the_missing_reference_documents() -> None:
    edge = pytest.importorskip("foodtrace.ingest.edge")
    from foodtrace.ingest.publish import encode, topic_for

    m = messy(3, 0.2, None)
    checked = 0
    for kind, payload in m.messages():
        if kind == "chain_event" and payload["actor_id"] == m.no_reference_document_sender:
            continue  # needs the edge change that makes reference_document optional
        result = edge.check_message(topic_for(kind, payload), encode(payload))
        assert not result.rejected, (kind, payload, [r.reasons for r in result.rejected])
        checked += 1
    assert checked > 0


def test_one_sender_never_sends_a_reference_document() -> None:
    sim, m = day(11, 1.0, "pesticide"), messy()
    sender = m.no_reference_document_sender
    kind = {loc["location_id"]: loc["kind"] for loc in sim.locations}
    assert sender is not None and kind[sender] == "distributor"
    chain = [p for k, p in m.messages() if k == "chain_event"]
    theirs = [p for p in chain if p["actor_id"] == sender]
    assert len(theirs) >= 20
    assert not [p for p in theirs if "reference_document" in p]
    assert all("reference_document" in p for p in chain if p["actor_id"] != sender)
    # it is the busiest distributor
    busy = Counter(e["actor_id"] for e in sim.chain_events if kind[e["actor_id"]] == "distributor")
    assert busy[sender] == max(busy.values())


# ---- rates ---------------------------------------------------------------------------


def test_rates_at_scale_1_are_the_documented_ones() -> None:
    sim, m = day(11, 1.0, "pesticide"), messy()
    clean = _clean(sim)
    chain = [p for p in m.plan if p.kind == "chain_event"]
    ship_recv = [p for p in chain if p.payload["event_type"] in ("shipping", "receiving")]
    kde_total = kde_gone = next_total = next_gone = 0
    for p in chain:
        for key in clean[p.payload["message_id"]][1].get("kdes", {}):
            kept = key in p.payload.get("kdes", {})
            if key == NEXT_RECIPIENT:
                next_total, next_gone = next_total + 1, next_gone + (not kept)
            else:
                kde_total, kde_gone = kde_total + 1, kde_gone + (not kept)
    labs = [p for p in m.plan if p.kind == "lab_result"]
    assert len(ship_recv) > 1000 and kde_total > 3000 and next_total > 100 and len(labs) > 50

    def share(items: list, pred) -> float:
        return sum(map(pred, items)) / len(items)

    no_tlc = share(ship_recv, lambda p: "tlc_source_location_id" not in p.payload)
    assert abs(no_tlc - DROP_TLC_SOURCE) < 0.04
    assert abs(kde_gone / kde_total - DROP_KDE) < 0.02
    assert abs(next_gone / next_total - DROP_NEXT_RECIPIENT) < 0.12
    assert (
        abs(share(labs, lambda p: "product_code" not in p.payload) - DROP_LAB_PRODUCT_CODE) < 0.13
    )
    # late uploads: LATE_UPLOAD of the events (a few are then held for a lab: reason overwritten)
    late = share(chain, lambda p: p.reason == "late_upload")
    assert LATE_UPLOAD - 0.025 < late < LATE_UPLOAD + 0.02
    for p in chain:
        delay = p.publish_at - datetime.fromisoformat(p.payload["event_time"])
        if p.reason == "on_time":
            assert timedelta(0) <= delay < timedelta(minutes=max(SYNC_MINUTES))
        elif p.reason == "late_upload":
            assert timedelta(hours=LATE_HOURS[0]) <= delay <= timedelta(hours=LATE_HOURS[1])
        else:
            assert delay >= timedelta(0)
    late_locations = [p for p in m.plan if p.kind == "location" and p.reason == "late_master"]
    named = {e["location_id"] for e in sim.chain_events}
    assert abs(len(late_locations) / len(named) - LATE_MASTER) < 0.02
    # lab results first: LAB_FIRST of the routine results (at least one); a held lot's
    # other results may come early too
    picks = max(1, round(LAB_FIRST * len(labs)))
    assert [p for p in chain if p.reason == "held_for_lab"]
    assert 1 <= m.summary()["lab_results_before_their_lot"] <= 3 * picks


# ---- order ---------------------------------------------------------------------------


def test_plan_is_in_publishing_time_order_and_waves_split_at_the_last_lab_result() -> None:
    m = messy()
    times = [p.publish_at for p in m.plan]
    assert times == sorted(times)
    assert all(p.wave == int(p.publish_at > m.cutoff) for p in m.plan)
    assert all(p.wave == 0 for p in m.plan if p.kind == "lab_result")
    assert max(p.publish_at for p in m.plan if p.kind == "lab_result") == m.cutoff
    first, second = m.waves()
    assert len(first) > 1000 and len(second) > 20
    assert [kp for w in m.waves() for kp in w] == list(m.messages())


def test_some_receivings_are_published_before_their_shipping() -> None:
    sim, m = day(11, 1.0, "pesticide"), messy()
    pos = _position(m)
    shipping = {
        e["reference_document"]["number"]: e["message_id"]
        for e in sim.chain_events
        if e["event_type"] == "shipping"
    }
    receivings = [e for e in sim.chain_events if e["event_type"] == "receiving"]
    assert len(receivings) > 100
    early = [
        e
        for e in receivings
        if pos[e["message_id"]] < pos[shipping[e["reference_document"]["number"]]]
    ]
    assert len(early) >= 10
    assert m.summary()["receivings_before_shipping"] == len(early)


def test_some_lab_results_arrive_before_any_event_of_their_lot() -> None:
    m = messy()
    first: dict[str, int] = {}
    for n, (kind, p) in enumerate(m.messages()):
        if kind == "chain_event":
            for line in event_lots(p):
                first.setdefault(line["lot_code"], n)
    early = [
        p["message_id"]
        for n, (kind, p) in enumerate(m.messages())
        if kind == "lab_result" and n < first[p["lot_code"]]
    ]
    assert len(early) >= 1
    assert m.summary()["lab_results_before_their_lot"] == len(early)


def test_some_master_data_comes_after_every_event_naming_it() -> None:
    m = messy()
    pos = _position(m)
    late = [p for p in m.plan if p.reason == "late_master"]
    assert {p.kind for p in late} == {"location", "product"}
    for p in late:
        key = "location_id" if p.kind == "location" else "product_code"
        naming = [
            pos[e["message_id"]]
            for e in m.sim.chain_events
            if (
                p.payload[key] in {e["location_id"], e.get("destination_location_id")}
                if key == "location_id"
                else p.payload[key] in {line["product_code"] for line in event_lots(e)}
            )
        ]
        assert naming and pos[p.payload["message_id"]] > max(naming)
    # the rest of the registry is loaded before the day's first event
    on_time = [
        n
        for n, p in enumerate(m.plan)
        if p.kind in ("location", "product") and p.reason == "on_time"
    ]
    first_event = min(pos[e["message_id"]] for e in m.sim.chain_events)
    assert on_time and max(on_time) < first_event


@pytest.mark.parametrize("incident", INCIDENTS)
def test_wave_1_widens_the_incident_by_one_location(incident: str) -> None:
    sim, m = day(11, 1.0, incident), messy(11, 1.0, incident)
    held = m.late_scope_location_id
    truth = sim.truth
    assert held is not None and held in truth.affected_locations
    assert held != truth.sampled_location_id
    affected = set(truth.affected_lots)

    def places(payload: dict) -> set[str]:
        return {
            payload["location_id"],
            payload.get("destination_location_id"),
            payload.get("source_location_id"),
        }

    touching = [
        p
        for p in m.plan
        if p.kind == "chain_event"
        and {line["lot_code"] for line in event_lots(p.payload)} & affected
        and held in places(p.payload)
    ]
    assert touching and all(p.wave == 1 for p in touching)
    # the alert's other locations are known in wave 0
    wave0 = [p for k, p in m.messages(0) if k == "chain_event"]
    known = {
        x for p in wave0 if {ln["lot_code"] for ln in event_lots(p)} & affected for x in places(p)
    }
    assert known and held not in known


# ---- the ground truth ------------------------------------------------------------------


@pytest.mark.parametrize("incident", INCIDENTS)
def test_ground_truth_is_the_clean_days_and_the_messy_events_still_give_it(incident: str) -> None:
    sim, m = day(11, 1.0, incident), messy(11, 1.0, incident)
    assert m.truth == sim.truth
    truth = m.truth
    events = [p for k, p in m.messages() if k == "chain_event"]
    graph = EventGraph(events)
    lot = truth.lot_code
    downstream = graph.reach(lot, graph.children)
    upstream = graph.reach(lot, graph.parents)
    affected = {lot} | downstream
    roots = {
        x for x in upstream | {lot} if graph.created_by[x] in ("harvesting", "first_receiving")
    }
    assert downstream == set(truth.downstream_lots)
    assert upstream == set(truth.upstream_lots)
    assert set().union(*(graph.places[x] for x in affected)) == set(truth.affected_locations)
    assert roots == set(truth.source_lots) and roots
    assert {graph.tlc_source[r] for r in roots} == set(truth.source_locations)


# ---- rates can be turned off; the CLI ------------------------------------------------


def test_zero_rates_remove_nothing() -> None:
    sim = day(3, 0.2, None)
    off = MessRates(
        tlc_source=0,
        kde=0,
        next_recipient=0,
        lab_product_code=0,
        late_upload=0,
        late_master=0,
        lab_first=0,
        no_reference_document_sender=False,
    )
    m = make_messy(sim, SEED, rates=off)
    assert m.dropped == {} and m.no_reference_document_sender is None
    clean = _clean(sim)
    assert len(m.plan) == len(clean) > 0
    assert all(p.payload == clean[p.payload["message_id"]][1] for p in m.plan)
    assert {p.reason for p in m.plan} == {"on_time"}


def test_cli_dry_run_writes_the_messy_day_and_its_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FOODTRACE_MQTT_URL", raising=False)
    out = tmp_path / "day"
    argv = ["simulate", "--seed", "3", "--date", DAY.isoformat(), "--scale", "0.2"]
    assert main([*argv, "--messy", "--dry-run", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    expected = make_messy(day(3, 0.2, None), 3)
    assert summary["messy"] == expected.summary()
    assert summary["messy"]["dropped_kdes"] > 0 and summary["messy"]["late"] > 0
    assert summary["messy"]["no_reference_document_sender"]
    assert set(summary["counts"]) == {"locations", "products", "chain_events", "lab_results"}
    rows = [json.loads(x) for x in (out / "plan.jsonl").read_text().splitlines()]
    assert [(r["kind"], r["payload"]) for r in rows] == list(expected.messages())
    lines = (out / "chain-events.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in lines] == [
        p for k, p in expected.messages() if k == "chain_event"
    ]
    # the clean dry run is unchanged: no plan, the clean payloads
    clean_out = tmp_path / "clean"
    assert main([*argv, "--dry-run", "--out", str(clean_out), "--json"]) == 0
    assert "messy" not in json.loads(capsys.readouterr().out)
    assert not (clean_out / "plan.jsonl").exists()
