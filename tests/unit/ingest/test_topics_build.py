"""Every topic string is built in ingest/topics.py: inbound topics (the publisher,
the EPCIS API, the demo) are the inverse of `parse_topic`; alert topics come from
there for the outbox."""

from __future__ import annotations

from typing import get_args

import pytest
from foodtrace.ingest import topics
from foodtrace.ingest.publish import topic_for

from foodtrace.alerts import outbox
from foodtrace.reference import CITY_CODES


@pytest.mark.parametrize(
    ("kind", "sender", "topic"),
    [
        ("lab_result", "lab-gz-01", "foodtrace/v1/labs/lab-gz-01/results"),
        ("chain_event", "farm-zq-01", "foodtrace/v1/chain/farm-zq-01/events"),
        ("epcis", "packer-gz-01", "foodtrace/v1/epcis/packer-gz-01"),
        ("location", None, "foodtrace/v1/registry/locations"),
        ("product", None, "foodtrace/v1/registry/products"),
        ("withdrawal_report", "farm-zq-01", "foodtrace/v1/chain/farm-zq-01/withdrawals"),
    ],
)
def test_inbound_topic_is_the_inverse_of_parse_topic(kind, sender, topic) -> None:
    assert topics.inbound_topic(kind, sender) == topic
    assert topics.parse_topic(topic) == (kind, sender or topics.REGISTRY_SENDER)


@pytest.mark.parametrize("sender", [None, "", "a/b", "+", "#", "a b", "x" * 129])
def test_inbound_topic_refuses_what_cannot_be_one_level(sender) -> None:
    with pytest.raises(ValueError):
        topics.inbound_topic("lab_result", sender)
    with pytest.raises(ValueError):
        topics.inbound_topic("withdrawal", "lab-gz-01")  # type: ignore[arg-type]


def test_every_inbound_topic_matches_a_subscription_filter() -> None:
    assert len(get_args(topics.TopicKind)) >= 5
    for kind in get_args(topics.TopicKind):
        topic = topics.inbound_topic(kind, "s-1")
        assert any(
            _matches(f, topic) for f in topics.subscription_filters(shared=False)
        ), topic


def _matches(topic_filter: str, topic: str) -> bool:
    f, t = topic_filter.split("/"), topic.split("/")
    return len(f) == len(t) and all(a in ("+", b) for a, b in zip(f, t, strict=True))


def test_publisher_topics_come_from_topics() -> None:
    assert topic_for("lab_result", {"lab_id": "lab-gz-01"}) == topics.inbound_topic(
        "lab_result", "lab-gz-01"
    )
    # the message's own sender first, the --sender fallback second
    assert topic_for("chain_event", {"actor_id": "bad/id"}, sender="farm-1") == (
        "foodtrace/v1/chain/farm-1/events"
    )


def test_outbox_topics_are_the_alert_topics() -> None:
    for city in CITY_CODES:
        assert outbox.topics(city) == (topics.alert_topic(city), topics.alert_cap_topic(city))
        assert outbox.topics(city) == (f"foodtrace/v1/alerts/{city}", f"foodtrace/v1/alerts/{city}/cap")
    assert topics.ALERTS_FILTER == "foodtrace/v1/alerts/#"
    with pytest.raises(ValueError):
        outbox.topics("atlantis")
