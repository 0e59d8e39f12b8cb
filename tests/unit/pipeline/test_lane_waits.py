"""When the lab-result lane's task waits for a lab result before its steps: only on
the first try of a run the scheduler made. A manual run and a retry go on at once
(a retry of a run that had work, e.g. a refused alert, must not wait for the next
positive test to deliver it)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from foodtrace.pipeline.dag_tasks import _waits


class _RunType:
    def __init__(self, value: str) -> None:
        self.value = value


@pytest.mark.parametrize(
    ("run_type", "try_number", "waits"),
    [
        ("scheduled", 1, True),
        ("scheduled", 2, False),
        ("manual", 1, False),
        ("backfill", 1, False),
    ],
)
def test_waits_on_the_first_try_of_a_scheduled_run_only(
    run_type: str, try_number: int, waits: bool
) -> None:
    run = SimpleNamespace(run_type=_RunType(run_type))
    assert _waits(run, SimpleNamespace(try_number=try_number)) is waits
    assert (
        _waits(SimpleNamespace(run_type=run_type), SimpleNamespace(try_number=try_number)) is waits
    )


def test_no_run_no_wait() -> None:
    assert _waits(None) is False
