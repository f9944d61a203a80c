"""The worker's event handling, called as the task calls it, on the test database."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from celery import Celery
from sqlalchemy import func, select

from services.worker.events import handle_ticket_events
from shared.celery_app import get_celery
from shared.clock import utcnow
from shared.events import new_event_id
from shared.models import OutboxEvent, ProcessedEvent, Ticket
from shared.publishing import OutboxPublisher, PendingEvent
from shared.redis_client import get_redis
from shared.settings import get_settings
from shared.unit_of_work import transaction
from tests.helpers import new_ticket


def test_an_event_delivered_twice_is_handled_once(agent: httpx.Client) -> None:
    ticket = new_ticket(agent, title="Duplicate delivery", description="octarine widget")
    event_id = new_event_id()

    with transaction() as session:
        first = handle_ticket_events(
            session, events=[(event_id, "ticket.created", ticket["id"])], now=utcnow()
        )
    with transaction() as session:
        second = handle_ticket_events(
            session, events=[(event_id, "ticket.created", ticket["id"])], now=utcnow()
        )

    assert (first, second) == ({event_id}, set())
    with transaction(write=False) as session:
        assert session.scalar(select(func.count()).where(ProcessedEvent.event_id == event_id)) == 1
        assert (
            session.scalar(select(Ticket.resolution_due_at).where(Ticket.id == ticket["id"]))
            is not None
        )
    found = agent.get("/search", params={"query": "octarine"}).json()["items"]
    assert [hit["ticket"]["id"] for hit in found] == [ticket["id"]]


def test_handling_leaves_the_ticket_version_alone(agent: httpx.Client) -> None:
    ticket = new_ticket(agent)
    with transaction() as session:
        handle_ticket_events(
            session, events=[(new_event_id(), "ticket.created", ticket["id"])], now=utcnow()
        )
    assert agent.get(f"/tickets/{ticket['id']}").json()["version"] == ticket["version"]


def test_a_batch_handles_each_ticket_once_and_records_every_event(agent: httpx.Client) -> None:
    first = new_ticket(agent, title="Batch one", description="vermilion gasket")
    second = new_ticket(agent, title="Batch two", description="vermilion gasket")
    batch = [
        (new_event_id(), "ticket.created", first["id"]),
        (new_event_id(), "ticket.created", second["id"]),
    ]
    batch.append((new_event_id(), "ticket.commented", first["id"]))  # a later one, same ticket
    already = batch[1][0]
    with transaction() as session:
        handle_ticket_events(session, events=[batch[1]], now=utcnow())

    with transaction() as session:
        handled = handle_ticket_events(session, events=batch, now=utcnow())

    assert handled == {batch[0][0], batch[2][0]}  # not the one handled before
    ids = [event_id for event_id, _type, _ticket in batch]
    with transaction(write=False) as session:
        assert session.scalar(select(func.count()).where(ProcessedEvent.event_id.in_(ids))) == 3
        due = session.scalars(
            select(Ticket.resolution_due_at).where(Ticket.id.in_([first["id"], second["id"]]))
        ).all()
    assert None not in due
    assert already not in handled


def _sla_updates(ticket_id: int) -> list[dict[str, Any]]:
    with transaction(write=False) as session:
        payloads = session.scalars(
            select(OutboxEvent.payload)
            .where(
                OutboxEvent.ticket_id == ticket_id, OutboxEvent.event_type == "ticket.sla_updated"
            )
            .order_by(OutboxEvent.id)
        ).all()
    return [orjson.loads(payload) for payload in payloads]


def test_due_times_set_or_moved_are_announced_once_each(agent: httpx.Client) -> None:
    ticket = new_ticket(agent, category_id=3)
    with transaction() as session:
        handle_ticket_events(
            session, events=[(new_event_id(), "ticket.created", ticket["id"])], now=utcnow()
        )
    [first] = _sla_updates(ticket["id"])
    stored = agent.get(f"/tickets/{ticket['id']}").json()
    assert first["data"]["sla"] == {
        "first_response_due_at": stored["first_response_due_at"],
        "resolution_due_at": stored["resolution_due_at"],
        "status": stored["sla_status"],
    }
    assert first["data"]["changes"]["resolution_due_at"] == {
        "from": None,
        "to": stored["resolution_due_at"],
    }
    assert first["data"]["ticket"]["id"] == ticket["id"]

    # An event that moves nothing announces nothing; nor does the announcement itself.
    with transaction() as session:
        handle_ticket_events(
            session,
            events=[
                (new_event_id(), "ticket.commented", ticket["id"]),
                (new_event_id(), "ticket.sla_updated", ticket["id"]),
            ],
            now=utcnow(),
        )
    assert len(_sla_updates(ticket["id"])) == 1

    # Another category has another SLA: the resolution due time moves, and receivers hear it.
    moved = agent.patch(f"/tickets/{ticket['id']}", json={"category_id": 1})
    assert moved.status_code == 200, moved.text
    with transaction() as session:
        handle_ticket_events(
            session, events=[(new_event_id(), "ticket.updated", ticket["id"])], now=utcnow()
        )
    updates = _sla_updates(ticket["id"])
    assert len(updates) == 2
    change = updates[1]["data"]["changes"]["resolution_due_at"]
    assert change["from"] == stored["resolution_due_at"] != change["to"]
    assert change["to"] == agent.get(f"/tickets/{ticket['id']}").json()["resolution_due_at"]


def test_the_workers_own_announcement_is_recorded_as_handled_and_never_queued_for_it(
    agent: httpx.Client,
) -> None:
    ticket = new_ticket(agent, category_id=3)
    with transaction() as session:
        handle_ticket_events(
            session, events=[(new_event_id(), "ticket.created", ticket["id"])], now=utcnow()
        )
    [announcement] = _sla_updates(ticket["id"])
    with transaction(write=False) as session:
        recorded = session.scalar(
            select(func.count()).where(ProcessedEvent.event_id == announcement["id"])
        )
    assert recorded == 1  # in the transaction that wrote it: the reconciler never resends it

    celery = get_celery()
    queued_before = _queued_tasks(celery)
    with transaction(write=False) as session:
        row = session.execute(
            select(
                OutboxEvent.id,
                OutboxEvent.event_id,
                OutboxEvent.event_type,
                OutboxEvent.ticket_id,
                OutboxEvent.payload,
            ).where(OutboxEvent.event_id == announcement["id"])
        ).one()
    publisher = OutboxPublisher(redis=get_redis(), celery=celery, settings=get_settings())
    publisher.queue_for_worker([PendingEvent(*row)])
    assert _queued_tasks(celery) == queued_before


def _queued_tasks(celery: Celery) -> int:
    with celery.connection_for_write() as connection:
        return int(connection.default_channel.client.llen(celery.conf.task_default_queue))
