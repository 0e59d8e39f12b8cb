"""A notice's states and what moves it (pure).

    issued -> acknowledged -> withdrawn -> verified
    issued | acknowledged -> overdue (the deadline passed)
    overdue -> withdrawn | verified (a late withdrawal, the inspector); an
               acknowledgement after the deadline leaves it overdue
    any but verified/superseded -> superseded (a later alert version)

Reports: `acknowledged` moves issued to acknowledged; `withdrawn` moves
any open state to withdrawn; `not_held` counts as done (withdrawn: nothing is out
there) when the graph agrees the business holds nothing, and only as an
acknowledgement (with a finding) when the graph says it holds some. A report on a
superseded or verified notice is kept but changes nothing.
"""

from __future__ import annotations

from datetime import datetime

ISSUED = "issued"
ACKNOWLEDGED = "acknowledged"
WITHDRAWN = "withdrawn"
VERIFIED = "verified"
OVERDUE = "overdue"
SUPERSEDED = "superseded"
STATES = (ISSUED, ACKNOWLEDGED, WITHDRAWN, VERIFIED, OVERDUE, SUPERSEDED)
FINAL = frozenset({VERIFIED, SUPERSEDED})
ANSWERED = frozenset({ACKNOWLEDGED, WITHDRAWN, VERIFIED})
OPEN = frozenset({ISSUED, ACKNOWLEDGED})  # the ones that can go overdue


class TransitionError(ValueError):
    pass


def on_report(state: str, status: str, graph_holds: bool) -> str:
    """The state after a report of `status`; `graph_holds`: the graph says the
    business holds some of the lots (only used for not_held)."""
    if state in FINAL:
        return state
    if status == "acknowledged":
        return ACKNOWLEDGED if state == ISSUED else state
    if status == "withdrawn":
        return WITHDRAWN
    if status == "not_held":
        if graph_holds:
            return ACKNOWLEDGED if state == ISSUED else state
        return WITHDRAWN
    raise TransitionError(f"unknown report status {status!r}")


def is_overdue(state: str, deadline: datetime | None, now: datetime) -> bool:
    return state in OPEN and deadline is not None and now > deadline


def on_verify(state: str) -> str:
    if state == SUPERSEDED:
        raise TransitionError("this notice was superseded: verify the notice that replaced it")
    if state == VERIFIED:
        raise TransitionError("this notice is verified already")
    return VERIFIED
