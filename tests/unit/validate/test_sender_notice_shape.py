"""Where a validation notice goes and what it says (no broker, no database)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from foodtrace.ingest.consumer import rejection_notices
from foodtrace.ingest.landing import LandingItem
from foodtrace.ingest.messages import EdgeResult, Reason, Rejected

from foodtrace.validate.notices import PendingNotice, notice_body, notice_topic

MID = uuid.UUID("6f1c1d2e-0000-4000-8000-000000000001")
FINDING = {"rule": "kde_ship_reference", "code": "kde_missing", "cfr_section": "1.1340(a)(6)"}


def _notice(**over) -> PendingNotice:
    base = dict(
        notice_id=1,
        kind="chain_event",
        message_id=MID,
        stage="validation",
        sender_id="packer-gz-01",
        topic="foodtrace/v1/chain/packer-gz-01/events",
        stored=True,
        body={"message_id": str(MID), "stage": "validation", "stored": True, "reasons": [FINDING]},
        received_at=None,
    )
    return PendingNotice(**{**base, **over})


@pytest.mark.parametrize(
    ("kind", "sender_id", "topic", "expected"),
    [
        ("lab_result", "lab-gz-01", "foodtrace/v1/labs/lab-gz-01/results", "lab-gz-01"),
        ("chain_event", "farm-zq-01", None, "farm-zq-01"),
        # no sender recorded: the topic names it (EPCIS too)
        ("chain_event", None, "foodtrace/v1/epcis/dist-fs-01", "dist-fs-01"),
        # master data: the registry's topic, with or without the original topic
        ("master_data", None, "foodtrace/v1/registry/locations", "registry"),
        ("master_data", None, None, "registry"),
        # a sender id that cannot be a topic level, or no sender at all
        ("chain_event", "bad/actor", None, "unknown"),
        ("lab_result", None, None, "unknown"),
    ],
)
def test_topic(kind: str, sender_id: str | None, topic: str | None, expected: str) -> None:
    n = _notice(kind=kind, sender_id=sender_id, topic=topic)
    assert notice_topic(n) == f"foodtrace/v1/rejections/{expected}"


def test_body_is_the_rows_body_with_topic_and_arrival() -> None:
    received = datetime(2026, 11, 28, 9, 30, tzinfo=timezone(timedelta(hours=8)))
    body = notice_body(_notice(received_at=received))
    assert body == {
        "message_id": str(MID),
        "stage": "validation",
        "stored": True,
        "topic": "foodtrace/v1/chain/packer-gz-01/events",
        "element_index": None,
        "received_at": "2026-11-28T01:30:00+00:00",
        "reasons": [FINDING],
    }


def test_columns_win_and_extra_fields_are_kept() -> None:
    n = _notice(
        stored=False,
        body={
            "message_id": "something else",
            "stored": True,
            "reasons": [{"code": "no_lot_code", "message": "no lot code"}],
            "topic": "foodtrace/v1/chain/packer-gz-01/events",
            "received_at": "2026-11-28T09:30:00+08:00",
            "rule_version": 3,
        },
        topic=None,
    )
    body = notice_body(n)
    assert (body["message_id"], body["stage"], body["stored"]) == (str(MID), "validation", False)
    assert body["topic"] == "foodtrace/v1/chain/packer-gz-01/events"
    assert body["received_at"] == "2026-11-28T09:30:00+08:00"  # what validation wrote
    assert body["rule_version"] == 3


def test_unknown_arrival_is_left_out_and_reasons_default_to_empty() -> None:
    body = notice_body(_notice(body={}, topic=None))
    assert "received_at" not in body
    assert body["reasons"] == [] and body["topic"] is None


def test_a_superset_of_the_edge_notice() -> None:
    """One shape for senders: every field of the edge's notice is in the validation one."""
    edge_result = EdgeResult(
        "foodtrace/v1/labs/lab-gz-01/results",
        "lab-gz-01",
        rejected=[Rejected([Reason("schema", "bad")], raw=b"{}", message_id=MID)],
    )
    [(_sender, edge)] = rejection_notices(LandingItem(edge_result, datetime.now(UTC)))
    validation = notice_body(_notice(received_at=datetime.now(UTC)))
    assert set(edge) <= set(validation)
    assert {"message_id", "stage", "stored", "reasons"} <= set(validation)
