"""Validation and promotion on TimescaleDB (core.events, event_lots and lab_results
are hypertables there). Needs FOODTRACE_TEST_TIMESCALE_URL, e.g. the PGlite +
timescaledb test server of tests/timescale (`node server.mjs`): the same SQL must
run on plain PostgreSQL and on TimescaleDB."""

from __future__ import annotations

import os

import pytest
from validation_helpers import Builder, land, outcome

from foodtrace.db import connect, migrate
from foodtrace.validate.promote import validate_and_promote

URL = os.environ.get("FOODTRACE_TEST_TIMESCALE_URL")


@pytest.mark.skipif(not URL, reason="set FOODTRACE_TEST_TIMESCALE_URL to a TimescaleDB server")
def test_promotion_on_timescaledb() -> None:
    b = Builder()
    # the PGlite socket server cannot keep server-side prepared statements
    with connect(URL, prepare_threshold=None) as conn:
        migrate(conn)
        assert conn.execute(
            "SELECT count(*) FROM timescaledb_information.hypertables "
            "WHERE hypertable_schema = 'core' AND hypertable_name = 'events'"
        ).fetchone() == (1,)
        for p in b.locations():
            land(conn, "location", p)
        for p in b.products():
            land(conn, "product", p)
        chain = b.good_chain()
        for p in chain:
            land(conn, "chain_event", p)
        bad = b.receiving(b.lot("X"), b.farm, b.market, 5, 2)
        del bad["tlc_source_location_id"]
        land(conn, "chain_event", bad)
        lab = b.lab_result(b.lot("L1"))
        land(conn, "lab_result", lab)
        validate_and_promote(conn, write_reports=False)
        assert {outcome(conn, p["message_id"])[0] for p in [*chain, lab]} == {"promoted"}
        assert outcome(conn, bad["message_id"])[0] == "quarantined"
        assert conn.execute(
            "SELECT count(*) FROM core.events WHERE location_id LIKE %s", (b.p + "-%",)
        ).fetchone() == (len(chain),)
