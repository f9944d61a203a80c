"""Invariant 5 for the notifier: killed mid-flight it loses nothing; replicas share the work
without delivering twice; a Redis that lost its data (and the group) is picked up again."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from shared.models import OutboxEvent
from tests.support.load import create_tickets
from tests.support.processes import wait_until
from tests.support.receiver import Behaviour, WebhookReceiver, running_receiver
from tests.support.system import System, notifier, running_system


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with running_system(tmp_path_factory.mktemp("notifier"), with_notifier=True) as running:
        yield running


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with running_receiver() as running:
        yield running


def _subscribe(system: System, receiver: WebhookReceiver, path: str) -> None:
    response = system.client("admin").post(
        "/webhooks", json={"url": receiver.url(path), "event_types": ["ticket.created"]}
    )
    assert response.status_code == 201, response.text


def _created_event_ids(system: System, ticket_ids: list[int]) -> set[str]:
    with system.db() as db:
        return set(
            db.scalars(
                select(OutboxEvent.event_id).where(
                    OutboxEvent.ticket_id.in_(ticket_ids),
                    OutboxEvent.event_type == "ticket.created",
                )
            )
        )


def _unsubscribe_all(system: System) -> None:
    admin = system.client("admin")
    for endpoint in admin.get("/webhooks").json():
        admin.delete(f"/webhooks/{endpoint['id']}")


def test_a_notifier_killed_with_200_events_in_flight_loses_none(
    system: System, receiver: WebhookReceiver
) -> None:
    path = "/killed"
    # A slow receiver: 8 attempts at a time, a second each, keeps most of the 200 in flight.
    receiver.behaviours[path] = Behaviour(delay=1.0)
    _subscribe(system, receiver, path)

    ids = create_tickets(system.api.base_url, system.keys["agent"], count=200)
    expected = _created_event_ids(system, ids)
    system.notifier.kill()
    delivered_before_kill = len(set(receiver.event_ids(path)))
    assert delivered_before_kill < len(expected), "the kill must land mid-flight"

    system.notifier.start()
    wait_until(
        lambda: set(receiver.event_ids(path)) >= expected, timeout=90, what="all 200 delivered"
    )
    counts = Counter(receiver.event_ids(path))
    duplicates = sum(n - 1 for n in counts.values())
    print(
        f"\nnotifier SIGKILL: 200 events, {delivered_before_kill} before the kill, "
        f"{duplicates} duplicates (same webhook-id twice)"
    )
    assert set(counts) == expected
    _unsubscribe_all(system)


def test_two_replicas_deliver_500_events_exactly_once(
    system: System, receiver: WebhookReceiver, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = "/replicas"
    _subscribe(system, receiver, path)
    second = notifier(system.env, tmp_path_factory.mktemp("replica"), name="notifier-b")
    second.start()
    try:
        ids = create_tickets(system.api.base_url, system.keys["agent"], count=500)
        expected = _created_event_ids(system, ids)
        wait_until(
            lambda: set(receiver.event_ids(path)) >= expected, timeout=90, what="500 deliveries"
        )
        shares = [process.log().count("recorded") for process in (system.notifier, second)]
        assert all(shares), f"both replicas took entries from the group: {shares}"
    finally:
        second.stop()
    counts = Counter(receiver.event_ids(path))
    assert set(counts) == expected
    assert max(counts.values()) == 1, "no (endpoint, event) delivered twice"
    _unsubscribe_all(system)


def test_deliveries_go_on_after_redis_lost_its_data_and_the_group(
    system: System, receiver: WebhookReceiver
) -> None:
    path = "/after-redis-restart"
    _subscribe(system, receiver, path)
    system.redis.stop()
    system.redis.start()  # no persistence: the stream and the consumer group are gone

    ids = create_tickets(system.api.base_url, system.keys["agent"], count=5)
    expected = _created_event_ids(system, ids)
    wait_until(lambda: set(receiver.event_ids(path)) >= expected, timeout=30, what="delivery")
    assert system.redis.client().xinfo_groups("events")[0]["name"] == b"notifier"
