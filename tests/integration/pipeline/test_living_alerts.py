"""Living alerts, end to end: one simulated incident sent four ways (and messy), each
published through a real Mosquitto (the project's config and ACLs), landed by the real
ingest consumer, processed by the real Airflow DAGs (validate -> link -> alert), and
heard by the emergency office on foodtrace/v1/alerts/{city}[/cap].

Whatever the order and completeness of what arrives (interfaces.md 2.2-2.4, 3, 4), once
everything has arrived the alert names exactly the simulator's ground truth, and each
affected city was told exactly once with a CAP Alert and afterwards only with Updates
referencing what it was told before:

    (a) the clean day, in order;
    (b) every field the contract does not require left out;
    (c) the lab results first (and the pipeline run on them alone), then everything
        else shuffled;
    (d) every event placing affected lots in one downstream city held back until the
        alert went out: that city gets its Alert only on the second run, and the
        history says which late events re-scoped the alert;
    and the messy day of foodtrace.simulate.messy, in its two waves.

One Airflow process (dag_server.py) serves the whole module; each test has its own
database. The module has its own broker: ingest sessions are persistent, and Mosquitto
keeps routing a share of a shared subscription to an offline member's session, so a
worker left behind here must not swallow another module's messages (see
tests/integration/ingest/conftest.py).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from devservices import MosquittoBroker
from living_helpers import (
    DagSession,
    Ingest,
    Office,
    by_city,
    caused_by,
    check_alert_then_updates,
    connection,
    history,
    hold_back_city,
    labs_first_then_shuffled,
    lot_codes,
    scope,
    scratch_database,
    the_alert,
    truth_scope,
    without_optional_kdes,
)

from foodtrace.simulate import SimulatedDay, simulate_day
from foodtrace.simulate.messy import make_messy

SEED, DAY, SCALE = 7, date(2026, 11, 27), 0.15
USERS = ("foodtrace-ingest", "foodtrace-pipeline", "foodtrace-simulator", "emergency-office")


@functools.cache
def day(incident: str) -> SimulatedDay:
    sim = simulate_day(SEED, DAY, scale=SCALE, incident=incident)
    t = sim.truth
    assert t is not None
    for key, values in truth_scope(t).items():  # every comparison below can fail
        assert values, f"the ground truth of {incident} has no {key}"
    assert len(t.affected_cities) >= 2 and len(t.affected_locations) >= 3
    return sim


@pytest.fixture(scope="module")
def living_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    users = {u: uuid.uuid4().hex for u in USERS}
    b = MosquittoBroker(tmp_path_factory.mktemp("living-mosquitto"), users).start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def office(living_broker: MosquittoBroker) -> Iterator[Office]:
    o = Office(living_broker.url("emergency-office"))
    yield o
    o.close()


@pytest.fixture(scope="module")
def dags(airflow_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagSession]:
    session = DagSession(airflow_home, tmp_path_factory.mktemp("dag-server") / "airflow.log")
    yield session
    session.close()


class Pipeline:
    """The DAGs over one test's database, publishing through the module's broker."""

    def __init__(self, dags: DagSession, db: str, broker: MosquittoBroker, out: Path) -> None:
        self.dags, self.db, self.broker, self.out = dags, db, broker, out

    def run(self) -> dict[str, dict]:
        return self.dags.run(
            self.db, mqtt_url=self.broker.url("foodtrace-pipeline"), report_dir=self.out
        )


@pytest.fixture
def pipeline(
    dags: DagSession, fresh_db_url: str, living_broker: MosquittoBroker, tmp_path: Path
) -> Pipeline:
    return Pipeline(dags, fresh_db_url, living_broker, tmp_path)


def check_final(
    db: str, office: Office, sim: SimulatedDay, *, facts: bool = True
) -> tuple[dict, list]:
    """The alert equals the ground truth; every affected city (and no other) heard one
    Alert first, then only Updates, and last the final version. `facts`: the product
    facts (code, category, name) are those of the product's master data, too."""
    truth = sim.truth
    assert truth is not None
    with connection(db) as conn:
        alert = the_alert(conn, truth.lot_code)
        heard = office.wait_all_sent(conn, alert["alert_id"])
    assert scope(alert) == truth_scope(truth)
    confirmed = truth.expected_alerts[-1]
    assert (alert["status"], alert["severity"], alert["lot_traced"]) == ("open", "critical", True)
    assert (alert["analyte"], alert["lab_id"], alert["sample_id"], alert["value"]) == (
        confirmed.analyte,
        confirmed.lab_id,
        confirmed.sample_id,
        confirmed.value,
    )
    assert alert["product_code"] == truth.product_code
    if facts:
        product = {p["product_code"]: p for p in sim.products}[truth.product_code]
        assert (alert["category"], alert["product_name"], alert["limit_category_assumed"]) == (
            product["category"],
            product["name"],
            False,
        )
    check_alert_then_updates(heard, truth.affected_cities)
    for city, msgs in by_city(heard, cap=False).items():
        last = msgs[-1]
        assert last.version == alert["version"], (city, last.version, alert["version"])
        assert scope(last.payload) == truth_scope(truth), city
    return alert, heard


