"""The outbox reconciler against the session's real Redis and database: what a consumer has not
recorded in time is sent again, to that consumer, with the stored envelope.

Rows are written straight into the outbox with publication times hours ago, and the grace
period is set in hours, so that the events other tests publish meanwhile are never due here.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
import pytest
from sqlalchemy import insert, select

from shared import tasks
from shared.celery_app import get_celery
from shared.clock import utcnow
from shared.models import NotifiedEvent, OutboxEvent, ProcessedEvent
from shared.outbox_reconciler import STATE_KEY, OutboxReconciler, Reconciliation
from shared.publishing import OutboxPublisher
from shared.redis_client import get_redis
from shared.settings import get_settings
from shared.unit_of_work import transaction

pytestmark = pytest.mark.usefixtures("seeded_database")

HOURS_AGO = timedelta(hours=12)


@dataclass(frozen=True)
class Written:
    id: int
    event_id: str
    payload: str


def _write_event(
    *, published_ago: timedelta | None = HOURS_AGO, handled: bool = False, notified: bool = False
) -> Written:
    """An outbox row created and published `published_ago`, and the consumers' records."""
    now = utcnow()
    event_id = f"evt_{uuid.uuid4().hex}"
    created_at = now - (published_ago or timedelta(0))
    payload = orjson.dumps(
        {"id": event_id, "type": "ticket.created", "timestamp": created_at.isoformat(), "data": {}}
    ).decode()
    with transaction() as session:
        row_id = session.scalar(
            insert(OutboxEvent)
            .values(
                event_id=event_id,
                event_type="ticket.created",
                ticket_id=None,
                payload=payload,
                created_at=created_at,
                published_at=None if published_ago is None else created_at,
            )
            .returning(OutboxEvent.id)
        )
        if handled:
            session.add(ProcessedEvent(event_id=event_id, processed_at=created_at))
        if notified:
            session.add(NotifiedEvent(event_id=event_id, recorded_at=created_at))
    assert row_id is not None
    return Written(row_id, event_id, payload)


def _reconcile(*, grace: timedelta, window_hours: float = 24.0) -> Reconciliation:
    settings = get_settings().model_copy(
        update={
            "outbox_reconcile_grace_seconds": grace.total_seconds(),
            "outbox_reconcile_window_hours": window_hours,
        }
    )
    publisher = OutboxPublisher(redis=get_redis(), celery=get_celery(), settings=settings)
    done = OutboxReconciler(publisher=publisher, redis=get_redis(), settings=settings).reconcile()
    assert done is not None
    return done


def _streamed() -> dict[str, list[bytes]]:
    """Event id -> the payloads of its entries in the stream."""
    entries: dict[str, list[bytes]] = {}
    for _entry, fields in get_redis().xrange(get_settings().event_stream):  # type: ignore[union-attr]
        entries.setdefault(fields[b"event_id"].decode(), []).append(fields[b"payload"])
    return entries


def _queued_for_worker() -> list[str]:
    """Event ids of the Celery messages waiting in the queue (no worker runs in this session)."""
    queued: list[str] = []
    for message in get_redis().lrange("celery", 0, -1):  # type: ignore[union-attr]
        envelope = orjson.loads(message)
        args = orjson.loads(base64.b64decode(envelope["body"]))[0]
        if envelope["headers"]["task"] == tasks.HANDLE_EVENT:
            queued.append(args[0])
        elif envelope["headers"]["task"] == tasks.HANDLE_EVENTS:
            queued += [event[0] for event in args[0]]
    return queued


def _published_at(row_id: int) -> datetime | None:
    with transaction(write=False) as session:
        return session.scalar(select(OutboxEvent.published_at).where(OutboxEvent.id == row_id))


def test_an_event_the_notifier_never_recorded_goes_to_the_stream_again_unchanged() -> None:
    event = _write_event(handled=True)
    _reconcile(grace=timedelta(hours=6))
    assert _streamed().get(event.event_id) == [event.payload.encode()]
    assert event.event_id not in _queued_for_worker()


def test_an_event_the_worker_never_handled_goes_to_the_worker_again_only() -> None:
    event = _write_event(notified=True)
    _reconcile(grace=timedelta(hours=6))
    assert event.event_id in _queued_for_worker()
    assert event.event_id not in _streamed()


def test_a_sent_event_waits_another_grace_period_before_it_is_sent_again() -> None:
    event = _write_event()
    _reconcile(grace=timedelta(hours=6))
    published_at = _published_at(event.id)
    assert published_at is not None
    assert published_at > utcnow() - timedelta(minutes=5)
    _reconcile(grace=timedelta(hours=6))
    assert len(_streamed()[event.event_id]) == 1
    assert _queued_for_worker().count(event.event_id) == 1


def test_events_recorded_by_both_within_the_grace_or_unpublished_are_left_alone() -> None:
    recorded = _write_event(handled=True, notified=True)
    recent = _write_event(published_ago=timedelta(minutes=1))
    unpublished = _write_event(published_ago=None)
    _reconcile(grace=timedelta(hours=6))
    streamed, queued = _streamed(), _queued_for_worker()
    for event in (recorded, recent):
        assert event.event_id not in streamed
        assert event.event_id not in queued
    # The unpublished row is the publisher's: the suite's API server may publish it once
    # meanwhile (it publishes whatever is pending), the reconciler never adds a copy.
    assert len(streamed.get(unpublished.event_id, [])) <= 1
    assert queued.count(unpublished.event_id) <= 1


def test_events_older_than_the_window_are_left_alone() -> None:
    event = _write_event(published_ago=timedelta(hours=30))
    _reconcile(grace=timedelta(hours=6), window_hours=24)
    assert event.event_id not in _streamed()


def test_a_redis_that_is_not_the_one_seen_before_gets_its_events_again_at_once() -> None:
    """A new run id (a restart, a failover): what was published before it started is sent
    again without waiting for the grace period."""
    _reconcile(grace=timedelta(hours=20))
    event = _write_event()
    assert not _reconcile(grace=timedelta(hours=20)).redis_replaced
    assert event.event_id not in _streamed(), "within the grace period and the same Redis"

    get_redis().hset(STATE_KEY, "run_id", "a-redis-that-is-gone")
    done = _reconcile(grace=timedelta(hours=20))
    assert done.redis_replaced
    assert _streamed().get(event.event_id) == [event.payload.encode()]
    assert event.event_id in _queued_for_worker()
    assert not _reconcile(grace=timedelta(hours=20)).redis_replaced


def test_the_watermark_never_passes_an_event_a_consumer_has_not_recorded() -> None:
    waiting = _write_event(handled=True)
    _write_event(handled=True, notified=True)
    _reconcile(grace=timedelta(hours=20))
    watermark = get_redis().hget(STATE_KEY, "watermark")
    assert watermark is not None
    assert int(watermark) <= waiting.id  # type: ignore[arg-type]


def test_a_redis_that_lost_the_reconcilers_state_counts_as_replaced() -> None:
    _reconcile(grace=timedelta(hours=20))
    event = _write_event()
    get_redis().delete(STATE_KEY)
    assert _reconcile(grace=timedelta(hours=20)).redis_replaced
    assert event.event_id in _streamed()
