"""Pure parts of the ingest consumer: counters, lag, sent_at, settings, dedup keys."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from foodtrace.ingest.consumer import (
    BROKER_MAX_INFLIGHT,
    ConsumerConfig,
    max_message_bytes_from_env,
    parse_sent_at,
    rejection_notices,
)
from foodtrace.ingest.landing import LandingItem, quarantine_dedup_key
from foodtrace.ingest.messages import EdgeResult, Reason, Rejected
from foodtrace.ingest.stats import BatchCounts, IngestTotals, lag_seconds
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from foodtrace.config import ConfigError, MqttSettings

T0 = datetime(2026, 11, 28, 1, 30, tzinfo=UTC)


def test_lag_is_commit_minus_sent() -> None:
    avg, mx = lag_seconds(T0, [T0 - timedelta(seconds=1), T0 - timedelta(seconds=3)])
    assert (avg, mx) == (2.0, 3.0)
    assert lag_seconds(T0, []) == (None, None)
    # a publisher clock ahead of ours shows as negative lag rather than being hidden
    assert lag_seconds(T0, [T0 + timedelta(seconds=2)]) == (-2.0, -2.0)


def test_totals_add_up_batches() -> None:
    t = IngestTotals()
    t.add(BatchCounts(10, 7, 2, 1, lag_avg_s=0.5, lag_max_s=1.0), messages=4)
    t.add(BatchCounts(5, 5, 0, 0, lag_avg_s=1.5, lag_max_s=0.2), messages=5)
    t.add(BatchCounts(1, 0, 1, 0), messages=1)
    assert (t.messages, t.received, t.stored, t.duplicates, t.quarantined, t.batches) == (
        10,
        16,
        12,
        3,
        1,
        3,
    )
    assert t.lag_max_s == 1.0 and t.lag_avg_s == 1.0
    assert t.as_dict()["stored"] == 12


def test_totals_keep_a_negative_maximum_lag() -> None:
    t = IngestTotals()
    t.add(BatchCounts(1, 1, lag_avg_s=-3.0, lag_max_s=-3.0), messages=1)
    t.add(BatchCounts(1, 1, lag_avg_s=-1.0, lag_max_s=-1.0), messages=1)
    assert t.lag_max_s == -1.0


def _props(**user: str) -> Properties:
    p = Properties(PacketTypes.PUBLISH)
    p.UserProperty = list(user.items())
    return p


def test_sent_at_from_user_property() -> None:
    assert parse_sent_at(_props(sent_at="2026-11-28T09:30:00+08:00")) == T0
    assert parse_sent_at(_props(sent_at="2026-11-28T01:30:00Z")) == T0
    assert parse_sent_at(_props(sent_at="yesterday")) is None
    assert parse_sent_at(_props(sent_at="2026-11-28T09:30:00")) is None  # no offset: unknown
    assert parse_sent_at(_props(other="x")) is None
    assert parse_sent_at(None) is None


def _config(**kw) -> ConsumerConfig:
    return ConsumerConfig(
        database_url="postgresql://x",
        mqtt=MqttSettings("h", 1883),
        worker_id=kw.pop("worker_id", "w1"),
        **kw,
    )


def test_config_limits_batch_to_the_broker_inflight_window() -> None:
    assert _config().client_id == "foodtrace-ingest-w1"
    assert _config(batch_size=500).receive_maximum == 1000
    assert _config(batch_size=100).receive_maximum == 200
    assert _config(batch_size=BROKER_MAX_INFLIGHT).receive_maximum == BROKER_MAX_INFLIGHT
    with pytest.raises(ValueError, match="max_inflight"):
        _config(batch_size=BROKER_MAX_INFLIGHT + 1)
    for bad in ("a/b", "w1\n", "", "x" * 65):
        with pytest.raises(ValueError, match="worker id"):
            _config(worker_id=bad)


def test_max_message_bytes_from_env(monkeypatch) -> None:
    monkeypatch.delenv("FOODTRACE_MAX_MESSAGE_BYTES", raising=False)
    assert max_message_bytes_from_env() == 1024 * 1024
    monkeypatch.setenv("FOODTRACE_MAX_MESSAGE_BYTES", "2048")
    assert max_message_bytes_from_env() == 2048
    monkeypatch.setenv("FOODTRACE_MAX_MESSAGE_BYTES", "-1")
    with pytest.raises(ConfigError, match="FOODTRACE_MAX_MESSAGE_BYTES"):
        max_message_bytes_from_env()


def test_rejection_notice_names_message_topic_and_reasons() -> None:
    mid = uuid.uuid4()
    received = datetime(2026, 11, 28, 9, 30, tzinfo=timezone(timedelta(hours=8)))
    result = EdgeResult(
        "foodtrace/v1/labs/lab-gz-01/results",
        "lab-gz-01",
        rejected=[
            Rejected(
                [Reason("schema", "'lot_code' is a required property", "/lot_code")],
                raw=b"{}",
                message_id=mid,
                element_index=2,
            ),
            Rejected([Reason("not_json", "not JSON")], raw=b"{"),
        ],
    )
    notices = rejection_notices(LandingItem(result, received))
    assert [n[0] for n in notices] == ["lab-gz-01", "lab-gz-01"]
    assert notices[0][1] == {
        "message_id": str(mid),
        "stage": "edge",
        "stored": False,
        "topic": "foodtrace/v1/labs/lab-gz-01/results",
        "element_index": 2,
        "reasons": [
            {"code": "schema", "message": "'lot_code' is a required property", "path": "/lot_code"}
        ],
        "received_at": "2026-11-28T09:30:00+08:00",
    }
    assert notices[1][1]["message_id"] is None
    assert (notices[1][1]["stage"], notices[1][1]["stored"]) == ("edge", False)


def test_quarantine_dedup_key_separates_every_field() -> None:
    base = quarantine_dedup_key("edge", "t", b"raw", None)
    assert base == quarantine_dedup_key("edge", "t", b"raw", None)
    assert (
        len(
            {
                base,
                quarantine_dedup_key("validation", "t", b"raw", None),
                quarantine_dedup_key("edge", "t2", b"raw", None),
                quarantine_dedup_key("edge", "t", b"raw2", None),
                quarantine_dedup_key("edge", "t", b"raw", 0),
                quarantine_dedup_key("edge", "tr", b"aw", None),
            }
        )
        == 6
    )


def test_merged_batches_average_the_lag_over_all_their_messages() -> None:
    """The one-by-one path merges single-message batches: lags 1, 2 and 6 s average
    3 s (total / count); averaging pairwise would give 3.75 and favour the last."""
    from foodtrace.ingest.landing import _add

    merged = BatchCounts()
    for lag in (1.0, 2.0, 6.0):
        merged = _add(merged, BatchCounts(1, 1, lag_avg_s=lag, lag_max_s=lag, lag_n=1))
    assert (merged.lag_avg_s, merged.lag_max_s, merged.lag_n) == (3.0, 6.0, 3)
    assert _add(BatchCounts(), BatchCounts()).lag_avg_s is None
    keys = _add(
        BatchCounts(new_quarantine_keys=frozenset({b"a"})),
        BatchCounts(new_quarantine_keys=frozenset({b"b"})),
    )
    assert keys.new_quarantine_keys == {b"a", b"b"}