# ---- (a) complete, in order ------------------------------------------------------------


@pytest.mark.parametrize("incident", ["pesticide", "clenbuterol"])
def test_complete_day_in_order(incident: str, pipeline: Pipeline, living_broker, office) -> None:
    sim = day(incident)
    with Ingest(living_broker, pipeline.db) as ingest:
        sent = ingest.send(sim.messages())
        result = pipeline.run()
    assert (
        result["foodtrace_validate"]["promoted"],
        result["foodtrace_validate"]["quarantined"],
    ) == (sent, 0)
    alert, _ = check_final(pipeline.db, office, sim)
    # raised by the rapid screen, upgraded by the confirmation, in the same run
    with connection(pipeline.db) as conn:
        assert [a for a, _, _ in history(conn, alert["alert_id"])] == ["raised", "upgraded"]


# ---- (b) nothing the contract does not require ---------------------------------------


def test_without_optional_kdes(pipeline: Pipeline, living_broker, office) -> None:
    sim = day("pesticide")
    messages, dropped = without_optional_kdes(sim)
    for key in ("kdes", "reference_document", "tlc_source_location_id", "product_code"):
        assert dropped.get(key), f"the clean day has no {key} to leave out"
    chain = [p for k, p in messages if k == "chain_event"]
    assert not any("kdes" in p or "reference_document" in p for p in chain)
    assert not any(
        "tlc_source_location_id" in p for p in chain if p["event_type"] in ("shipping", "receiving")
    )
    assert not any("product_code" in p for k, p in messages if k == "lab_result")
    with Ingest(living_broker, pipeline.db) as ingest:
        sent = ingest.send(messages)
        result = pipeline.run()
    v = result["foodtrace_validate"]
    assert (v["promoted"], v["quarantined"]) == (sent, 0)  # stored, with findings
    assert v["findings"] > 0
    check_final(pipeline.db, office, sim)


# ---- (c) lab results first, the rest shuffled ------------------------------------------


@dataclass
class Shuffled:
    db: str
    sim: SimulatedDay
    on_labs: dict  # the alert after a pipeline run over the lab results alone
    heard_on_labs: list


