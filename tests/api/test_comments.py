"""Comments: public replies and internal notes, first response, audit trail, events, idempotency."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.models import OutboxEvent, TicketComment, TicketHistory
from tests.helpers import new_ticket, problem_of


def comment(client: httpx.Client, ticket: dict[str, Any], **body: Any) -> dict[str, Any]:
    body.setdefault("body", f"Reply {uuid.uuid4().hex[:8]}")
    response = client.post(f"/tickets/{ticket['id']}/comments", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def comment_rows(db: Session, ticket_id: int) -> int:
    db.rollback()  # end the read transaction: WAL would otherwise keep showing its snapshot
    query = select(func.count()).select_from(TicketComment)
    return db.scalar(query.where(TicketComment.ticket_id == ticket_id)) or 0


def outbox(db: Session, ticket_id: int) -> list[dict[str, Any]]:
    db.rollback()
    rows = db.scalars(
        select(OutboxEvent).where(OutboxEvent.ticket_id == ticket_id).order_by(OutboxEvent.id)
    )
    return [json.loads(row.payload) for row in rows]


def history_rows(db: Session, ticket_id: int, field: str) -> list[TicketHistory]:
    db.rollback()
    query = select(TicketHistory).where(
        TicketHistory.ticket_id == ticket_id, TicketHistory.field == field
    )
    return list(db.scalars(query.order_by(TicketHistory.id)))


@pytest.fixture
def ticket(customer: httpx.Client) -> dict[str, Any]:
    """A fresh ticket of John's (customer, user 1), without comments."""
    return new_ticket(customer)


# --- create and list --------------------------------------------------------------------------


def test_agent_posts_a_public_comment(agent: httpx.Client, ticket: dict[str, Any]) -> None:
    response = agent.post(f"/tickets/{ticket['number']}/comments", json={"body": "  On it.  "})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["ticket_id"] == ticket["id"]
    assert created["author"] == {
        "id": 4,
        "name": "Sarah Johnson",
        "email": "sarah.johnson@example.com",
        "role": "agent",
    }
    assert (created["body"], created["internal"]) == ("On it.", False)


def test_customer_comments_on_own_ticket(customer: httpx.Client, ticket: dict[str, Any]) -> None:
    created = comment(customer, ticket, body="Any news?")
    assert (created["author"]["id"], created["internal"]) == (1, False)


@pytest.mark.parametrize("flag", ["internal", "is_internal"])
def test_internal_note_accepted_under_either_name(
    agent: httpx.Client, customer: httpx.Client, ticket: dict[str, Any], flag: str
) -> None:
    note = comment(agent, ticket, **{flag: True})
    assert note["internal"] is True
    assert note["id"] in [c["id"] for c in agent.get(f"/tickets/{ticket['id']}/comments").json()]
    seen = customer.get(f"/tickets/{ticket['id']}/comments").json()
    assert note["id"] not in [c["id"] for c in seen]


def test_customer_cannot_write_an_internal_note(
    customer: httpx.Client, db: Session, ticket: dict[str, Any]
) -> None:
    response = customer.post(
        f"/tickets/{ticket['id']}/comments", json={"body": "psst", "internal": True}
    )
    assert response.status_code == 403
    problem_of(response)
    assert comment_rows(db, ticket["id"]) == 0
    assert [e["type"] for e in outbox(db, ticket["id"])] == ["ticket.created"]


@pytest.mark.parametrize(
    "body",
    [{}, {"body": ""}, {"body": "   "}, {"body": "x" * 20_001}, {"body": "x", "colour": "red"}],
    ids=["missing", "empty", "blank", "too-long", "unknown-field"],
)
def test_invalid_comment_is_422_and_adds_nothing(
    agent: httpx.Client, db: Session, ticket: dict[str, Any], body: dict[str, Any]
) -> None:
    response = agent.post(f"/tickets/{ticket['id']}/comments", json=body)
    assert response.status_code == 422
    problem_of(response)
    assert comment_rows(db, ticket["id"]) == 0


