"""POST /tickets/{id}/escalate hands a ticket from a bot to a human agent of its category's pool.

Every test builds its own category, bot and humans, so pools and cursors never leak.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from shared.clock import utcnow
from shared.models import (
    OutboxEvent,
    StatsSnapshot,
    TicketComment,
    TicketEscalation,
    TicketHistory,
)
from shared.routing_stats import bot_figures
from shared.stats import refresh_snapshot
from shared.unit_of_work import transaction
from tests.api.routing_support import new_category, new_user, set_pool
from tests.helpers import new_ticket, problem_of

HIGH, MEDIUM, LOW = 2, 3, 4


@dataclass
class Desk:
    category: dict[str, Any]
    bot: dict[str, Any]
    humans: list[dict[str, Any]]


@pytest.fixture
def desk(admin: httpx.Client) -> Desk:
    """A category whose pool is a bot and two humans, round robin."""
    category = new_category(admin)
    bot = new_user(admin, is_bot=True)
    humans = [new_user(admin), new_user(admin)]
    set_pool(admin, category["id"], [bot["id"], *(h["id"] for h in humans)])
    return Desk(category=category, bot=bot, humans=humans)


def _bot_ticket(agent: httpx.Client, desk: Desk, **overrides: Any) -> dict[str, Any]:
    return new_ticket(
        agent,
        category_id=desk.category["id"],
        assigned_to=desk.bot["id"],
        user_id=1,
        priority_id=MEDIUM,
        **overrides,
    )


def _escalate(
    client: httpx.Client,
    ticket_id: int,
    reason: str = "The customer asks for a refund",
    **extra: Any,
) -> httpx.Response:
    return client.post(f"/tickets/{ticket_id}/escalate", json={"reason": reason, **extra})


def _outbox(db: Session, ticket_id: int) -> list[dict[str, Any]]:
    db.rollback()
    rows = db.scalars(
        select(OutboxEvent).where(OutboxEvent.ticket_id == ticket_id).order_by(OutboxEvent.id)
    )
    return [json.loads(row.payload) for row in rows]


def _history(db: Session, ticket_id: int) -> list[tuple[str, str | None, str | None]]:
    db.rollback()
    rows = db.scalars(
        select(TicketHistory).where(TicketHistory.ticket_id == ticket_id).order_by(TicketHistory.id)
    )
    return [(row.field, row.old_value, row.new_value) for row in rows]


def _escalations(db: Session, ticket_id: int) -> int:
    db.rollback()
    return int(db.scalar(select(func.count()).where(TicketEscalation.ticket_id == ticket_id)) or 0)


def test_escalation_moves_the_ticket_from_the_bot_to_a_human(
    agent: httpx.Client, desk: Desk, db: Session
) -> None:
    ticket = _bot_ticket(agent, desk)

    response = _escalate(agent, ticket["id"], "Needs a refund decision")

    assert response.status_code == 200, response.text
    body = response.json()
    first_human = desk.humans[0]
    assert body["escalated_from"]["id"] == desk.bot["id"]
    assert body["escalated_to"]["id"] == first_human["id"]
    assert body["ticket"]["assignee"]["id"] == first_human["id"]
    assert body["ticket"]["version"] == ticket["version"] + 1
    assert response.headers["ETag"] == f'"{ticket["version"] + 1}"'
    assert first_human["name"] in body["detail"]
    assert body["comment"]["internal"] is True
    assert "Needs a refund decision" in body["comment"]["body"]
    assert agent.get(f"/tickets/{ticket['id']}").json()["assignee"]["id"] == first_human["id"]


def test_escalation_records_history_comment_and_events(
    agent: httpx.Client, desk: Desk, db: Session
) -> None:
    ticket = _bot_ticket(agent, desk)
    _escalate(agent, ticket["id"], "Angry customer")
    human = desk.humans[0]

    history = _history(db, ticket["id"])
    assert ("assignee", desk.bot["name"], human["name"]) in history
    assert ("escalated", desk.bot["name"], human["name"]) in history
    db.rollback()
    comment = db.scalar(select(TicketComment).where(TicketComment.ticket_id == ticket["id"]))
    assert comment is not None
    assert comment.is_internal
    events = _outbox(db, ticket["id"])
    types = [event["type"] for event in events]
    assert types[-3:] == ["ticket.commented", "ticket.assigned", "ticket.escalated"]
    assigned = events[-2]["data"]
    assert assigned["changes"]["assignee"] == {
        "from": {"id": desk.bot["id"], "name": desk.bot["name"]},
        "to": {"id": human["id"], "name": human["name"]},
    }
    escalated = events[-1]["data"]
    assert escalated["escalation"]["reason"] == "Angry customer"
    assert escalated["escalation"]["to"] == {"id": human["id"], "name": human["name"]}
    assert escalated["ticket"]["assignee"]["id"] == human["id"]
    assert escalated["actor"]["email"] == "sarah.johnson@example.com"


def test_customers_never_see_the_escalation_reason(
    agent: httpx.Client, customer: httpx.Client, desk: Desk
) -> None:
    ticket = _bot_ticket(agent, desk)
    _escalate(agent, ticket["id"], "secret-reason-9187")

    comments = customer.get(f"/tickets/{ticket['id']}/comments")
    assert comments.status_code == 200
    assert "secret-reason-9187" not in comments.text


def test_round_robin_takes_turns_among_the_humans_only(agent: httpx.Client, desk: Desk) -> None:
    picked = [
        _escalate(agent, _bot_ticket(agent, desk)["id"]).json()["escalated_to"]["id"]
        for _ in range(3)
    ]
    first, second = (h["id"] for h in desk.humans)
    assert picked == [first, second, first]


def test_least_open_picks_the_human_with_fewest_open_tickets(
    admin: httpx.Client, agent: httpx.Client, desk: Desk
) -> None:
    busy, free = desk.humans
    set_pool(admin, desk.category["id"], [desk.bot["id"], busy["id"], free["id"]], "least_open")
    new_ticket(agent, category_id=desk.category["id"], assigned_to=busy["id"])

    response = _escalate(agent, _bot_ticket(agent, desk)["id"])

    assert response.json()["escalated_to"]["id"] == free["id"]


def test_inactive_humans_are_skipped(admin: httpx.Client, agent: httpx.Client, desk: Desk) -> None:
    gone, present = desk.humans
    admin.patch(f"/users/{gone['id']}", json={"active": False})

    response = _escalate(agent, _bot_ticket(agent, desk)["id"])

    assert response.json()["escalated_to"]["id"] == present["id"]


def test_without_a_human_in_the_pool_the_ticket_is_unassigned_and_says_so(
    admin: httpx.Client, agent: httpx.Client, desk: Desk, db: Session
) -> None:
    set_pool(admin, desk.category["id"], [desk.bot["id"]])
    ticket = _bot_ticket(agent, desk)

    response = _escalate(agent, ticket["id"])

    assert response.status_code == 200
    body = response.json()
    assert body["escalated_to"] is None
    assert body["ticket"]["assignee"] is None
    assert "no human agent is available" in body["detail"]
    field, old, new = _history(db, ticket["id"])[-1]
    assert (field, old) == ("escalated", desk.bot["name"])
    assert new is not None
    assert new.startswith("nobody")
    assert _outbox(db, ticket["id"])[-1]["data"]["escalation"]["to"] is None


def test_a_category_without_a_pool_leaves_the_ticket_unassigned(
    admin: httpx.Client, agent: httpx.Client
) -> None:
    category = new_category(admin)
    bot = new_user(admin, is_bot=True)
    ticket = new_ticket(agent, category_id=category["id"], assigned_to=bot["id"])

    body = _escalate(agent, ticket["id"]).json()

    assert body["escalated_to"] is None
    assert body["ticket"]["assignee"] is None


def test_an_unassigned_ticket_can_be_escalated_to_a_human(agent: httpx.Client, desk: Desk) -> None:
    ticket = new_ticket(agent, category_id=desk.category["id"])

    body = _escalate(agent, ticket["id"]).json()

    assert body["escalated_from"] is None
    assert body["escalated_to"]["id"] == desk.humans[0]["id"]


def test_escalation_raises_the_priority(agent: httpx.Client, desk: Desk, db: Session) -> None:
    ticket = _bot_ticket(agent, desk)

    body = _escalate(agent, ticket["id"], priority_id=HIGH).json()

    assert body["ticket"]["priority"]["id"] == HIGH
    assert ("priority", "Medium", "High") in _history(db, ticket["id"])
    updated = [e for e in _outbox(db, ticket["id"]) if e["type"] == "ticket.updated"]
    assert updated[-1]["data"]["changes"]["priority"]["to"] == {"id": HIGH, "name": "High"}


def test_escalation_never_lowers_the_priority(agent: httpx.Client, desk: Desk, db: Session) -> None:
    ticket = _bot_ticket(agent, desk)

    response = _escalate(agent, ticket["id"], priority_id=LOW)

    assert response.status_code == 422
    assert problem_of(response)["errors"][0]["field"] == "priority_id"
    unchanged = agent.get(f"/tickets/{ticket['id']}").json()
    assert (unchanged["priority"]["id"], unchanged["assignee"]["id"]) == (MEDIUM, desk.bot["id"])
    assert _escalations(db, ticket["id"]) == 0


def test_a_ticket_held_by_a_human_is_409_and_unchanged(
    agent: httpx.Client, desk: Desk, db: Session
) -> None:
    human = desk.humans[1]
    ticket = new_ticket(agent, category_id=desk.category["id"], assigned_to=human["id"])
    before = _outbox(db, ticket["id"])

    response = _escalate(agent, ticket["id"])

    assert response.status_code == 409
    assert "already held by a human" in problem_of(response)["detail"]
    assert agent.get(f"/tickets/{ticket['id']}").json()["assignee"]["id"] == human["id"]
    assert _outbox(db, ticket["id"]) == before
    assert agent.get(f"/tickets/{ticket['id']}/comments").json() == []


def test_a_closed_ticket_is_409(agent: httpx.Client, desk: Desk, db: Session) -> None:
    ticket = _bot_ticket(agent, desk)
    assert agent.patch(f"/tickets/{ticket['id']}", json={"status_id": 5}).status_code == 200

    response = _escalate(agent, ticket["id"])

    assert response.status_code == 409
    assert _escalations(db, ticket["id"]) == 0


def test_customers_get_403_even_on_their_own_ticket(
    agent: httpx.Client, customer: httpx.Client, desk: Desk, db: Session
) -> None:
    ticket = _bot_ticket(agent, desk)

    response = _escalate(customer, ticket["id"])

    assert response.status_code == 403
    assert _escalations(db, ticket["id"]) == 0


def test_anonymous_is_401(anonymous: httpx.Client) -> None:
    assert _escalate(anonymous, 1).status_code == 401


@pytest.mark.parametrize("ref", ["999999", "TKT-999999", "nope"])
def test_unknown_ticket_is_404(agent: httpx.Client, ref: str) -> None:
    response = agent.post(f"/tickets/{ref}/escalate", json={"reason": "help"})
    assert response.status_code == 404


def test_admins_may_escalate(admin: httpx.Client, agent: httpx.Client, desk: Desk) -> None:
    ticket = _bot_ticket(agent, desk)
    assert _escalate(admin, ticket["id"]).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "reason"),
        ({"reason": "   "}, "reason"),
        ({"reason": "x" * 5001}, "reason"),
        ({"reason": 42}, "reason"),
        ({"reason": "ok", "priority_id": 0}, "priority_id"),
        ({"reason": "ok", "priority_id": "high"}, "priority_id"),
        ({"reason": "ok", "assigned_to": 4}, "assigned_to"),
    ],
)
def test_malformed_requests_are_422_and_change_nothing(
    agent: httpx.Client, desk: Desk, db: Session, body: dict[str, Any], field: str
) -> None:
    ticket = _bot_ticket(agent, desk)

    response = agent.post(f"/tickets/{ticket['id']}/escalate", json=body)

    assert response.status_code == 422
    assert field in [error["field"] for error in problem_of(response)["errors"]]
    assert _escalations(db, ticket["id"]) == 0


def test_unknown_priority_is_422(agent: httpx.Client, desk: Desk, db: Session) -> None:
    ticket = _bot_ticket(agent, desk)
    response = _escalate(agent, ticket["id"], priority_id=999)
    assert response.status_code == 422
    assert problem_of(response)["errors"][0]["field"] == "priority_id"
    assert _escalations(db, ticket["id"]) == 0


def test_a_stale_if_match_is_412_and_the_current_one_works(
    agent: httpx.Client, desk: Desk, db: Session
) -> None:
    ticket = _bot_ticket(agent, desk)
    agent.patch(f"/tickets/{ticket['id']}", json={"title": "Changed meanwhile"})

    stale = agent.post(
        f"/tickets/{ticket['id']}/escalate",
        json={"reason": "help"},
        headers={"If-Match": f'"{ticket["version"]}"'},
    )
    assert stale.status_code == 412
    assert _escalations(db, ticket["id"]) == 0

    fresh = agent.post(
        f"/tickets/{ticket['id']}/escalate",
        json={"reason": "help"},
        headers={"If-Match": f'"{ticket["version"] + 1}"'},
    )
    assert fresh.status_code == 200


def test_a_retry_with_the_same_idempotency_key_escalates_once(
    agent: httpx.Client, desk: Desk, db: Session
) -> None:
    ticket = _bot_ticket(agent, desk)
    headers = {"Idempotency-Key": f"escalate-{ticket['id']}"}
    body = {"reason": "Retry me"}

    first = agent.post(f"/tickets/{ticket['id']}/escalate", json=body, headers=headers)
    again = agent.post(f"/tickets/{ticket['id']}/escalate", json=body, headers=headers)

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _escalations(db, ticket["id"]) == 1


def test_webhooks_may_subscribe_to_escalations(admin: httpx.Client) -> None:
    response = admin.post(
        "/webhooks",
        json={"url": "http://93.184.216.34/hooks/escalations", "event_types": ["ticket.escalated"]},
    )
    assert response.status_code == 201, response.text
    assert response.json()["event_types"] == ["ticket.escalated"]


def test_statistics_count_bot_resolutions_and_escalations(agent: httpx.Client, desk: Desk) -> None:
    with transaction(write=False) as session:
        before = bot_figures(session)
    solved = _bot_ticket(agent, desk)
    assert agent.patch(f"/tickets/{solved['id']}", json={"status_id": 4}).status_code == 200
    _escalate(agent, _bot_ticket(agent, desk)["id"])

    with transaction(write=False) as session:
        after = bot_figures(session)

    assert after["tickets_handled"] == before["tickets_handled"] + 2
    assert after["resolved_without_escalation"] == before["resolved_without_escalation"] + 1
    assert after["escalated"] == before["escalated"] + 1
    assert after["escalation_rate"] == round(after["escalated"] / after["tickets_handled"], 4)
    assert after["time_to_escalation"]["count"] == before["time_to_escalation"]["count"] + 1
    assert after["time_to_escalation"]["median_seconds"] >= 0


def test_stats_endpoint_shows_the_bot_figures(agent: httpx.Client, desk: Desk) -> None:
    _escalate(agent, _bot_ticket(agent, desk)["id"])
    with transaction() as session:
        snapshot_id = refresh_snapshot(session, now=utcnow()).id
    try:
        bots = agent.get("/stats").json()["bots"]
    finally:
        # Other tests expect /stats computed on the spot, not this stored snapshot.
        with transaction() as session:
            session.execute(delete(StatsSnapshot).where(StatsSnapshot.id == snapshot_id))

    assert bots["escalated"] >= 1
    assert set(bots["time_to_escalation"]) == {"count", "mean_seconds", "median_seconds"}