@pytest.fixture(scope="module")
def shuffled(
    dags: DagSession,
    living_broker: MosquittoBroker,
    office: Office,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Shuffled]:
    """Scenario (c), run once for the tests below: every lab result is published and
    the pipeline run on them alone; then everything else, shuffled (receipts before
    their shipments, master data after the events naming it), and the pipeline again."""
    sim = day("pesticide")
    labs, rest = labs_first_then_shuffled(sim, seed=SEED)
    shipped_at = {
        p["reference_document"]["number"]: n
        for n, (k, p) in enumerate(rest)
        if k == "chain_event" and p["event_type"] == "shipping"
    }
    early = [
        p
        for n, (k, p) in enumerate(rest)
        if k == "chain_event"
        and p["event_type"] == "receiving"
        and shipped_at.get(p["reference_document"]["number"], -1) > n
    ]
    assert early, "the shuffle put no receiving before its shipping"
    first_event = min(n for n, (k, _) in enumerate(rest) if k == "chain_event")
    assert any(k in ("location", "product") for k, _ in rest[first_event:])
    with scratch_database() as db:
        pipeline = Pipeline(dags, db, living_broker, tmp_path_factory.mktemp("shuffled"))
        with Ingest(living_broker, db) as ingest:
            ingest.send(labs)
            pipeline.run()
            with connection(db) as conn:
                on_labs = the_alert(conn, sim.truth.lot_code)
                heard_on_labs = office.wait_all_sent(conn, on_labs["alert_id"])
            ingest.send(rest)
            pipeline.run()
        yield Shuffled(db, sim, on_labs, heard_on_labs)


def test_lab_results_first_then_shuffled(shuffled: Shuffled, office: Office) -> None:
    truth = shuffled.sim.truth
    first = shuffled.on_labs  # raised at once, before any event of its lot arrived
    assert first["severity"] == "critical" and first["lot_traced"] is False
    assert scope(first)["affected_lots"] == {truth.lot_code}
    assert scope(first)["affected_locations"] == {truth.sampled_location_id}
    assert {h.city for h in shuffled.heard_on_labs} <= set(truth.affected_cities)

    final, _ = check_final(shuffled.db, office, shuffled.sim, facts=False)
    assert final["version"] > first["version"]
    with connection(shuffled.db) as conn:
        actions = [a for a, _, _ in history(conn, final["alert_id"])]
    assert actions[:2] == ["raised", "upgraded"] and "rescoped" in actions[2:], actions


def test_alert_on_lab_results_alone_names_no_source(shuffled: Shuffled) -> None:
    """Spec 4: sources are the upstream roots (harvesting / first_receiving) and where
    they came from; before any event names the lot, nothing says where it came from
    (as impact.untraced_impact has it), least of all the market where it was sampled."""
    first = shuffled.on_labs
    assert scope(first)["source_locations"] == set(), first["source_locations"]
    assert scope(first)["source_lots"] == set(), first["source_lots"]


def test_late_product_master_data_completes_the_alert(shuffled: Shuffled) -> None:
    """Spec 2.3/3: what arrives late is completed once it has arrived; the alert
    ends as it does when everything came in order (test_complete_day_in_order)."""
    sim = shuffled.sim
    product = {p["product_code"]: p for p in sim.products}[sim.truth.product_code]
    with connection(shuffled.db) as conn:
        final = the_alert(conn, sim.truth.lot_code)
    assert (final["category"], final["product_name"], final["limit_category_assumed"]) == (
        product["category"],
        product["name"],
        False,
    )


# ---- (d) a downstream city's events after the alert --------------------------------------