def test_comment_on_unknown_ticket_is_404(agent: httpx.Client) -> None:
    response = agent.post("/tickets/TKT-999999/comments", json={"body": "hello?"})
    assert response.status_code == 404
    problem_of(response)


def test_comments_are_listed_oldest_first(
    agent: httpx.Client, customer: httpx.Client, ticket: dict[str, Any]
) -> None:
    posted = [
        comment(customer, ticket, body="first"),
        comment(agent, ticket, body="second"),
        comment(agent, ticket, body="third", internal=True),
        comment(customer, ticket, body="fourth"),
    ]
    listed = agent.get(f"/tickets/{ticket['id']}/comments").json()
    assert listed == posted
    stamps = [datetime.fromisoformat(c["created_at"]) for c in listed]
    assert stamps == sorted(stamps)


def test_customer_sees_public_comments_only_and_counts_them(
    agent: httpx.Client, customer: httpx.Client, ticket: dict[str, Any]
) -> None:
    public = comment(agent, ticket, body="visible")
    comment(agent, ticket, body="hidden", internal=True)
    assert customer.get(f"/tickets/{ticket['id']}/comments").json() == [public]
    assert customer.get(f"/tickets/{ticket['id']}").json()["comment_count"] == 1
    assert agent.get(f"/tickets/{ticket['id']}").json()["comment_count"] == 2


# --- first response ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["agent", "admin"])
def test_first_public_staff_comment_sets_first_response_at(
    clients: dict[str, httpx.Client], db: Session, ticket: dict[str, Any], role: str
) -> None:
    assert ticket["first_response_at"] is None
    reply = comment(clients[role], ticket)
    after = clients[role].get(f"/tickets/{ticket['id']}").json()
    assert datetime.fromisoformat(after["first_response_at"]) == datetime.fromisoformat(
        reply["created_at"]
    )
    [row] = history_rows(db, ticket["id"], "first_response_at")
    assert row.actor_id == reply["author"]["id"]


def test_later_staff_reply_does_not_move_first_response_at(
    agent: httpx.Client, other_agent: httpx.Client, db: Session, ticket: dict[str, Any]
) -> None:
    comment(agent, ticket)
    first = agent.get(f"/tickets/{ticket['id']}").json()["first_response_at"]
    comment(other_agent, ticket)
    assert agent.get(f"/tickets/{ticket['id']}").json()["first_response_at"] == first
    assert len(history_rows(db, ticket["id"], "first_response_at")) == 1


@pytest.mark.parametrize(
    ("role", "internal"), [("agent", True), ("admin", True), ("customer", False)]
)
def test_internal_note_or_customer_comment_is_not_a_first_response(
    clients: dict[str, httpx.Client],
    db: Session,
    ticket: dict[str, Any],
    role: str,
    internal: bool,
) -> None:
    comment(clients[role], ticket, internal=internal)
    assert clients["agent"].get(f"/tickets/{ticket['id']}").json()["first_response_at"] is None
    assert history_rows(db, ticket["id"], "first_response_at") == []


def test_first_public_reply_after_an_internal_note_is_the_first_response(
    agent: httpx.Client, ticket: dict[str, Any]
) -> None:
    comment(agent, ticket, internal=True)
    reply = comment(agent, ticket)
    after = agent.get(f"/tickets/{ticket['id']}").json()
    assert datetime.fromisoformat(after["first_response_at"]) == datetime.fromisoformat(
        reply["created_at"]
    )


# --- history and events -----------------------------------------------------------------------


@pytest.mark.parametrize("internal", [False, True])
def test_each_comment_writes_a_comment_history_row(
    agent: httpx.Client, db: Session, ticket: dict[str, Any], internal: bool
) -> None:
    note = comment(agent, ticket, internal=internal)
    [row] = history_rows(db, ticket["id"], "comment")
    assert (row.actor_id, row.new_value, row.is_internal) == (4, str(note["id"]), internal)


