"""Withdrawal reports at the ingest edge: their topic, schema and sender check."""

from __future__ import annotations

import json
import uuid

from foodtrace.ingest.edge import check_message
from foodtrace.ingest.topics import notice_topic, parse_topic, withdrawal_report_topic


def _report(**fields):
    body = {"schema": "foodtrace/withdrawal-report/v1", "message_id": str(uuid.uuid4()),
            "actor_id": "retail-sz-01", "notice_id": str(uuid.uuid4()), "status": "withdrawn",
            "lots": [{"lot_code": "L1", "quantity": 12.5, "unit": "kg"}],
            "disposition": "destroyed", "reported_at": "2026-11-28T10:00:00+08:00"}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


TOPIC = "foodtrace/v1/chain/retail-sz-01/withdrawals"


def test_topics() -> None:
    assert parse_topic(TOPIC) == ("withdrawal_report", "retail-sz-01")
    assert withdrawal_report_topic("retail-sz-01") == TOPIC
    assert notice_topic("retail-sz-01") == "foodtrace/v1/notices/retail-sz-01"


def test_every_status_is_accepted() -> None:
    for body in (_report(), _report(status="acknowledged", lots=None, disposition=None),
                 _report(status="not_held", lots=None, disposition=None, note="sold out")):
        r = check_message(TOPIC, json.dumps(body).encode())
        assert not r.rejected, r.rejected
        assert [a.kind for a in r.accepted] == ["withdrawal_report"]


def test_wrong_sender_bad_status_and_withdrawn_without_lots_are_rejected() -> None:
    r = check_message(TOPIC, json.dumps(_report(actor_id="market-gz-01")).encode())
    assert [x.code for x in r.rejected[0].reasons] == ["sender_mismatch"]
    assert r.rejected[0].raw  # the bytes are kept for quarantine
    r = check_message(TOPIC, json.dumps(_report(status="lost")).encode())
    assert [x.code for x in r.rejected[0].reasons] == ["schema"]
    r = check_message(TOPIC, json.dumps(_report(lots=None)).encode())
    assert r.rejected and not r.accepted
    r = check_message(TOPIC, json.dumps(_report(notice_id="N-1")).encode())
    assert r.rejected
