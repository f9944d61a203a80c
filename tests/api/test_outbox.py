"""The outbox is written in the transaction of the change: both commit, or neither does."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import orjson
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from shared.models import OutboxEvent, Ticket, TicketHistory
from shared.unit_of_work import transaction
from tests.helpers import new_ticket, problem_of
from tests.support.databases import on_postgres
from tests.support.processes import wait_until

FAILURE_MARKER = "outbox-write-fails"
SQLITE_TRIGGER = [
    "CREATE TRIGGER fail_marked_outbox_insert BEFORE INSERT ON outbox "
    f"WHEN NEW.payload LIKE '%{FAILURE_MARKER}%' "
    "BEGIN SELECT RAISE(ABORT, 'injected outbox failure'); END"
]
POSTGRES_TRIGGER = [
    "CREATE OR REPLACE FUNCTION fail_marked_outbox_insert() RETURNS trigger AS $$ BEGIN "
    f"IF NEW.payload LIKE '%{FAILURE_MARKER}%' THEN RAISE EXCEPTION 'injected outbox failure'; "
    "END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER fail_marked_outbox_insert BEFORE INSERT ON outbox "
    "FOR EACH ROW EXECUTE FUNCTION fail_marked_outbox_insert()",
]


@pytest.fixture
def failing_outbox_insert(seeded_database: str) -> Iterator[str]:
    """A trigger that makes the outbox INSERT fail for events mentioning FAILURE_MARKER."""
    with transaction() as session:
        for statement in POSTGRES_TRIGGER if on_postgres() else SQLITE_TRIGGER:
            session.execute(text(statement))
    yield FAILURE_MARKER
    with transaction() as session:
        session.execute(
            text("DROP TRIGGER fail_marked_outbox_insert" + (" ON outbox" if on_postgres() else ""))
        )


def _events_of(db: Session, ticket_id: int) -> list[OutboxEvent]:
    query = select(OutboxEvent).where(OutboxEvent.ticket_id == ticket_id).order_by(OutboxEvent.id)
    return list(db.scalars(query))


def test_created_ticket_has_its_event_committed_with_it(agent: httpx.Client, db: Session) -> None:
    ticket = new_ticket(agent, user_id=2, tags="vpn,remote")
    [event] = _events_of(db, ticket["id"])
    envelope = orjson.loads(event.payload)
    assert envelope["id"] == event.event_id
    assert envelope["id"].startswith("evt_")
    assert envelope["type"] == "ticket.created"
    assert envelope["timestamp"].endswith("Z")
    assert envelope["data"]["ticket"]["id"] == ticket["id"]
    assert envelope["data"]["ticket"]["tags"] == ["remote", "vpn"]
    assert envelope["data"]["actor"]["id"] == 4


def test_committed_events_are_published_right_after_the_commit(
    agent: httpx.Client, db: Session
) -> None:
    ticket = new_ticket(agent)

    def published() -> bool:
        db.expire_all()
        return all(event.published_at is not None for event in _events_of(db, ticket["id"]))

    wait_until(published, timeout=5, what="the API's publisher")


def test_create_whose_event_cannot_be_written_leaves_no_ticket(
    agent: httpx.Client, db: Session, failing_outbox_insert: str
) -> None:
    title = f"{failing_outbox_insert} {uuid.uuid4().hex}"
    tickets_before = db.scalar(select(func.count()).select_from(Ticket))
    history_before = db.scalar(select(func.count()).select_from(TicketHistory))

    response = agent.post("/tickets", json={"title": title, "description": "x", "category_id": 1})

    assert response.status_code == 500
    problem_of(response)
    db.expire_all()
    assert db.scalar(select(func.count()).where(Ticket.title == title)) == 0
    assert db.scalar(select(func.count()).select_from(Ticket)) == tickets_before
    assert db.scalar(select(func.count()).select_from(TicketHistory)) == history_before


def test_update_whose_event_cannot_be_written_changes_nothing(
    agent: httpx.Client, db: Session, failing_outbox_insert: str
) -> None:
    ticket = new_ticket(agent)

    response = agent.patch(
        f"/tickets/{ticket['id']}", json={"title": f"{failing_outbox_insert} now", "status_id": 2}
    )

    assert response.status_code == 500
    after = agent.get(f"/tickets/{ticket['id']}").json()
    assert (after["title"], after["status"]["id"], after["version"]) == (
        ticket["title"],
        1,
        ticket["version"],
    )
    history = agent.get(f"/tickets/{ticket['id']}/history").json()
    assert [row["field"] for row in history] == ["created"]
    db.expire_all()
    assert [e.event_type for e in _events_of(db, ticket["id"])] == ["ticket.created"]
