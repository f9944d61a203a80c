"""The automations scan on real tickets in the real database, as the beat task runs it."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from services.worker.automations import scan_automations
from services.worker.tasks import scan_automations as scan_task
from shared import tasks
from shared.automations import Outcome
from shared.celery_app import create_celery, get_celery
from shared.clock import utcnow
from shared.models import (
    AutomationFailure,
    AutomationFiring,
    OutboxEvent,
    Ticket,
    TicketComment,
    TicketEscalation,
    TicketHistory,
)
from shared.settings import Settings
from tests.api.routing_support import new_category, new_user, set_pool
from tests.helpers import new_ticket
from tests.worker.test_triggers import events_of, settle

OPEN, IN_PROGRESS, WAITING = 1, 2, 3
HIGH, MEDIUM = 2, 3
SARAH, ADMIN = 4, 6


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def made(admin: httpx.Client) -> Iterator[list[int]]:
    """Ids of the automations a test made: deleted afterwards, so no other test's scan runs
    them."""
    ids: list[int] = []
    yield ids
    for automation_id in ids:
        admin.delete(f"/automations/{automation_id}")


def new_automation(
    admin: httpx.Client,
    made: list[int],
    *,
    time: list[dict[str, Any]],
    conditions: list[dict[str, Any]],
    actions: list[dict[str, Any]],
) -> dict[str, Any]:
    body = {
        "name": unique("automation"),
        "conditions": {"time": time, "all": conditions},
        "actions": actions,
    }
    response = admin.post("/automations", json=body)
    assert response.status_code == 201, response.text
    made.append(response.json()["id"])
    return dict(response.json())


def scan(*, limit: int = 500) -> Counter[Outcome]:
    return scan_automations(now=utcnow(), limit=limit, published=lambda: None)


def noted(db: Session, ticket_id: int, body: str) -> int:
    return int(
        db.scalar(
            select(func.count()).where(
                TicketComment.ticket_id == ticket_id,
                TicketComment.body == body,
                TicketComment.is_internal.is_(True),
            )
        )
        or 0
    )


def firings(db: Session, automation_id: int) -> list[tuple[int, str]]:
    rows = db.execute(
        select(AutomationFiring.ticket_id, AutomationFiring.condition_key).where(
            AutomationFiring.automation_id == automation_id
        )
    )
    return [(row[0], row[1]) for row in rows]


def tagged_note_automation(
    admin: httpx.Client, made: list[int], tag: str, note: str, **time: Any
) -> dict[str, Any]:
    return new_automation(
        admin,
        made,
        time=[{"kind": "hours_since", "anchor": "created", "hours": 0, **time}],
        conditions=[{"kind": "tag", "tag": tag}],
        actions=[{"kind": "add_note", "body": note}],
    )


def test_an_automation_acts_once_across_two_scans(
    admin: httpx.Client, agent: httpx.Client, db: Session, made: list[int]
) -> None:
    tag, note = unique("stale"), unique("note")
    automation = tagged_note_automation(admin, made, tag, note)
    tickets = [new_ticket(agent, tags=[tag]) for _ in range(3)]
    untagged = new_ticket(agent)

    first = scan()
    second = scan()

    assert first["acted"] == 3
    assert first["not_matching"] == 0  # other tickets are set aside before any write
    assert second["acted"] == 0
    assert [noted(db, t["id"], note) for t in tickets] == [1, 1, 1]
    assert noted(db, untagged["id"], note) == 0
    assert sorted(ticket for ticket, _key in firings(db, automation["id"])) == sorted(
        t["id"] for t in tickets
    )


def test_the_change_is_recorded_as_the_automations(
    admin: httpx.Client, agent: httpx.Client, db: Session, made: list[int]
) -> None:
    tag = unique("idle")
    automation = new_automation(
        admin,
        made,
        time=[{"kind": "hours_since", "anchor": "updated", "hours": 0}],
        conditions=[{"kind": "tag", "tag": tag}],
        actions=[{"kind": "set_status", "status_id": IN_PROGRESS}],
    )
    ticket = new_ticket(agent, tags=[tag])

    scan()

    rows = db.scalars(
        select(TicketHistory).where(
            TicketHistory.ticket_id == ticket["id"], TicketHistory.field == "status"
        )
    ).all()
    assert [(row.actor_id, row.actor_automation_id) for row in rows] == [(None, automation["id"])]
    payloads = db.scalars(
        select(OutboxEvent.payload).where(
            OutboxEvent.ticket_id == ticket["id"],
            OutboxEvent.event_type == "ticket.status_changed",
        )
    ).all()
    [actor] = [orjson.loads(payload)["data"]["actor"] for payload in payloads]
    assert actor == {"kind": "automation", "id": automation["id"], "name": automation["name"]}
    history = agent.get(f"/tickets/{ticket['id']}/history").json()
    status_row = next(row for row in history if row["field"] == "status")
    assert status_row["actor_kind"] == "automation"
    assert status_row["actor_automation_id"] == automation["id"]
    assert status_row["actor_name"] == automation["name"]


def test_three_concurrent_scans_act_once_on_each_ticket(
    admin: httpx.Client, agent: httpx.Client, db: Session, made: list[int]
) -> None:
    tag, note = unique("race"), unique("note")
    automation = tagged_note_automation(admin, made, tag, note)
    tickets = [new_ticket(agent, tags=[tag]) for _ in range(12)]
    outcomes: list[Counter[Outcome]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def run() -> None:
        try:
            start.wait()
            outcomes.append(scan())
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not errors, errors
    assert sum(outcome["acted"] for outcome in outcomes) == len(tickets)
    assert [noted(db, t["id"], note) for t in tickets] == [1] * len(tickets)
    assert len(firings(db, automation["id"])) == len(tickets)


def test_a_new_occurrence_fires_again(
    admin: httpx.Client, agent: httpx.Client, db: Session, made: list[int]
) -> None:
    tag, note = unique("waiting"), unique("note")
    automation = new_automation(
        admin,
        made,
        time=[{"kind": "hours_since", "anchor": "status_entered", "hours": 0}],
        conditions=[
            {"kind": "tag", "tag": tag},
            {"kind": "field", "field": "status_id", "value": WAITING},
        ],
        actions=[{"kind": "add_note", "body": note}],
    )
    ticket = new_ticket(agent, tags=[tag])
    assert agent.patch(f"/tickets/{ticket['id']}", json={"status_id": WAITING}).status_code == 200

    scan()
    scan()
    assert noted(db, ticket["id"], note) == 1

    agent.patch(f"/tickets/{ticket['id']}", json={"status_id": IN_PROGRESS})
    scan()
    assert noted(db, ticket["id"], note) == 1  # not waiting: the conditions do not hold
    agent.patch(f"/tickets/{ticket['id']}", json={"status_id": WAITING})
    scan()
    scan()

    assert noted(db, ticket["id"], note) == 2
    keys = [key for _ticket, key in firings(db, automation["id"])]
    assert len(set(keys)) == 2
    assert all(key.startswith("status_entered@") for key in keys)


def test_hours_count_with_fractions_on_both_sides(
    admin: httpx.Client, agent: httpx.Client, db: Session, made: list[int]
) -> None:
    tag = unique("aged")
    older_note, younger_note = unique("older"), unique("younger")
    tagged_note_automation(admin, made, tag, older_note, hours=1.25)
    tagged_note_automation(admin, made, tag, younger_note, operator="<=", hours=1.25)
    old, recent = new_ticket(agent, tags=[tag]), new_ticket(agent, tags=[tag])
    db.execute(
        update(Ticket)
        .where(Ticket.id == old["id"])
        .values(created_at=utcnow() - timedelta(hours=1.5))
    )
    db.execute(
        update(Ticket)
        .where(Ticket.id == recent["id"])
        .values(created_at=utcnow() - timedelta(hours=1))
    )
    db.commit()

    scan()

    assert (noted(db, old["id"], older_note), noted(db, old["id"], younger_note)) == (1, 0)
    assert (noted(db, recent["id"], older_note), noted(db, recent["id"], younger_note)) == (0, 1)


def test_hours_until_a_due_time_counts_while_the_target_is_open(
    admin: httpx.Client, agent: httpx.Client, db: Session, made: list[int]
) -> None:
    tag, note = unique("due"), unique("note")
    new_automation(
        admin,
        made,
        time=[{"kind": "hours_until", "anchor": "resolution_due", "operator": "<=", "hours": 2}],
        conditions=[{"kind": "tag", "tag": tag}],
        actions=[{"kind": "add_note", "body": note}],
    )
    soon, later, resolved = (new_ticket(agent, tags=[tag]) for _ in range(3))
    for ticket, hours in ((soon, 1.5), (later, 5), (resolved, 1)):
        db.execute(
            update(Ticket)
            .where(Ticket.id == ticket["id"])
            .values(resolution_due_at=utcnow() + timedelta(hours=hours))
        )
    db.execute(update(Ticket).where(Ticket.id == resolved["id"]).values(resolved_at=utcnow()))
    db.commit()

    scan()

    assert [noted(db, t["id"], note) for t in (soon, later, resolved)] == [1, 0, 0]


def test_a_due_time_that_moves_is_still_one_occurrence(
    admin: httpx.Client, agent: httpx.Client, db: Session, made: list[int]
) -> None:
    """A due time moves while the SLA is paused (each recompute pushes it on): the
    automation acted on the ticket once and does not act again on the moved time."""
    tag, note = unique("moving"), unique("note")
    new_automation(
        admin,
        made,
        time=[{"kind": "hours_until", "anchor": "resolution_due", "operator": "<=", "hours": 2}],
        conditions=[{"kind": "tag", "tag": tag}],
        actions=[{"kind": "add_note", "body": note}],
    )
    ticket = new_ticket(agent, tags=[tag])
    for minutes in (90, 91, 95):  # due in 1.5 h, then pushed on by a pause, twice
        db.execute(
            update(Ticket)
            .where(Ticket.id == ticket["id"])
            .values(resolution_due_at=utcnow() + timedelta(minutes=minutes))
        )
        db.commit()
        scan()

    assert noted(db, ticket["id"], note) == 1


def test_a_run_acts_on_at_most_the_limit_and_the_next_run_goes_on(
    admin: httpx.Client, agent: httpx.Client, db: Session, made: list[int]
) -> None:
    tag, note = unique("many"), unique("note")
    automation = tagged_note_automation(admin, made, tag, note)
    tickets = [new_ticket(agent, tags=[tag]) for _ in range(3)]

    assert scan(limit=2)["acted"] == 2
    assert len(firings(db, automation["id"])) == 2
    assert scan(limit=2)["acted"] == 1

    assert [noted(db, t["id"], note) for t in tickets] == [1, 1, 1]


def test_a_failure_is_recorded_once_and_the_other_tickets_are_acted_on(
    admin: httpx.Client, agent: httpx.Client, db: Session, made: list[int]
) -> None:
    tag = unique("esc")
    automation = new_automation(
        admin,
        made,
        time=[{"kind": "hours_since", "anchor": "created", "hours": 0}],
        conditions=[{"kind": "tag", "tag": tag}],
        actions=[{"kind": "escalate", "reason": "nobody took it"}],
    )
    held = new_ticket(agent, tags=[tag], assigned_to=SARAH)
    free = new_ticket(agent, tags=[tag])

    first = scan()
    second = scan()

    assert (first["failed"], first["acted"]) == (1, 1)
    assert second["failed"] == 0
    failures = db.scalars(
        select(AutomationFailure).where(AutomationFailure.automation_id == automation["id"])
    ).all()
    assert [(f.ticket_id, f.field) for f in failures] == [(held["id"], "assigned_to")]
    assert db.scalar(select(Ticket.assignee_id).where(Ticket.id == held["id"])) == SARAH
    assert db.scalar(select(func.count()).where(TicketEscalation.ticket_id == held["id"])) == 0
    assert db.scalar(select(func.count()).where(TicketEscalation.ticket_id == free["id"])) == 1
    listed = admin.get(f"/automations/{automation['id']}/failures").json()
    assert [failure["ticket_id"] for failure in listed] == [held["id"]]


def test_escalate_hands_an_unassigned_ticket_to_a_human_of_the_pool(
    admin: httpx.Client, agent: httpx.Client, db: Session, made: list[int]
) -> None:
    category = new_category(admin)
    bot, human = new_user(admin, is_bot=True), new_user(admin)
    set_pool(admin, category["id"], [bot["id"], human["id"]])
    tag = unique("unassigned")
    automation = new_automation(
        admin,
        made,
        time=[{"kind": "hours_since", "anchor": "created", "hours": 1}],
        conditions=[
            {"kind": "tag", "tag": tag},
            {"kind": "field", "field": "assigned_to", "value": None},
        ],
        actions=[{"kind": "escalate", "reason": "an hour unassigned", "priority_id": HIGH}],
    )
    ticket = new_ticket(agent, tags=[tag], category_id=category["id"], priority_id=MEDIUM)
    db.execute(
        update(Ticket)
        .where(Ticket.id == ticket["id"])
        .values(created_at=utcnow() - timedelta(hours=1, minutes=1))
    )
    db.commit()

    scan()

    row = db.execute(
        select(Ticket.assignee_id, Ticket.priority_id).where(Ticket.id == ticket["id"])
    ).one()
    assert (row.assignee_id, row.priority_id) == (human["id"], HIGH)
    [escalation] = db.scalars(
        select(TicketEscalation).where(TicketEscalation.ticket_id == ticket["id"])
    ).all()
    assert (escalation.from_user_id, escalation.to_user_id) == (None, human["id"])
    assert noted(db, ticket["id"], "Escalated to a human agent: an hour unassigned") == 1
    types = db.scalars(
        select(OutboxEvent.event_type).where(
            OutboxEvent.ticket_id == ticket["id"], OutboxEvent.event_type == "ticket.escalated"
        )
    ).all()
    assert types == ["ticket.escalated"]
    assert db.scalar(
        select(func.count()).where(
            TicketHistory.ticket_id == ticket["id"],
            TicketHistory.field == "escalated",
            TicketHistory.actor_automation_id == automation["id"],
        )
    )


def test_triggers_run_on_an_automations_change_one_deep(
    admin: httpx.Client, agent: httpx.Client, db: Session, made: list[int]
) -> None:
    tag, marker = unique("late"), unique("flagged")
    automation = new_automation(
        admin,
        made,
        time=[{"kind": "hours_since", "anchor": "created", "hours": 0}],
        conditions=[{"kind": "tag", "tag": tag}],
        actions=[{"kind": "add_tags", "tags": [marker]}],
    )
    trigger = admin.post(
        "/triggers",
        json={
            "name": unique("trigger"),
            "event_types": ["ticket.updated"],
            "conditions": {"all": [{"kind": "tag", "tag": marker}]},
            "actions": [{"kind": "set_priority", "priority_id": HIGH}],
        },
    )
    assert trigger.status_code == 201, trigger.text
    try:
        ticket = new_ticket(agent, tags=[tag], priority_id=MEDIUM)
        scan()
        settle(ticket["id"])
    finally:
        admin.delete(f"/triggers/{trigger.json()['id']}")

    assert db.scalar(select(Ticket.priority_id).where(Ticket.id == ticket["id"])) == HIGH
    actors = [
        event["data"]["actor"]
        for event in events_of(db, ticket["id"])
        if event["type"] == "ticket.updated"
    ]
    assert {"kind": "automation", "id": automation["id"], "name": automation["name"]} in actors
    assert any(actor and actor.get("kind") == "trigger" and actor["depth"] == 1 for actor in actors)


def test_beat_runs_the_scan_at_its_interval() -> None:
    schedule = create_celery(Settings(automation_scan_interval_seconds=120)).conf.beat_schedule
    [entry] = [e for e in schedule.values() if e["task"] == tasks.SCAN_AUTOMATIONS]
    assert entry["schedule"] == 120
    assert Settings.model_fields["automation_scan_interval_seconds"].default == 300
    assert get_celery().tasks[tasks.SCAN_AUTOMATIONS].name == scan_task.name
