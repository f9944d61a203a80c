"""The outbox publisher against the session's real Redis and database."""

from __future__ import annotations

from datetime import datetime

import httpx
from sqlalchemy import select

from shared.celery_app import get_celery
from shared.models import OutboxEvent
from shared.publishing import PUBLISHER_LOCK, OutboxPublisher
from shared.redis_client import get_redis
from shared.settings import get_settings
from shared.unit_of_work import transaction
from tests.helpers import new_ticket
from tests.support.processes import wait_until
from tests.support.redis_server import RedisServer


def _publisher() -> OutboxPublisher:
    return OutboxPublisher(redis=get_redis(), celery=get_celery(), settings=get_settings())


def test_publishing_appends_oldest_first_and_marks_the_rows(
    agent: httpx.Client, redis_server: RedisServer
) -> None:
    ticket = new_ticket(agent)
    agent.patch(f"/tickets/{ticket['id']}", json={"status_id": 2, "assigned_to": 5})

    def rows() -> list[tuple[str, datetime | None]]:
        with transaction(write=False) as session:
            return [
                (event_id, published_at)
                for event_id, published_at in session.execute(
                    select(OutboxEvent.event_id, OutboxEvent.published_at)
                    .where(OutboxEvent.ticket_id == ticket["id"])
                    .order_by(OutboxEvent.id)
                )
            ]

    def all_published() -> bool:
        # Publish whatever is left, unless the API's own publisher holds the lock right now.
        _publisher().publish_pending()
        return all(published_at is not None for _event, published_at in rows())

    wait_until(all_published, timeout=10, what="every event published")
    streamed = [
        fields[b"event_id"].decode()
        for _id, fields in redis_server.client().xrange("events")
        if fields[b"ticket_id"] == str(ticket["id"]).encode()
    ]
    assert streamed == [event_id for event_id, _published in rows()]


def test_a_second_publisher_stands_back_while_the_lock_is_held() -> None:
    redis = get_redis()
    redis.set(PUBLISHER_LOCK, "someone-else", px=5000)
    try:
        assert _publisher().publish_pending() is None
    finally:
        redis.delete(PUBLISHER_LOCK)
    assert _publisher().publish_pending() is not None