def test_customer_history_hides_rows_of_internal_notes(
    agent: httpx.Client, customer: httpx.Client, ticket: dict[str, Any]
) -> None:
    public = comment(agent, ticket)
    comment(agent, ticket, internal=True)
    staff_view = agent.get(f"/tickets/{ticket['id']}/history").json()
    customer_view = customer.get(f"/tickets/{ticket['id']}/history").json()
    assert [r["field"] for r in staff_view].count("comment") == 2
    assert [r["new_value"] for r in customer_view if r["field"] == "comment"] == [str(public["id"])]


@pytest.mark.parametrize("internal", [False, True])
def test_comment_emits_ticket_commented_with_the_comment(
    agent: httpx.Client, db: Session, ticket: dict[str, Any], internal: bool
) -> None:
    note = comment(agent, ticket, internal=internal)
    envelope = outbox(db, ticket["id"])[-1]
    assert envelope["type"] == "ticket.commented"
    assert envelope["id"].startswith("evt_")
    assert envelope["timestamp"].endswith("Z")
    # A new comment has no files yet (they are uploaded to it afterwards, each upload its own
    # ticket.updated event): the event's comment is the answer without that empty list.
    assert note.pop("attachments") == []
    assert envelope["data"]["comment"] == note
    assert envelope["data"]["actor"]["id"] == 4
    assert envelope["data"]["ticket"]["id"] == ticket["id"]
    assert envelope["data"]["ticket"]["comment_count"] == 1


def test_first_response_shows_in_the_commented_event_ticket(
    agent: httpx.Client, db: Session, ticket: dict[str, Any]
) -> None:
    comment(agent, ticket)
    envelope = outbox(db, ticket["id"])[-1]
    assert envelope["data"]["ticket"]["first_response_at"] is not None


# --- Idempotency-Key ----------------------------------------------------------------------------


def test_comment_retry_with_same_idempotency_key_replays_the_first_response(
    agent: httpx.Client, db: Session, ticket: dict[str, Any]
) -> None:
    key = {"Idempotency-Key": f"c-{uuid.uuid4().hex}"}
    url = f"/tickets/{ticket['id']}/comments"

    first = agent.post(url, json={"body": "Only once"}, headers=key)
    retry = agent.post(url, json={"body": "Only once"}, headers=key)

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert comment_rows(db, ticket["id"]) == 1
    assert [e["type"] for e in outbox(db, ticket["id"])].count("ticket.commented") == 1


def test_comment_with_reused_key_and_another_body_is_422_and_adds_nothing(
    agent: httpx.Client, db: Session, ticket: dict[str, Any]
) -> None:
    key = {"Idempotency-Key": f"c-{uuid.uuid4().hex}"}
    url = f"/tickets/{ticket['id']}/comments"
    assert agent.post(url, json={"body": "Original"}, headers=key).status_code == 201

    response = agent.post(url, json={"body": "Different"}, headers=key)

    assert response.status_code == 422
    problem_of(response)
    assert comment_rows(db, ticket["id"]) == 1


def test_comment_idempotency_keys_are_per_user(
    agent: httpx.Client, other_agent: httpx.Client, db: Session, ticket: dict[str, Any]
) -> None:
    key = {"Idempotency-Key": f"c-{uuid.uuid4().hex}"}
    url = f"/tickets/{ticket['id']}/comments"
    sarahs = agent.post(url, json={"body": "Same words"}, headers=key)
    mikes = other_agent.post(url, json={"body": "Same words"}, headers=key)
    assert (sarahs.status_code, mikes.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in mikes.headers
    assert (sarahs.json()["author"]["id"], mikes.json()["author"]["id"]) == (4, 5)
    assert comment_rows(db, ticket["id"]) == 2
