"""The worker's handling of a merge's events: the target's search entry takes the copied
comments, the source's its closed status."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from services.worker.events import handle_ticket_events
from shared.clock import utcnow
from shared.models import OutboxEvent
from shared.unit_of_work import transaction
from tests.helpers import new_ticket


def _handle_events_of(*ticket_ids: int) -> set[str]:
    with transaction(write=False) as session:
        events = [
            (row.event_id, row.event_type, row.ticket_id)
            for row in session.execute(
                select(OutboxEvent.event_id, OutboxEvent.event_type, OutboxEvent.ticket_id)
                .where(OutboxEvent.ticket_id.in_(ticket_ids))
                .order_by(OutboxEvent.id)
            )
        ]
    with transaction() as session:
        handle_ticket_events(session, events=events, now=utcnow())
    return {event_type for _id, event_type, _ticket in events}


def _hits(agent: httpx.Client, query: str) -> list[int]:
    found = agent.get("/search", params={"query": query}).json()["items"]
    return sorted(hit["ticket"]["id"] for hit in found)


def test_the_merge_reindexes_the_target_with_the_copied_comments(agent: httpx.Client) -> None:
    source = new_ticket(agent, title="Flickering screen")
    target = new_ticket(agent, title="Display problem")
    agent.post(f"/tickets/{source['id']}/comments", json={"body": "saffronquokka cable"})
    _handle_events_of(source["id"], target["id"])
    assert _hits(agent, "saffronquokka") == [source["id"]]

    agent.post(f"/tickets/{source['id']}/merge", json={"into": target["id"]}).raise_for_status()
    types = _handle_events_of(source["id"], target["id"])

    assert {"ticket.merged", "ticket.updated"} <= types
    assert _hits(agent, "saffronquokka") == sorted([source["id"], target["id"]])
    closed = agent.get("/search", params={"query": "saffronquokka", "status_id": 5}).json()
    assert [hit["ticket"]["id"] for hit in closed["items"]] == [source["id"]]
