"""Invariant 2, Redis is the broker and not the store of record: events that reached the stream
and the Celery queue and were then lost by Redis are published again from the outbox, and reach
the worker and every subscribed endpoint (duplicates allowed, with the same webhook-id)."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from sqlalchemy import func, or_, select

from shared.models import NotifiedEvent, OutboxEvent, ProcessedEvent
from shared.outbox_reconciler import STATE_KEY
from tests.support.load import create_tickets
from tests.support.processes import wait_until
from tests.support.receiver import WebhookReceiver, running_receiver
from tests.support.system import FAST_TIMINGS, System, running_system

TICKETS = 10
GRACE_SECONDS = 10

RECONCILING = {
    **FAST_TIMINGS,
    "OUTBOX_RECONCILE_INTERVAL_SECONDS": "1",
    "OUTBOX_RECONCILE_GRACE_SECONDS": str(GRACE_SECONDS),
}


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with running_system(
        tmp_path_factory.mktemp("redis-data-loss"), with_notifier=True, timings=RECONCILING
    ) as running:
        yield running


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with running_receiver() as running:
        yield running


def _subscribe(system: System, receiver: WebhookReceiver, path: str) -> None:
    response = system.client("admin").post("/webhooks", json={"url": receiver.url(path)})
    assert response.status_code == 201, response.text


def _published_while_consumers_are_stopped(system: System) -> list[int]:
    """Tickets created (and changed) with the worker and the notifier stopped, each event
    published to Redis and nowhere else yet."""
    system.worker.stop()
    system.notifier.stop()
    ids = create_tickets(system.api.base_url, system.keys["agent"], count=TICKETS)
    for ticket_id in ids:
        changed = system.client("agent").patch(f"/tickets/{ticket_id}", json={"status_id": 2})
        assert changed.status_code == 200, changed.text

    def published() -> bool:
        with system.db() as db:
            waiting = db.scalar(
                select(func.count()).where(
                    OutboxEvent.ticket_id.in_(ids), OutboxEvent.published_at.is_(None)
                )
            )
        return waiting == 0

    wait_until(published, timeout=30, what="every event published to Redis")
    return ids


def _event_ids(system: System, ticket_ids: list[int]) -> set[str]:
    with system.db() as db:
        return set(
            db.scalars(select(OutboxEvent.event_id).where(OutboxEvent.ticket_id.in_(ticket_ids)))
        )


def _assert_every_event_reaches_both(
    system: System, receiver: WebhookReceiver, path: str, ticket_ids: list[int]
) -> None:
    def handled_and_delivered() -> bool:
        # Read each time: handling the events announces more of them (ticket.sla_updated).
        expected = _event_ids(system, ticket_ids)
        with system.db() as db:
            handled = db.scalar(select(func.count()).where(ProcessedEvent.event_id.in_(expected)))
        return handled == len(expected) and set(receiver.event_ids(path)) >= expected

    wait_until(handled_and_delivered, timeout=90, interval=0.5, what="every event at both")
    for request in receiver.at(path):
        envelope = orjson.loads(request.body)
        assert request.headers["webhook-id"] == envelope["id"], "a copy keeps its webhook-id"


def test_events_redis_lost_in_a_restart_reach_the_worker_and_every_endpoint(
    system: System, receiver: WebhookReceiver
) -> None:
    path = "/restart"
    _subscribe(system, receiver, path)
    ids = _published_while_consumers_are_stopped(system)
    assert system.redis.client().xlen("events") > 0
    assert system.redis.client().llen("celery") > 0

    system.redis.stop()
    system.redis.start()  # nothing on disk: the stream, the group and the queue are gone
    assert not system.redis.client().exists("events")
    # Beat may have queued its periodic tasks since; none of the events' tasks is left.
    queued = system.redis.client().lrange("celery", 0, -1)
    assert not [message for message in queued if b"handle_event" in message]
    system.worker.start()
    system.notifier.start()

    _assert_every_event_reaches_both(system, receiver, path, ids)
    assert "is not the one seen before" in system.worker.log(), "the new Redis was noticed"


def test_entries_dropped_without_a_restart_are_sent_again_after_the_grace_period(
    system: System, receiver: WebhookReceiver
) -> None:
    """A failover to a replica that lagged, or entries trimmed before anyone read them: the
    same Redis, without the events. The grace period is the backstop."""
    path = "/dropped"
    _subscribe(system, receiver, path)
    ids = _published_while_consumers_are_stopped(system)
    redis = system.redis.client()
    redis.xtrim("events", maxlen=0)  # the group stays, its entries are gone
    redis.delete("celery")

    system.worker.start()
    system.notifier.start()
    _assert_every_event_reaches_both(system, receiver, path, ids)


def test_the_watermark_passes_every_event_both_consumers_recorded(
    system: System, receiver: WebhookReceiver
) -> None:
    path = "/watermark"
    _subscribe(system, receiver, path)
    ids = create_tickets(system.api.base_url, system.keys["agent"], count=3)
    _assert_every_event_reaches_both(system, receiver, path, ids)

    def passed_them_all() -> bool:
        with system.db() as db:
            last = db.scalar(select(func.max(OutboxEvent.id))) or 0
            unrecorded = db.scalar(
                select(func.count())
                .select_from(OutboxEvent)
                .outerjoin(NotifiedEvent, NotifiedEvent.event_id == OutboxEvent.event_id)
                .outerjoin(ProcessedEvent, ProcessedEvent.event_id == OutboxEvent.event_id)
                .where(or_(NotifiedEvent.event_id.is_(None), ProcessedEvent.event_id.is_(None)))
            )
        watermark = system.redis.client().hget(STATE_KEY, "watermark")
        return not unrecorded and watermark is not None and int(watermark) > last

    # Once the last event is older than the grace period, the scan starts past it.
    wait_until(passed_them_all, timeout=GRACE_SECONDS + 60, interval=0.5, what="the watermark")
