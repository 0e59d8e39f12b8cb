"""The topic contract (spec section 1)."""

from __future__ import annotations

import pytest
from foodtrace.ingest.topics import (
    INBOUND_FILTERS,
    alert_cap_topic,
    alert_topic,
    parse_topic,
    rejection_topic,
    subscription_filters,
)

from foodtrace.reference import CITY_CODES


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("foodtrace/v1/labs/lab-gz-01/results", ("lab_result", "lab-gz-01")),
        ("foodtrace/v1/chain/farm-zq-01/events", ("chain_event", "farm-zq-01")),
        ("foodtrace/v1/epcis/packer-gz-01", ("epcis", "packer-gz-01")),
        ("foodtrace/v1/registry/locations", ("location", "registry")),
        ("foodtrace/v1/registry/products", ("product", "registry")),
    ],
)
def test_inbound_topics(topic: str, expected: tuple[str, str]) -> None:
    assert parse_topic(topic) == expected


@pytest.mark.parametrize(
    "topic",
    [
        "foodtrace/v1/labs//results",
        "foodtrace/v1/labs/lab-gz-01",
        "foodtrace/v1/labs/lab-gz-01/results/extra",
        "foodtrace/v1/labs/a b/results",
        "foodtrace/v1/labs/" + "x" * 129 + "/results",
        "foodtrace/v1/chain/farm/event",
        "foodtrace/v1/epcis",
        "foodtrace/v1/epcis/",
        "foodtrace/v1/registry/warehouses",
        "foodtrace/v2/labs/lab-gz-01/results",
        "/foodtrace/v1/labs/lab-gz-01/results",
        "foodtrace/v1/alerts/guangzhou",
        "foodtrace/v1/rejections/lab-gz-01",
        "",
        None,
        b"foodtrace/v1/registry/products",
    ],
)
def test_everything_else_is_unknown(topic: object) -> None:
    assert parse_topic(topic) is None


def test_subscriptions_cover_every_inbound_topic_in_one_shared_group() -> None:
    shared = subscription_filters(shared=True)
    assert shared == [f"$share/foodtrace-ingest/{f}" for f in INBOUND_FILTERS]
    assert subscription_filters(shared=False) == list(INBOUND_FILTERS)
    assert set(INBOUND_FILTERS) == {
        "foodtrace/v1/labs/+/results",
        "foodtrace/v1/chain/+/events",
        "foodtrace/v1/epcis/+",
        "foodtrace/v1/registry/locations",
        "foodtrace/v1/registry/products",
        "foodtrace/v1/chain/+/withdrawals",
    }


def test_outbound_topics() -> None:
    assert rejection_topic("lab-gz-01") == "foodtrace/v1/rejections/lab-gz-01"
    assert rejection_topic("registry") == "foodtrace/v1/rejections/registry"
    assert rejection_topic(None) == "foodtrace/v1/rejections/unknown"
    assert rejection_topic("a/b") == "foodtrace/v1/rejections/unknown"  # never a wildcard
    for city in CITY_CODES:
        assert alert_topic(city) == f"foodtrace/v1/alerts/{city}"
        assert alert_cap_topic(city) == f"foodtrace/v1/alerts/{city}/cap"
    with pytest.raises(ValueError, match="unknown city"):
        alert_topic("+")


def test_the_registry_can_read_its_rejections_under_the_shipped_acl() -> None:
    from edge_samples import REPO_ROOT
    from foodtrace.ingest.topics import REGISTRY_SENDER

    acl = (REPO_ROOT / "deploy" / "mosquitto" / "acl").read_text(encoding="utf-8")
    registry_block = acl.split("user foodtrace-registry\n", 1)[1].split("\n\n", 1)[0]
    assert f"topic read {rejection_topic(REGISTRY_SENDER)}" in registry_block.splitlines()
    assert parse_topic("foodtrace/v1/registry/locations") == ("location", REGISTRY_SENDER)
