"""The compiled checks (suites.CompiledRunner) are the great_expectations suites
(suites.SuiteRunner), row for row: both engines validate the rule-case data of
test_validation_rule_cases.py (a good and a bad row for every rule, every kind, in
one batch per kind) in two databases, and every outcome, reason (text and order),
quarantine row, finding, sender notice, promoted row and expectation result
(element and unexpected counts, samples) is identical.

Also: engine "auto" checks a small batch of lab results without importing
great_expectations or pandas (a fresh process proves it); the lab-result lane is
not held up by the chain-event lane; and the race between the lanes that the
reference lock closes, forced step by step."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from devservices import migrated_database  # tests/devservices.py
from test_validation_rule_cases import (
    CASE_SETUP,
    CASES,
    GOOD_CHAIN,
    GOOD_LABS,
    GOOD_LOCATIONS,
    GOOD_PRODUCTS,
)
from validation_helpers import Builder, land

from foodtrace.db import connect
from foodtrace.validate.promote import _LOCK_KEY, validate_and_promote
from foodtrace.validate.rules import ALL_RULES
from foodtrace.validate.suites import check_compiled_rules

NOW = datetime.now(UTC).replace(microsecond=0)


def _land_rule_cases(conn: psycopg.Connection) -> None:
    for payload in GOOD_LOCATIONS:
        land(conn, "location", payload, commit=False)
    for payload in GOOD_PRODUCTS:
        land(conn, "product", payload, commit=False)
    for payload in GOOD_CHAIN + CASE_SETUP:
        land(conn, "chain_event", payload, commit=False)
    for payload in GOOD_LABS:
        land(conn, "lab_result", payload, commit=False)
    for case in CASES:
        land(conn, case.kind, case.payload, commit=False)
    conn.commit()


def _q(conn: psycopg.Connection, query: str) -> list[tuple]:
    return [tuple(r) for r in conn.execute(query).fetchall()]


def _outputs(conn: psycopg.Connection) -> dict[str, Any]:
    """Everything validation wrote, without run ids and wall-clock times."""
    return {
        "decided": _q(
            conn,
            "SELECT kind, message_id::text, outcome, reasons::text FROM core.processed_messages "
            "ORDER BY message_id",
        ),
        "quarantine": _q(
            conn,
            "SELECT encode(dedup_key, 'hex'), stage, topic, sender_id, message_id::text, "
            "encode(raw, 'hex'), reasons::text FROM landing.quarantine ORDER BY message_id",
        ),
        "findings": _q(
            conn,
            "SELECT kind, message_id::text, sender_id, event_type, event_time, rule, code, "
            "severity, cfr_section, message, path, detail::text, resolved_at IS NULL, "
            "resolution, resolved_value FROM core.findings ORDER BY message_id, rule",
        ),
        "notices": _q(
            conn,
            "SELECT kind, message_id::text, stage, sender_id, topic, stored, "
            "(body - 'received_at')::text "
            "FROM core.sender_notices ORDER BY message_id, stage",
        ),
        "runs": _q(
            conn,
            "SELECT kind, suite_name, rows_checked, rows_passed, rows_failed, findings, success "
            "FROM ops.validation_runs ORDER BY kind",
        ),
        "results": _q(
            conn,
            "SELECT r.kind, v.rule, v.expectation, v.column_name, v.cfr_section, v.on_failure, "
            "v.success, v.element_count, v.unexpected_count, v.sample_message_ids::text "
            "FROM ops.validation_results v JOIN ops.validation_runs r USING (run_id) "
            "ORDER BY r.kind, v.rule",
        ),
        "events": _q(
            conn,
            "SELECT message_id::text, event_type, event_time, location_id, source_location_id, "
            "destination_location_id FROM core.events ORDER BY message_id",
        ),
        "event_lots": _q(
            conn,
            "SELECT message_id::text, role, position, lot_code, product_code, quantity, unit "
            "FROM core.event_lots ORDER BY message_id, role, position",
        ),
        "lots": _q(
            conn,
            "SELECT lot_code, product_code, created_by_message_id::text, tlc_source_location_id "
            "FROM core.lots ORDER BY lot_code",
        ),
        "lab_results": _q(
            conn,
            "SELECT message_id::text, tested_at, lab_id, sample_id, lot_code, product_code, "
            "sampled_at, sampled_location_id, test_kind, method, analyte, value, unit, "
            "value_mg_per_kg, result FROM core.lab_results ORDER BY message_id",
        ),
        "locations": _q(conn, "SELECT location_id, name, kind, city, lat, lon FROM core.locations"),
        "products": _q(conn, "SELECT product_code, name, category FROM core.products"),
        "queued": _q(conn, "SELECT count(*) FROM landing.validation_queue"),
    }


@pytest.fixture(scope="module")
def by_engine() -> Iterator[dict[str, dict[str, Any]]]:
    """The rule cases validated by each engine, each in a database of its own."""
    out: dict[str, dict[str, Any]] = {}
    for engine in ("gx", "compiled"):
        with migrated_database("ft_val_eng") as url, connect(url) as conn:
            _land_rule_cases(conn)
            stats = validate_and_promote(conn, now=NOW, engine=engine, write_reports=False)
            out[engine] = {"stats": stats, "outputs": _outputs(conn)}
    yield out


def test_every_rule_has_a_compiled_check() -> None:
    check_compiled_rules()


def test_each_engine_really_ran(by_engine: dict[str, dict[str, Any]]) -> None:
    kinds = {"master_data", "chain_event", "lab_result"}
    for engine in ("gx", "compiled"):
        assert by_engine[engine]["stats"].engines == dict.fromkeys(kinds, engine)


@pytest.mark.parametrize(
    "table",
    [
        "decided",
        "quarantine",
        "findings",
        "notices",
        "runs",
        "results",
        "events",
        "event_lots",
        "lots",
        "lab_results",
        "locations",
        "products",
        "queued",
    ],
)
def test_identical_results(table: str, by_engine: dict[str, dict[str, Any]]) -> None:
    gx, compiled = by_engine["gx"]["outputs"][table], by_engine["compiled"]["outputs"][table]
    assert gx, f"nothing in {table}: the comparison would prove nothing"
    assert compiled == gx


def test_the_comparison_covers_every_rule_failing(by_engine: dict[str, dict[str, Any]]) -> None:
    """Every rule failed on some row and passed on others, under both engines."""
    results = by_engine["compiled"]["outputs"]["results"]
    failed = {rule for _, rule, *_, unexpected, _ in results if unexpected}
    assert failed == {r.name for r in ALL_RULES}
    counts = {rule: (n, unexpected) for _, rule, *_, n, unexpected, _ in results}
    assert all(n > unexpected for n, unexpected in counts.values())
    stats = by_engine["compiled"]["stats"]
    assert (stats.promoted, stats.quarantined) == (
        by_engine["gx"]["stats"].promoted,
        by_engine["gx"]["stats"].quarantined,
    )


def test_auto_checks_a_lab_result_without_gx_or_pandas(fresh_db_url: str) -> None:
    """A fresh process validating one positive rapid test (engine auto) imports
    neither great_expectations nor pandas."""
    b = Builder()
    with connect(fresh_db_url) as conn:
        land(conn, "lab_result", b.lab_result(b.lot("L1")))
    script = textwrap.dedent(
        f"""
        import json, sys
        from foodtrace.db import connect
        from foodtrace.validate.promote import validate_and_promote
        with connect({fresh_db_url!r}) as conn:
            stats = validate_and_promote(conn, kinds=["lab_result"], write_reports=False)
        print(json.dumps({{
            "promoted": stats.promoted, "engines": stats.engines,
            "heavy": sorted(m for m in ("great_expectations", "pandas") if m in sys.modules),
        }}))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got == {"promoted": 1, "engines": {"lab_result": "compiled"}, "heavy": []}


