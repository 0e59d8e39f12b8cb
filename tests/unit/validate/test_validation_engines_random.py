"""The compiled checks against great_expectations on random batches: every suite,
rows drawn from pools of edge values (None, NaN, the bounds of every range, just
inside and outside them, every allowed value and some that are not, row-condition
values and others), through the same row -> DataFrame conversion promote.py uses.
The results (rule order, element counts, failing rows in order) must be identical.

The rule-case comparison on real data is tests/integration/validate/
test_validation_engines.py; this one adds the combinations no hand-written case has.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from foodtrace.validate.frames import FLOAT_OIDS, TIMESTAMPTZ_OID, FrameRows
from foodtrace.validate.rules import RULES_BY_SUITE, SUITES
from foodtrace.validate.suites import COMPILED, suite_runner

TEXT_OID = 25
FLOAT_OID = sorted(FLOAT_OIDS)[0]
T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
PRESENT = {TEXT_OID: "present", FLOAT_OID: 1.0, TIMESTAMPTZ_OID: T0}


def _oids(suite: str) -> dict[str, int]:
    """Each column's type: float if a range reads it, a timestamp if a pair does."""
    oids: dict[str, int] = {}
    for rule in RULES_BY_SUITE[suite]:
        kw = rule.kwargs
        if rule.expectation == "ExpectColumnValuesToBeBetween":
            oids[kw["column"]] = FLOAT_OID
        elif rule.expectation == "ExpectColumnPairValuesAToBeGreaterThanB":
            oids[kw["column_A"]] = oids[kw["column_B"]] = TIMESTAMPTZ_OID
    for rule in RULES_BY_SUITE[suite]:
        for key in ("column", "column_A", "column_B"):
            if key in rule.kwargs:
                oids.setdefault(rule.kwargs[key], TEXT_OID)
        if rule.when is not None:
            oids.setdefault(rule.when[0], TEXT_OID)
    return oids


def _pools(suite: str) -> dict[str, tuple[int, list[Any]]]:
    """column -> (type oid, values to draw from)."""
    oids = _oids(suite)
    pools: dict[str, list[Any]] = {c: [None] for c in oids}
    for rule in RULES_BY_SUITE[suite]:
        kw = rule.kwargs
        if rule.expectation == "ExpectColumnValuesToBeBetween":
            vals: list[Any] = [float("nan"), 0.5]
            for bound in (kw.get("min_value"), kw.get("max_value")):
                if bound is not None:
                    vals += [bound, bound - 1e-9, bound + 1e-9, bound - 10, bound + 10]
            pools[kw["column"]] += vals
        elif rule.expectation == "ExpectColumnValuesToBeInSet":
            pools[kw["column"]] += [*kw["value_set"], "not-in-the-set"]
        elif rule.expectation in ("ExpectColumnValuesToNotBeNull", "ExpectColumnValuesToBeNull"):
            pools[kw["column"]].append(PRESENT[oids[kw["column"]]])
        elif rule.expectation == "ExpectColumnPairValuesAToBeGreaterThanB":
            times = [T0, T0 + timedelta(seconds=1), T0 - timedelta(hours=1)]
            pools[kw["column_A"]] += times
            pools[kw["column_B"]] += times
        else:  # a new expectation needs a pool here
            raise AssertionError(f"no value pool for {rule.expectation}")
        if rule.when is not None:
            pools[rule.when[0]] += [*rule.when[1], "other"]
    return {c: (oids[c], values) for c, values in pools.items()}


def _rows(suite: str, n: int, seed: int) -> FrameRows:
    rng = random.Random(seed)
    pools = _pools(suite)
    columns = ("message_id", *pools)
    oids = (TEXT_OID, *(oid for oid, _ in pools.values()))
    rows = tuple(
        (f"m{seed}-{i:04d}", *(rng.choice(values) for _, values in pools.values()))
        for i in range(n)
    )
    return FrameRows(columns, oids, rows)


def _shape(results) -> list[tuple[str, int, list[str]]]:
    return [(r.rule.name, r.element_count, r.failing) for r in results]


@pytest.fixture(scope="module")
def gx():
    return suite_runner()


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_batches_identical(suite: str, seed: int, gx) -> None:
    rows = _rows(suite, 200, seed)
    expected = _shape(gx.validate(suite, rows.frame()))
    assert any(failing for _, _, failing in expected)  # the batch tests something
    assert _shape(COMPILED.validate(suite, rows.records())) == expected


@pytest.mark.parametrize("suite", SUITES)
def test_single_rows_identical(suite: str, gx) -> None:
    """One row at a time (the alert path's batch), so the sub-suite chosen per row
    (which row conditions match) is compared too."""
    batch = _rows(suite, 25, 99)
    for row in batch.rows:
        one = FrameRows(batch.columns, batch.oids, (row,))
        assert _shape(COMPILED.validate(suite, one.records())) == _shape(
            gx.validate(suite, one.frame())
        )


def test_empty_batch(gx) -> None:
    for suite in SUITES:
        empty = FrameRows(("message_id",), (TEXT_OID,), ())
        assert _shape(COMPILED.validate(suite, empty.records())) == _shape(
            gx.validate(suite, empty.frame())
        )
