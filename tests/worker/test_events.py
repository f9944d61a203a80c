"""The worker's event handling, called as the task calls it, on the test database."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from services.worker.events import handle_ticket_events
from shared.clock import utcnow
from shared.events import new_event_id
from shared.models import ProcessedEvent, Ticket
from shared.unit_of_work import transaction
from tests.helpers import new_ticket


def test_an_event_delivered_twice_is_handled_once(agent: httpx.Client) -> None:
    ticket = new_ticket(agent, title="Duplicate delivery", description="octarine widget")
    event_id = new_event_id()

    with transaction() as session:
        first = handle_ticket_events(session, events=[(event_id, ticket["id"])], now=utcnow())
    with transaction() as session:
        second = handle_ticket_events(session, events=[(event_id, ticket["id"])], now=utcnow())

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
        handle_ticket_events(session, events=[(new_event_id(), ticket["id"])], now=utcnow())
    assert agent.get(f"/tickets/{ticket['id']}").json()["version"] == ticket["version"]


def test_a_batch_handles_each_ticket_once_and_records_every_event(agent: httpx.Client) -> None:
    first = new_ticket(agent, title="Batch one", description="vermilion gasket")
    second = new_ticket(agent, title="Batch two", description="vermilion gasket")
    batch = [(new_event_id(), first["id"]), (new_event_id(), second["id"])]
    batch.append((new_event_id(), first["id"]))  # a later event of the same ticket
    already = batch[1][0]
    with transaction() as session:
        handle_ticket_events(session, events=[batch[1]], now=utcnow())

    with transaction() as session:
        handled = handle_ticket_events(session, events=batch, now=utcnow())

    assert handled == {batch[0][0], batch[2][0]}  # not the one handled before
    ids = [event_id for event_id, _ticket in batch]
    with transaction(write=False) as session:
        assert session.scalar(select(func.count()).where(ProcessedEvent.event_id.in_(ids))) == 3
        due = session.scalars(
            select(Ticket.resolution_due_at).where(Ticket.id.in_([first["id"], second["id"]]))
        ).all()
    assert None not in due
    assert already not in handled
