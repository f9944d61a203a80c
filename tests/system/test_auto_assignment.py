"""Automatic assignment with a real Celery worker (two processes): new tickets go to their
category's pool in turn or by load, the system is the recorded actor, `ticket.assigned` is
emitted like a manual assignment, a redelivered event assigns nobody twice, and an escalated
ticket goes to a human."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from shared import tasks
from shared.celery_app import create_celery
from shared.models import OutboxEvent, ProcessedEvent, TicketHistory
from shared.settings import Settings
from tests.support.processes import wait_until
from tests.support.system import System, running_system

ASSIGNED_WITHIN_SECONDS = 15


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """Two worker processes, so picks for one pool really can run at the same time."""
    directory: Path = tmp_path_factory.mktemp("routing")
    with running_system(directory, worker_concurrency=2) as running:
        yield running


def _admin(system: System) -> httpx.Client:
    return system.client("admin")


def _category(system: System) -> int:
    response = _admin(system).post(
        "/categories", json={"name": f"Routing {uuid.uuid4().hex[:8]}", "sla_hours": 8}
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _agent(system: System, *, is_bot: bool = False) -> dict[str, Any]:
    body = {
        "name": f"{'Bot' if is_bot else 'Agent'} {uuid.uuid4().hex[:6]}",
        "email": f"{uuid.uuid4().hex[:12]}@example.com",
        "role": "agent",
        "is_bot": is_bot,
    }
    response = _admin(system).post("/users", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _pool(system: System, category_id: int, members: list[int], strategy: str) -> None:
    response = _admin(system).put(
        f"/categories/{category_id}/assignment",
        json={"strategy": strategy, "member_ids": members},
    )
    assert response.status_code == 200, response.text


def _ticket(system: System, category_id: int, **overrides: Any) -> int:
    body = {"title": "Printer on fire", "description": "Smoke everywhere", "user_id": 1}
    response = system.client("agent").post(
        "/tickets", json={**body, "category_id": category_id, **overrides}
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _assignee(system: System, ticket_id: int) -> int | None:
    assignee = system.client("agent").get(f"/tickets/{ticket_id}").json()["assignee"]
    return None if assignee is None else int(assignee["id"])


def _wait_assigned(system: System, ticket_id: int) -> int:
    wait_until(
        lambda: _assignee(system, ticket_id) is not None,
        timeout=ASSIGNED_WITHIN_SECONDS,
        what=f"ticket {ticket_id} assigned by its pool",
    )
    assignee = _assignee(system, ticket_id)
    assert assignee is not None
    return assignee


def _events(system: System, ticket_id: int, event_type: str) -> list[dict[str, Any]]:
    with system.db() as session:
        rows = session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.ticket_id == ticket_id, OutboxEvent.event_type == event_type)
            .order_by(OutboxEvent.id)
        )
        return [json.loads(row.payload) for row in rows]


def _handled(system: System, event_id: str) -> bool:
    with system.db() as session:
        return session.get(ProcessedEvent, event_id) is not None


def test_round_robin_over_two_agents_takes_turns(system: System) -> None:
    category = _category(system)
    first, second = _agent(system), _agent(system)
    _pool(system, category, [first["id"], second["id"]], "round_robin")

    picked = [_wait_assigned(system, _ticket(system, category)) for _ in range(4)]

    assert picked == [first["id"], second["id"], first["id"], second["id"]]


def test_the_assignment_is_recorded_and_announced_like_a_manual_one(system: System) -> None:
    category = _category(system)
    agent = _agent(system)
    _pool(system, category, [agent["id"]], "round_robin")
    ticket_id = _ticket(system, category)
    _wait_assigned(system, ticket_id)

    with system.db() as session:
        history = session.scalars(
            select(TicketHistory).where(
                TicketHistory.ticket_id == ticket_id, TicketHistory.field == "assignee"
            )
        ).all()
    assert [(row.actor_id, row.old_value, row.new_value) for row in history] == [
        (None, None, agent["name"])
    ]
    wait_until(lambda: _events(system, ticket_id, "ticket.assigned"), timeout=5)
    (event,) = _events(system, ticket_id, "ticket.assigned")
    data = event["data"]
    assert data["actor"] is None
    assert data["changes"] == {
        "assignee": {"from": None, "to": {"id": agent["id"], "name": agent["name"]}}
    }
    assert data["ticket"]["assignee"]["id"] == agent["id"]
    assert data["routing"] == {"category_id": category, "strategy": "round_robin"}
    shown = system.client("agent").get(f"/tickets/{ticket_id}/history").json()
    assert {"field": "assignee", "actor_id": None, "new_value": agent["name"]}.items() <= next(
        row for row in shown if row["field"] == "assignee"
    ).items()


def test_least_open_gives_new_tickets_to_the_least_loaded_agent(system: System) -> None:
    category = _category(system)
    busy, idle = _agent(system), _agent(system)
    for _ in range(2):
        _ticket(system, _category(system), assigned_to=busy["id"])
    _pool(system, category, [busy["id"], idle["id"]], "least_open")

    picked = [_wait_assigned(system, _ticket(system, category)) for _ in range(3)]

    # idle: 0 then 1 open against busy's 2; at 2 each the pool's order breaks the tie.
    assert picked == [idle["id"], idle["id"], busy["id"]]


def test_concurrent_picks_share_the_turns_evenly(system: System) -> None:
    category = _category(system)
    first, second = _agent(system), _agent(system)
    _pool(system, category, [first["id"], second["id"]], "round_robin")

    tickets = [_ticket(system, category) for _ in range(6)]
    picked = Counter(_wait_assigned(system, ticket_id) for ticket_id in tickets)

    assert picked == {first["id"]: 3, second["id"]: 3}


def test_inactive_members_are_skipped(system: System) -> None:
    category = _category(system)
    gone, present = _agent(system), _agent(system)
    _pool(system, category, [gone["id"], present["id"]], "round_robin")
    assert _admin(system).patch(f"/users/{gone['id']}", json={"active": False}).status_code == 200

    picked = [_wait_assigned(system, _ticket(system, category)) for _ in range(2)]

    assert picked == [present["id"], present["id"]]


def test_a_ticket_created_with_an_assignee_keeps_it(system: System) -> None:
    category = _category(system)
    pool_agent, chosen = _agent(system), _agent(system)
    _pool(system, category, [pool_agent["id"]], "round_robin")
    assigned = _ticket(system, category, assigned_to=chosen["id"])
    # A ticket created after it, in the same category, shows the worker got that far.
    _wait_assigned(system, _ticket(system, category))

    assert _assignee(system, assigned) == chosen["id"]
    assert len(_events(system, assigned, "ticket.assigned")) == 1


def test_a_redelivered_created_event_assigns_nobody_again(system: System) -> None:
    category = _category(system)
    agent = _agent(system)
    _pool(system, category, [agent["id"]], "round_robin")
    ticket_id = _ticket(system, category)
    _wait_assigned(system, ticket_id)
    (created,) = _events(system, ticket_id, "ticket.created")
    unassign = system.client("agent").patch(f"/tickets/{ticket_id}", json={"assigned_to": None})
    assert unassign.status_code == 200

    celery = create_celery(Settings(redis_url=system.env["REDIS_URL"]))
    celery.send_task(tasks.HANDLE_EVENT, args=[created["id"], "ticket.created", ticket_id])
    wait_until(
        lambda: any(
            created["id"] in line and "already handled" in line
            for line in system.worker.log().splitlines()
        ),
        timeout=ASSIGNED_WITHIN_SECONDS,
        what="the worker to drop the redelivered event",
    )

    assert _assignee(system, ticket_id) is None


def test_a_bot_ticket_escalated_goes_to_a_human_and_stays_there(system: System) -> None:
    category = _category(system)
    bot, human = _agent(system, is_bot=True), _agent(system)
    _pool(system, category, [bot["id"], human["id"]], "round_robin")
    ticket_id = _ticket(system, category)
    assert _wait_assigned(system, ticket_id) == bot["id"]

    response = system.client("agent").post(
        f"/tickets/{ticket_id}/escalate", json={"reason": "Wants to talk to a person"}
    )

    assert response.status_code == 200, response.text
    assert response.json()["escalated_to"]["id"] == human["id"]
    # The worker handles ticket.escalated without moving a ticket a human already holds.
    (event,) = _events(system, ticket_id, "ticket.escalated")
    wait_until(
        lambda: _handled(system, event["id"]),
        timeout=ASSIGNED_WITHIN_SECONDS,
        what="the worker to handle ticket.escalated",
    )
    assert _assignee(system, ticket_id) == human["id"]
    assigned = _events(system, ticket_id, "ticket.assigned")
    assert [e["data"]["changes"]["assignee"]["to"]["id"] for e in assigned] == [
        bot["id"],
        human["id"],
    ]