@pytest.mark.parametrize("incident", ["pesticide", "clenbuterol"])
def test_late_downstream_city_gets_its_alert_later(
    incident: str, pipeline: Pipeline, living_broker, office
) -> None:
    sim = day(incident)
    truth = sim.truth
    late = hold_back_city(sim)
    assert late.held and late.locations and late.city in truth.affected_cities
    assert any(p["event_type"] == "shipping" for _, p in late.late)  # downstream shipments
    with Ingest(living_broker, pipeline.db) as ingest:
        ingest.send(late.on_time)
        pipeline.run()
        with connection(pipeline.db) as conn:
            first = the_alert(conn, truth.lot_code)
            heard_first = office.wait_all_sent(conn, first["alert_id"])
        narrow, full = scope(first), truth_scope(truth)
        assert first["lot_traced"] is True and first["severity"] == "critical"
        assert late.city not in narrow["affected_cities"]
        assert not narrow["affected_locations"] & late.locations
        assert narrow["affected_cities"] < full["affected_cities"]
        assert narrow["affected_locations"] < full["affected_locations"]
        assert narrow["affected_lots"] <= full["affected_lots"]
        assert late.city not in {h.city for h in heard_first}
        check_alert_then_updates(heard_first, narrow["affected_cities"])

        ingest.send(late.late)
        result = pipeline.run()
    assert result["foodtrace_alert"]["rescoped"] == [first["alert_id"]]
    final, heard = check_final(pipeline.db, office, sim)
    assert final["version"] == first["version"] + 1
    told_first = max(h.n for h in heard_first)
    late_city = [h for h in heard if h.city == late.city]
    assert late_city and min(h.n for h in late_city) > told_first
    assert {h.msg_type for h in late_city} == {"Alert"}
    assert {h.version for h in late_city} == {final["version"]}
    for city in narrow["affected_cities"]:  # told before: the new version is an Update
        assert [h.msg_type for h in heard if h.city == city and h.n > told_first] == [
            "Update",
            "Update",
        ], city

    with connection(pipeline.db) as conn:
        rows = history(conn, final["alert_id"])
    rescoped = [r for r in rows if r[0] == "rescoped"]
    assert [v for _, v, _ in rescoped] == [final["version"]]
    causes = caused_by(rescoped)
    named = causes.get("event", set())
    # every late event on a lot the alert already named, and nothing that came on time
    must = {p["message_id"] for _, p in late.late if lot_codes(p) & narrow["affected_lots"]}
    assert must and must <= named <= set(late.held), (
        sorted(must - named),
        sorted(named - late.held),
    )
    assert set(causes) <= {"event"}
    added = rescoped[0][2]["changes"]["added"]
    assert late.city in added["affected_cities"]
    assert late.locations <= set(added["affected_locations"])


# ---- the messy day ----------------------------------------------------------------------


def test_messy_day_ends_equal_to_the_truth(pipeline: Pipeline, living_broker, office) -> None:
    sim = day("pesticide")
    truth = sim.truth
    messy = make_messy(sim, SEED)
    waves = messy.waves()
    assert len(waves) == 2 and all(waves)
    assert messy.late_scope_location_id in truth.affected_locations
    assert sorted(p["message_id"] for w in waves for _, p in w) == sorted(
        p["message_id"] for _, p in sim.messages()
    )
    summary = messy.summary()
    assert summary["dropped_kdes"] and summary["receivings_before_shipping"]
    with Ingest(living_broker, pipeline.db) as ingest:
        ingest.send(waves[0])
        pipeline.run()
        with connection(pipeline.db) as conn:
            first = the_alert(conn, truth.lot_code)
            heard_first = office.wait_all_sent(conn, first["alert_id"])
        narrow = scope(first)
        assert messy.late_scope_location_id not in narrow["affected_locations"]
        assert narrow["affected_locations"] < set(truth.affected_locations)
        assert narrow["affected_cities"] < set(truth.affected_cities)
        ingest.send(waves[1])
        pipeline.run()
    final, heard = check_final(pipeline.db, office, sim)
    assert final["version"] > first["version"]
    told_first = max(h.n for h in heard_first)
    for city in set(truth.affected_cities) - narrow["affected_cities"]:
        assert min(h.n for h in heard if h.city == city) > told_first, city
    with connection(pipeline.db) as conn:
        rows = history(conn, final["alert_id"])
    causes = caused_by(rows)
    wave1 = {p["message_id"] for _, p in waves[1]}
    wave1_places = {p["location_id"] for k, p in waves[1] if k == "location"}
    assert causes.get("event") and causes["event"] <= wave1
    assert causes.get("location", set()) <= wave1_places
