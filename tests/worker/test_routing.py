"""The worker's automatic assignment, called in-process on the test database: which events
assign, whom the pool picks, and which tickets are left alone."""

from __future__ import annotations

import httpx
import pytest

from services.worker.routing import route_ticket_event
from shared.clock import utcnow
from shared.models import AssignmentPool
from shared.routing import auto_assign, pick_assignee
from shared.unit_of_work import transaction
from tests.api.routing_support import new_category, new_user, set_pool
from tests.helpers import new_ticket


def _route(event_type: str, ticket_id: int) -> int | None:
    with transaction() as session:
        user = route_ticket_event(session, event_type=event_type, ticket_id=ticket_id, now=utcnow())
        return user.id if user else None


def _assignee(agent: httpx.Client, ticket_id: int) -> int | None:
    assignee = agent.get(f"/tickets/{ticket_id}").json()["assignee"]
    return None if assignee is None else int(assignee["id"])


@pytest.mark.parametrize("event_type", ["ticket.updated", "ticket.assigned", "ticket.commented"])
def test_only_created_and_escalated_events_assign(
    admin: httpx.Client, agent: httpx.Client, event_type: str
) -> None:
    category = new_category(admin)
    set_pool(admin, category["id"], [new_user(admin)["id"]])
    ticket = new_ticket(agent, category_id=category["id"])

    assert _route(event_type, ticket["id"]) is None
    assert _assignee(agent, ticket["id"]) is None


def test_a_created_ticket_goes_to_the_pool_and_bumps_its_version(
    admin: httpx.Client, agent: httpx.Client
) -> None:
    category = new_category(admin)
    member = new_user(admin)
    set_pool(admin, category["id"], [member["id"]])
    ticket = new_ticket(agent, category_id=category["id"])

    assert _route("ticket.created", ticket["id"]) == member["id"]

    shown = agent.get(f"/tickets/{ticket['id']}").json()
    assert shown["assignee"]["id"] == member["id"]
    assert shown["version"] == ticket["version"] + 1, "clients must see the change in the ETag"


def test_an_escalated_event_picks_humans_only(admin: httpx.Client, agent: httpx.Client) -> None:
    category = new_category(admin)
    bot, human = new_user(admin, is_bot=True), new_user(admin)
    set_pool(admin, category["id"], [bot["id"], human["id"]])
    ticket = new_ticket(agent, category_id=category["id"])

    assert _route("ticket.escalated", ticket["id"]) == human["id"]


def test_tickets_already_assigned_or_closed_are_left_alone(
    admin: httpx.Client, agent: httpx.Client
) -> None:
    category = new_category(admin)
    member, other = new_user(admin), new_user(admin)
    set_pool(admin, category["id"], [member["id"]])
    assigned = new_ticket(agent, category_id=category["id"], assigned_to=other["id"])
    closed = new_ticket(agent, category_id=category["id"])
    agent.patch(f"/tickets/{closed['id']}", json={"status_id": 5})

    assert _route("ticket.created", assigned["id"]) is None
    assert _route("ticket.created", closed["id"]) is None
    assert _assignee(agent, assigned["id"]) == other["id"]
    assert _assignee(agent, closed["id"]) is None


def test_a_category_without_pool_or_members_assigns_nobody(
    admin: httpx.Client, agent: httpx.Client
) -> None:
    without_pool = new_ticket(agent, category_id=new_category(admin)["id"])
    empty = new_category(admin)
    set_pool(admin, empty["id"], [])
    in_empty_pool = new_ticket(agent, category_id=empty["id"])

    assert _route("ticket.created", without_pool["id"]) is None
    assert _route("ticket.created", in_empty_pool["id"]) is None


def test_round_robin_wraps_and_restarts_when_the_last_pick_leaves_the_pool(
    admin: httpx.Client,
) -> None:
    category = new_category(admin)
    a, b, c = (new_user(admin)["id"] for _ in range(3))
    set_pool(admin, category["id"], [a, b, c])

    def pick() -> int | None:
        with transaction() as session:
            chosen = pick_assignee(session, category_id=category["id"], humans_only=False)
            return chosen.assignee.id if chosen.assignee else None

    assert [pick() for _ in range(4)] == [a, b, c, a]
    set_pool(admin, category["id"], [c, b])  # a, the last pick, is gone: start from the top
    assert [pick() for _ in range(3)] == [c, b, c]


def test_the_cursor_is_stored_with_the_pick(admin: httpx.Client, agent: httpx.Client) -> None:
    category = new_category(admin)
    member = new_user(admin)
    set_pool(admin, category["id"], [member["id"]])
    ticket = new_ticket(agent, category_id=category["id"])

    with transaction() as session:
        auto_assign(session, ticket_id=ticket["id"], humans_only=False, now=utcnow())
    with transaction(write=False) as session:
        pool = session.get(AssignmentPool, category["id"])
        assert pool is not None
        assert pool.last_assigned_user_id == member["id"]