def test_lab_lane_is_not_held_by_the_chain_lane(fresh_db_url: str) -> None:
    """A chain-event validation holding its lane does not hold up lab results."""
    b = Builder()
    with connect(fresh_db_url) as conn:
        land(conn, "lab_result", b.lab_result(b.lot("L1")))
    with psycopg.connect(fresh_db_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        done = threading.Event()
        got: list[int] = []

        def lab_lane() -> None:
            with connect(fresh_db_url) as c:
                got.append(
                    validate_and_promote(c, kinds=["lab_result"], write_reports=False).promoted
                )
            done.set()

        t = threading.Thread(target=lab_lane)
        t.start()
        assert done.wait(60), "lab-result validation waited for the chain-event lane"
        t.join()
        holder.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    assert got == [1]


def _wait_blocked(conn: psycopg.Connection, needle: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if conn.execute(
            "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
            (f"%{needle}%",),
        ).fetchone():
            return
        time.sleep(0.05)
    raise AssertionError(f"no backend waited on a lock in a statement with {needle!r}")


def test_a_chain_batch_answers_the_finding_of_a_concurrent_lab_batch(fresh_db_url: str) -> None:
    """The race the reference lock closes, forced: the lab lane reads that lot X is
    unknown (the chain event creating X is not committed yet) and is held before it
    commits its finding, while the chain lane promotes X and resolves findings. The
    chain batch waits for the lab batch, sees its finding and answers it; without
    the lock (tried) the finding stays open although X is known."""
    b = Builder()
    lot = b.lot("X")
    with connect(fresh_db_url) as conn:
        for p in b.locations():
            land(conn, "location", p, commit=False)
        for p in b.products():
            land(conn, "product", p, commit=False)
        conn.commit()
        validate_and_promote(conn, kinds=["master_data"], write_reports=False)
        land(conn, "chain_event", b.harvesting(lot))
        land(conn, "lab_result", b.lab_result(lot))
    errors: list[BaseException] = []

    def lane(kinds: list[str]) -> None:
        try:
            with connect(fresh_db_url) as c:
                validate_and_promote(c, kinds=kinds, write_reports=False)
        except BaseException as exc:  # reported below
            errors.append(exc)

    with (
        psycopg.connect(fresh_db_url) as gate,
        psycopg.connect(fresh_db_url, autocommit=True) as watch,
    ):
        gate.execute("LOCK TABLE core.lab_results IN SHARE MODE")  # held until commit
        lab = threading.Thread(target=lane, args=(["lab_result"],))
        lab.start()
        _wait_blocked(watch, "INSERT INTO core.lab_results")  # X read as unknown
        chain = threading.Thread(target=lane, args=(["chain_event"],))
        chain.start()
        chain.join(2)  # with the reference lock it waits for the lab batch
        gate.commit()
        lab.join(60)
        chain.join(60)
    assert not errors, errors
    with connect(fresh_db_url) as conn:
        rows = conn.execute(
            "SELECT rule, resolved_at IS NOT NULL, resolution FROM core.findings "
            "WHERE kind = 'lab_result'"
        ).fetchall()
        assert conn.execute("SELECT count(*) FROM core.lots WHERE lot_code = %s", (lot,)).fetchone()
    assert rows == [("reference.lot_known", True, "reference_arrived")]
