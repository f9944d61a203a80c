"""The dashboard: the newest tickets and the running ones nearest their resolution due time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import update
from sqlalchemy.orm import Session

from shared.models import Ticket
from tests.helpers import new_ticket

OPEN, IN_PROGRESS, WAITING_ON_CUSTOMER, RESOLVED = 1, 2, 3, 4
# Earlier than any due time the rest of the suite gives a ticket.
LONG_AGO = datetime(2001, 1, 1, tzinfo=UTC)


def _ticket_due(
    agent: httpx.Client, db: Session, *, status_id: int, due_at: datetime
) -> dict[str, Any]:
    ticket = new_ticket(agent)
    if status_id != OPEN:
        moved = agent.patch(f"/tickets/{ticket['id']}", json={"status_id": status_id})
        assert moved.status_code == 200, moved.text
    # The worker sets due times from the SLA; here they are set directly.
    db.execute(update(Ticket).where(Ticket.id == ticket["id"]).values(resolution_due_at=due_at))
    return ticket


def test_due_soon_merges_the_running_statuses_by_due_time_then_id(
    agent: httpx.Client, db: Session
) -> None:
    minutes = [7, 0, 9, 3, 3, 11, 5, 1, 8, 2, 10, 6]  # two share minute 3
    running = [
        (LONG_AGO + timedelta(minutes=m), t["id"])
        for n, m in enumerate(minutes)
        for t in [
            _ticket_due(
                agent,
                db,
                status_id=OPEN if n % 2 else IN_PROGRESS,
                due_at=LONG_AGO + timedelta(minutes=m),
            )
        ]
    ]
    # Due even sooner, but their clock is paused or stopped.
    paused = _ticket_due(agent, db, status_id=WAITING_ON_CUSTOMER, due_at=LONG_AGO)
    resolved = _ticket_due(agent, db, status_id=RESOLVED, due_at=LONG_AGO)

    dashboard = agent.get("/dashboard").json()

    due_soon = [ticket["id"] for ticket in dashboard["due_soon"]]
    assert due_soon == [ticket_id for _due, ticket_id in sorted(running)[:10]]
    assert not {paused["id"], resolved["id"]} & set(due_soon)
    assert dashboard["newest_tickets"][0]["id"] == resolved["id"]
    assert [t["id"] for t in dashboard["newest_tickets"]] == sorted(
        (t["id"] for t in dashboard["newest_tickets"]), reverse=True
    )


def test_customers_get_no_dashboard(customer: httpx.Client) -> None:
    assert customer.get("/dashboard").status_code == 403


def test_dashboard_tickets_read_like_the_ticket_itself(agent: httpx.Client) -> None:
    ticket = new_ticket(agent, tags=["dashboard"], assigned_to=4)
    assert (
        agent.post(f"/tickets/{ticket['id']}/comments", json={"body": "On it"}).status_code == 201
    )

    newest = agent.get("/dashboard").json()["newest_tickets"][0]

    assert newest == agent.get(f"/tickets/{ticket['id']}").json()
