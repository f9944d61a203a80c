"""Triggers run by the worker's event handling, on the real outbox events of real tickets."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from services.notifier.store import DeliveryStore, StreamEvent
from services.worker.events import handle_ticket_events
from shared.clock import utcnow
from shared.event_types import EVENT_DATA, Envelope, EventType
from shared.models import (
    OutboxEvent,
    ProcessedEvent,
    Ticket,
    TicketComment,
    TicketHistory,
    TriggerFailure,
    WebhookEndpoint,
)
from shared.settings import get_settings
from shared.unit_of_work import transaction
from tests.api.routing_support import new_category, new_user, set_pool
from tests.api.test_custom_fields import statements_run
from tests.helpers import new_ticket
from tests.notifier.support import create_endpoint, new_event_type

OPEN, IN_PROGRESS = 1, 2
HIGH, MEDIUM, LOW = 2, 3, 4
SARAH = 4


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def made(admin: httpx.Client) -> Iterator[list[int]]:
    """Ids of the triggers a test made: deleted afterwards, so they fire on no other test's
    tickets."""
    ids: list[int] = []
    yield ids
    for trigger_id in ids:
        admin.delete(f"/triggers/{trigger_id}")


def new_trigger(
    admin: httpx.Client, made: list[int], *, conditions: list[dict[str, Any]], **fields: Any
) -> dict[str, Any]:
    body = {"name": unique("trigger"), "conditions": {"all": conditions}, **fields}
    if "any" in fields:
        body["conditions"] = {"all": conditions, "any": body.pop("any")}
    response = admin.post("/triggers", json=body)
    assert response.status_code == 201, response.text
    made.append(response.json()["id"])
    return dict(response.json())


def unhandled(ticket_id: int) -> list[tuple[str, str, int | None]]:
    handled = select(ProcessedEvent.event_id)
    with transaction(write=False) as session:
        rows = session.execute(
            select(OutboxEvent.event_id, OutboxEvent.event_type, OutboxEvent.ticket_id)
            .where(OutboxEvent.ticket_id == ticket_id, OutboxEvent.event_id.not_in(handled))
            .order_by(OutboxEvent.id)
        ).all()
    return [(row[0], row[1], row[2]) for row in rows]


def handle(events: list[tuple[str, str, int | None]]) -> set[str]:
    """The worker's handling of a batch, in one transaction as its task runs it."""
    with transaction() as session:
        return handle_ticket_events(session, events=events, now=utcnow())


def settle(ticket_id: int, *, rounds: int = 30) -> int:
    """Handle the ticket's events, then the events that handling wrote, until none is left;
    how many rounds it took."""
    for done in range(rounds):
        events = unhandled(ticket_id)
        if not events:
            return done
        handle(events)
    raise AssertionError(f"ticket {ticket_id} still has events after {rounds} rounds")


def events_of(db: Session, ticket_id: int) -> list[dict[str, Any]]:
    payloads = db.scalars(
        select(OutboxEvent.payload)
        .where(OutboxEvent.ticket_id == ticket_id)
        .order_by(OutboxEvent.id)
    )
    return [orjson.loads(payload) for payload in payloads]


def by_trigger(db: Session, ticket_id: int, trigger_id: int) -> list[TicketHistory]:
    query = select(TicketHistory).where(
        TicketHistory.ticket_id == ticket_id, TicketHistory.actor_trigger_id == trigger_id
    )
    return list(db.scalars(query.order_by(TicketHistory.id)))


def test_a_matching_trigger_changes_the_ticket_as_the_trigger(
    admin: httpx.Client, agent: httpx.Client, db: Session, made: list[int]
) -> None:
    tag = unique("vip")
    trigger = new_trigger(
        admin,
        made,
        event_types=["ticket.created"],
        conditions=[{"kind": "tag", "tag": tag}],
        actions=[
            {"kind": "set_priority", "priority_id": HIGH},
            {"kind": "set_status", "status_id": IN_PROGRESS},
            {"kind": "set_assignee", "assignee_id": SARAH},
            {"kind": "add_tags", "tags": ["escalated"]},
            {"kind": "remove_tags", "tags": ["junk"]},
        ],
    )
    ticket = new_ticket(agent, tags=[tag, "junk"], priority_id=LOW)

    handle(unhandled(ticket["id"]))

    now = agent.get(f"/tickets/{ticket['id']}").json()
    assert (now["priority"]["id"], now["status"]["id"]) == (HIGH, IN_PROGRESS)
    assert now["assignee"]["id"] == SARAH
    assert sorted(now["tags"]) == sorted([tag, "escalated"])
    assert now["version"] == ticket["version"] + 1  # one edit for all its field actions
    rows = by_trigger(db, ticket["id"], trigger["id"])
    assert {row.field for row in rows} == {"priority", "status", "assignee", "tags"}
    assert all(row.actor_id is None for row in rows)
    history = agent.get(f"/tickets/{ticket['id']}/history").json()
    mine = [row for row in history if row["actor_trigger_id"] == trigger["id"]]
    assert {(row["actor_kind"], row["actor_name"]) for row in mine} == {
        ("trigger", trigger["name"])
    }
    created = next(row for row in history if row["field"] == "created")
    assert created["actor_kind"] == "user"
    changed = [e for e in events_of(db, ticket["id"]) if e["data"]["actor"]]
    by_it = [e for e in changed if e["data"]["actor"].get("kind") == "trigger"]
    assert {e["type"] for e in by_it} == {
        "ticket.updated",
        "ticket.status_changed",
        "ticket.assigned",
    }
    assert by_it[0]["data"]["actor"] == {
        "kind": "trigger",
        "id": trigger["id"],
        "name": trigger["name"],
        "depth": 1,
    }
    # A person's event keeps its actor as it was (no kind: a user).
    assert "kind" not in changed[0]["data"]["actor"]


def test_notes_and_replies_are_written_with_placeholders_filled_plainly(
    admin: httpx.Client, agent: httpx.Client, customer: httpx.Client, db: Session, made: list[int]
) -> None:
    tag = unique("reply")
    new_trigger(
        admin,
        made,
        event_types=["ticket.created"],
        conditions=[{"kind": "tag", "tag": tag}],
        actions=[
            {"kind": "add_note", "body": "Check the\ncontract"},
            {
                "kind": "reply",
                "template": "Hello {{requester.name}}, about {{ticket.title}} "
                "({{ticket.number}}, {{status}}): {{assignee.name}}",
            },
        ],
    )
    ticket = new_ticket(customer, tags=[tag], title="Lost {{status}} <b>x</b>")

    handle(unhandled(ticket["id"]))

    comments = list(
        db.scalars(
            select(TicketComment)
            .where(TicketComment.ticket_id == ticket["id"])
            .order_by(TicketComment.id)
        )
    )
    assert [(c.is_internal, c.body) for c in comments] == [
        (True, "Check the\ncontract"),
        (
            False,
            f"Hello John Doe, about Lost {{{{status}}}} <b>x</b> ({ticket['number']}, Open): ",
        ),
    ]
    seen = customer.get(f"/tickets/{ticket['id']}/comments").json()
    assert [comment["internal"] for comment in seen] == [False]
    commented = [e for e in events_of(db, ticket["id"]) if e["type"] == "ticket.commented"]
    assert [e["data"]["actor"]["kind"] for e in commented] == ["trigger", "trigger"]


def test_a_trigger_sets_a_custom_field(
    admin: httpx.Client, agent: httpx.Client, made: list[int]
) -> None:
    key = unique("f")
    field = admin.post(
        "/custom-fields", json={"key": key, "label": "Tier", "field_type": "integer"}
    )
    assert field.status_code == 201, field.text
    tag = unique("cf")
    new_trigger(
        admin,
        made,
        conditions=[{"kind": "tag", "tag": tag}],
        actions=[{"kind": "set_custom_field", "key": key, "value": 3}],
    )
    ticket = new_ticket(agent, tags=[tag])

    handle(unhandled(ticket["id"]))

    assert agent.get(f"/tickets/{ticket['id']}").json()["custom_fields"][key] == 3
    admin.patch(f"/custom-fields/{field.json()['id']}", json={"active": False})


def test_a_trigger_assigns_through_the_categorys_pool(
    admin: httpx.Client, agent: httpx.Client, made: list[int]
) -> None:
    category = new_category(admin)
    member = new_user(admin)
    set_pool(admin, category["id"], [member["id"]])
    new_trigger(
        admin,
        made,
        conditions=[{"kind": "field", "field": "category_id", "value": category["id"]}],
        actions=[{"kind": "assign_from_pool"}],
    )
    ticket = new_ticket(agent, category_id=category["id"])

    handle(unhandled(ticket["id"]))

    assert agent.get(f"/tickets/{ticket['id']}").json()["assignee"]["id"] == member["id"]


CONDITIONS_THAT_HOLD = [
    {"kind": "field", "field": "status_id", "value": OPEN},
    {"kind": "field", "field": "priority_id", "operator": "is_not", "value": HIGH},
    {"kind": "field", "field": "assigned_to", "value": None},
    {"kind": "tag", "operator": "lacks", "tag": "never-there"},
    {"kind": "requester_role", "role": "customer"},
    {"kind": "requester_email_domain", "domain": "EXAMPLE.com"},
    {"kind": "text_contains", "text": "KETTLE", "within": "title"},
    {"kind": "text_contains", "text": "descaled"},
    {"kind": "business_hours", "inside": True},  # no calendar: always open
]
CONDITIONS_THAT_DO_NOT = [
    {"kind": "field", "field": "status_id", "value": IN_PROGRESS},
    {"kind": "field", "field": "assigned_to", "operator": "is_not", "value": None},
    {"kind": "requester_role", "role": "agent"},
    {"kind": "requester_email_domain", "domain": "example.org"},
    {"kind": "text_contains", "text": "kettle", "within": "description"},
    {"kind": "changed", "field": "priority_id"},  # a creation changes nothing
    {"kind": "business_hours", "inside": False},
]


def _fires(
    admin: httpx.Client, customer: httpx.Client, made: list[int], condition: dict[str, Any]
) -> bool:
    tag, marker = unique("cond"), unique("fired")
    new_trigger(
        admin,
        made,
        conditions=[{"kind": "tag", "tag": tag}, condition],
        actions=[{"kind": "add_tags", "tags": [marker]}],
    )
    ticket = new_ticket(
        customer, tags=[tag], title="The kettle leaks", description="It was descaled"
    )
    handle(unhandled(ticket["id"]))
    return marker in customer.get(f"/tickets/{ticket['id']}").json()["tags"]


@pytest.mark.parametrize("condition", CONDITIONS_THAT_HOLD, ids=lambda c: c["kind"])
def test_a_condition_that_holds_fires_the_trigger(
    admin: httpx.Client, customer: httpx.Client, made: list[int], condition: dict[str, Any]
) -> None:
    assert _fires(admin, customer, made, condition)


@pytest.mark.parametrize("condition", CONDITIONS_THAT_DO_NOT, ids=lambda c: c["kind"])
def test_a_condition_that_does_not_hold_fires_nothing(
    admin: httpx.Client, customer: httpx.Client, made: list[int], condition: dict[str, Any]
) -> None:
    assert not _fires(admin, customer, made, condition)


@pytest.mark.parametrize(
    ("change", "fires"),
    [
        ({"kind": "changed", "field": "priority_id"}, True),
        ({"kind": "changed", "field": "priority_id", "from": MEDIUM, "to": HIGH}, True),
        ({"kind": "changed", "field": "priority_id", "to": LOW}, False),
        ({"kind": "changed", "field": "priority_id", "from": LOW}, False),
        ({"kind": "changed", "field": "status_id"}, False),
    ],
)
def test_changed_conditions_read_the_events_changes(
    admin: httpx.Client,
    agent: httpx.Client,
    made: list[int],
    change: dict[str, Any],
    fires: bool,
) -> None:
    tag, marker = unique("chg"), unique("fired")
    ticket = new_ticket(agent, tags=[tag], priority_id=MEDIUM)
    settle(ticket["id"])
    new_trigger(
        admin,
        made,
        event_types=["ticket.updated"],
        conditions=[{"kind": "tag", "tag": tag}, change],
        actions=[{"kind": "add_tags", "tags": [marker]}],
    )
    assert agent.patch(f"/tickets/{ticket['id']}", json={"priority_id": HIGH}).status_code == 200

    handle(unhandled(ticket["id"]))

    assert (marker in agent.get(f"/tickets/{ticket['id']}").json()["tags"]) is fires


@pytest.mark.parametrize(
    ("any_of", "fires"),
    [
        (
            [
                {"kind": "requester_role", "role": "agent"},
                {"kind": "field", "field": "status_id", "value": OPEN},
            ],
            True,
        ),
        (
            [
                {"kind": "requester_role", "role": "agent"},
                {"kind": "field", "field": "status_id", "value": IN_PROGRESS},
            ],
            False,
        ),
    ],
)
def test_any_conditions_need_one_to_hold_besides_all_of_all(
    admin: httpx.Client, customer: httpx.Client, made: list[int], any_of: list[Any], fires: bool
) -> None:
    tag, marker = unique("any"), unique("fired")
    new_trigger(
        admin,
        made,
        conditions=[{"kind": "tag", "tag": tag}],
        any=any_of,
        actions=[{"kind": "add_tags", "tags": [marker]}],
    )
    ticket = new_ticket(customer, tags=[tag])

    handle(unhandled(ticket["id"]))

    assert (marker in customer.get(f"/tickets/{ticket['id']}").json()["tags"]) is fires


def test_triggers_run_in_order_and_each_sees_the_changes_before_it(
    admin: httpx.Client, agent: httpx.Client, made: list[int]
) -> None:
    tag, marker = unique("order"), unique("saw-high")
    # Made first but placed second: it sees the priority the first one set.
    new_trigger(
        admin,
        made,
        position=2,
        event_types=["ticket.created"],
        conditions=[
            {"kind": "tag", "tag": tag},
            {"kind": "field", "field": "priority_id", "value": HIGH},
        ],
        actions=[{"kind": "add_tags", "tags": [marker]}],
    )
    new_trigger(
        admin,
        made,
        position=1,
        event_types=["ticket.created"],
        conditions=[{"kind": "tag", "tag": tag}],
        actions=[{"kind": "set_priority", "priority_id": HIGH}],
    )
    ticket = new_ticket(agent, tags=[tag], priority_id=LOW)

    handle(unhandled(ticket["id"])[:1])  # the creation only

    assert marker in agent.get(f"/tickets/{ticket['id']}").json()["tags"]


def test_a_trigger_runs_only_on_its_event_types(
    admin: httpx.Client, agent: httpx.Client, made: list[int]
) -> None:
    tag, marker = unique("types"), unique("fired")
    new_trigger(
        admin,
        made,
        event_types=["ticket.commented"],
        conditions=[{"kind": "tag", "tag": tag}],
        actions=[{"kind": "add_tags", "tags": [marker]}],
    )
    ticket = new_ticket(agent, tags=[tag])
    handle(unhandled(ticket["id"]))
    assert marker not in agent.get(f"/tickets/{ticket['id']}").json()["tags"]

    agent.post(f"/tickets/{ticket['id']}/comments", json={"body": "kettle", "internal": True})
    handle(unhandled(ticket["id"]))

    assert marker in agent.get(f"/tickets/{ticket['id']}").json()["tags"]


def test_a_redelivered_event_fires_nothing_twice(
    admin: httpx.Client, agent: httpx.Client, db: Session, made: list[int]
) -> None:
    tag = unique("once")
    trigger = new_trigger(
        admin,
        made,
        event_types=["ticket.created"],
        conditions=[{"kind": "tag", "tag": tag}],
        actions=[{"kind": "add_note", "body": "noted"}],
    )
    ticket = new_ticket(agent, tags=[tag])
    events = unhandled(ticket["id"])

    first = handle(events)
    second = handle(events)

    assert (len(first), second) == (len(events), set())
    notes = select(func.count()).where(TicketComment.ticket_id == ticket["id"])
    assert db.scalar(notes) == 1
    assert len(by_trigger(db, ticket["id"], trigger["id"])) == 1


def test_a_loop_of_two_triggers_stops_at_the_depth_cap(
    admin: httpx.Client, agent: httpx.Client, db: Session, made: list[int]
) -> None:
    tag = unique("loop")
    up = new_trigger(
        admin,
        made,
        conditions=[
            {"kind": "tag", "tag": tag},
            {"kind": "changed", "field": "priority_id", "to": LOW},
        ],
        actions=[{"kind": "set_priority", "priority_id": HIGH}],
    )
    down = new_trigger(
        admin,
        made,
        conditions=[
            {"kind": "tag", "tag": tag},
            {"kind": "changed", "field": "priority_id", "to": HIGH},
        ],
        actions=[{"kind": "set_priority", "priority_id": LOW}],
    )
    ticket = new_ticket(agent, tags=[tag], priority_id=MEDIUM)
    settle(ticket["id"])
    agent.patch(f"/tickets/{ticket['id']}", json={"priority_id": LOW})

    settle(ticket["id"])

    cap = get_settings().trigger_depth_cap
    changes = by_trigger(db, ticket["id"], up["id"]) + by_trigger(db, ticket["id"], down["id"])
    assert len(changes) == cap
    depths = [
        e["data"]["actor"]["depth"]
        for e in events_of(db, ticket["id"])
        if (e["data"]["actor"] or {}).get("kind") == "trigger"
    ]
    assert depths == list(range(1, cap + 1))
    assert unhandled(ticket["id"]) == []


def test_a_failing_trigger_is_recorded_and_the_event_still_handled(
    admin: httpx.Client, agent: httpx.Client, db: Session, made: list[int]
) -> None:
    tag, marker = unique("fail"), unique("after")
    leaving = new_user(admin)
    failing = new_trigger(
        admin,
        made,
        position=1,
        event_types=["ticket.created"],
        conditions=[{"kind": "tag", "tag": tag}],
        actions=[
            {"kind": "add_tags", "tags": ["half-done"]},
            {"kind": "set_assignee", "assignee_id": leaving["id"]},
        ],
    )
    new_trigger(
        admin,
        made,
        position=2,
        event_types=["ticket.created"],
        conditions=[{"kind": "tag", "tag": tag}],
        actions=[{"kind": "add_tags", "tags": [marker]}],
    )
    assert admin.patch(f"/users/{leaving['id']}", json={"active": False}).status_code == 200
    ticket = new_ticket(agent, tags=[tag])
    events = unhandled(ticket["id"])

    handled = handle(events)

    assert handled == {event_id for event_id, _type, _ticket in events}
    now = agent.get(f"/tickets/{ticket['id']}").json()
    assert marker in now["tags"]
    assert "half-done" not in now["tags"]  # its changes were rolled back with it
    assert now["assignee"] is None
    assert db.scalar(select(Ticket.resolution_due_at).where(Ticket.id == ticket["id"]))
    failures = admin.get(f"/triggers/{failing['id']}/failures").json()
    assert [(f["event_id"], f["ticket_id"], f["field"]) for f in failures] == [
        (events[0][0], ticket["id"], "assigned_to")
    ]
    assert str(leaving["id"]) in failures[0]["error"]
    assert db.scalar(select(func.count()).where(TriggerFailure.trigger_id == failing["id"])) == 1


def test_a_trigger_cannot_reopen_a_merged_ticket_and_its_failure_is_recorded(
    admin: httpx.Client, agent: httpx.Client, made: list[int]
) -> None:
    tag = unique("merged")
    reopening = new_trigger(
        admin,
        made,
        event_types=["ticket.merged"],
        conditions=[{"kind": "tag", "tag": tag}],
        actions=[{"kind": "set_status", "status_id": OPEN}],
    )
    source, target = new_ticket(agent, tags=[tag]), new_ticket(agent)
    merged = agent.post(f"/tickets/{source['id']}/merge", json={"into": target["id"]})
    assert merged.status_code == 200, merged.text

    settle(source["id"])

    assert agent.get(f"/tickets/{source['id']}").json()["status"]["id"] != OPEN
    failures = admin.get(f"/triggers/{reopening['id']}/failures").json()
    assert [(f["ticket_id"], f["field"]) for f in failures] == [(source["id"], "status_id")]
    assert target["number"] in failures[0]["error"]


def test_a_triggers_events_round_trip_through_their_published_models(
    admin: httpx.Client, agent: httpx.Client, anonymous: httpx.Client, db: Session, made: list[int]
) -> None:
    tag = unique("contract")
    new_trigger(
        admin,
        made,
        event_types=["ticket.created"],
        conditions=[{"kind": "tag", "tag": tag}],
        actions=[
            {"kind": "set_status", "status_id": 4},
            {"kind": "set_assignee", "assignee_id": SARAH},
            {"kind": "add_note", "body": "done"},
        ],
    )
    ticket = new_ticket(agent, tags=[tag])
    handle(unhandled(ticket["id"]))

    envelopes = [e for e in events_of(db, ticket["id"]) if e["data"]["actor"]]
    kinds = {e["type"] for e in envelopes if e["data"]["actor"].get("kind") == "trigger"}
    assert kinds == {
        "ticket.status_changed",
        "ticket.resolved",
        "ticket.assigned",
        "ticket.commented",
    }
    for envelope in envelopes:
        model = Envelope[EVENT_DATA[EventType(envelope["type"])]]  # type: ignore[misc]
        parsed = model.model_validate(envelope)
        assert orjson.loads(
            orjson.dumps(parsed.model_dump(mode="json", by_alias=True, exclude_defaults=True))
        ) == {**envelope, "timestamp": parsed.model_dump(mode="json")["timestamp"]}
    schemas = anonymous.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["TriggerActor"]["properties"]["kind"]["const"] == "trigger"
    assert "kind" in schemas["UserActor"]["properties"]


def test_without_active_triggers_handling_runs_no_statement_for_them(
    agent: httpx.Client, admin: httpx.Client
) -> None:
    assert not [t for t in admin.get("/triggers").json() if t["active"]]
    warm = new_ticket(agent)
    handle(unhandled(warm["id"]))  # the cache learns there are none
    ticket = new_ticket(agent)

    with transaction() as session, statements_run(session) as statements:
        handle_ticket_events(session, events=unhandled(ticket["id"]), now=utcnow())

    assert [sql for sql in statements if "triggers" in sql or "outbox.payload" in sql] == []


def test_with_triggers_a_batch_reads_its_payloads_and_tickets_once(
    admin: httpx.Client, agent: httpx.Client, made: list[int]
) -> None:
    for n in range(3):
        new_trigger(
            admin,
            made,
            conditions=[{"kind": "tag", "tag": unique(f"never{n}")}],
            actions=[{"kind": "add_tags", "tags": ["x"]}],
        )
    warm = new_ticket(agent)
    handle(unhandled(warm["id"]))  # the cache reads the triggers
    tickets = [new_ticket(agent) for _ in range(4)]
    for ticket in tickets[:2]:
        agent.patch(f"/tickets/{ticket['id']}", json={"priority_id": HIGH})
    events = [event for ticket in tickets for event in unhandled(ticket["id"])]

    with transaction() as session, statements_run(session) as statements:
        handle_ticket_events(session, events=events, now=utcnow())

    assert [sql for sql in statements if "FROM triggers" in sql] == []
    # The payloads of the two updates (a creation's tells rules nothing).
    assert len([sql for sql in statements if "outbox.payload" in sql]) == 1
    rows = [sql for sql in statements if "tag_names" in sql and "FOR UPDATE" not in sql]
    # The triggers' read of the batch's tickets, beside the announcement of their due times.
    assert len(rows) == 2


def test_a_trigger_sends_the_event_to_its_one_webhook_endpoint(
    admin: httpx.Client, agent: httpx.Client, db: Session, made: list[int]
) -> None:
    chosen = create_endpoint(event_type=new_event_type())  # subscribes to nothing of this
    bystander = create_endpoint(event_type="ticket.forwarded")  # asks for them all: not its
    tag = unique("hook")
    trigger = new_trigger(
        admin,
        made,
        event_types=["ticket.created"],
        conditions=[{"kind": "tag", "tag": tag}],
        actions=[
            {"kind": "set_priority", "priority_id": HIGH},
            {"kind": "send_to_webhook", "endpoint_id": chosen},
        ],
    )
    ticket = new_ticket(agent, tags=[tag], priority_id=LOW)
    created = unhandled(ticket["id"])[0]

    handle([created])

    forwarded = [e for e in events_of(db, ticket["id"]) if e["type"] == "ticket.forwarded"]
    assert len(forwarded) == 1
    data = forwarded[0]["data"]
    assert (data["endpoint_id"], data["event"]["id"], data["event"]["type"]) == (
        chosen,
        created[0],
        "ticket.created",
    )
    assert data["ticket"]["priority"]["id"] == HIGH  # after the trigger's other actions
    assert (data["actor"]["kind"], data["actor"]["id"]) == ("trigger", trigger["id"])
    # The worker's own announcement: recorded handled as written, never queued for it.
    assert db.scalar(select(func.count()).where(ProcessedEvent.event_id == forwarded[0]["id"]))
    row = db.execute(
        select(OutboxEvent.event_id, OutboxEvent.event_type, OutboxEvent.payload).where(
            OutboxEvent.event_id == forwarded[0]["id"]
        )
    ).one()
    stream = StreamEvent("1-0", row[0], row[1], utcnow(), row[2])
    jobs = DeliveryStore(get_settings()).record_new_deliveries([stream])
    assert [job.endpoint_id for job in jobs if job.endpoint_id in (chosen, bystander)] == [chosen]


def test_a_trigger_sending_to_a_disabled_endpoint_fails_and_is_recorded(
    admin: httpx.Client, agent: httpx.Client, db: Session, made: list[int]
) -> None:
    endpoint_id = create_endpoint(event_type=new_event_type())
    tag = unique("hook")
    trigger = new_trigger(
        admin,
        made,
        event_types=["ticket.created"],
        conditions=[{"kind": "tag", "tag": tag}],
        actions=[{"kind": "send_to_webhook", "endpoint_id": endpoint_id}],
    )
    with transaction() as session:
        session.execute(
            update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).values(enabled=False)
        )
    ticket = new_ticket(agent, tags=[tag])

    handle(unhandled(ticket["id"]))

    failures = admin.get(f"/triggers/{trigger['id']}/failures").json()
    assert [failure["field"] for failure in failures] == ["endpoint_id"]
    assert "ticket.forwarded" not in {e["type"] for e in events_of(db, ticket["id"])}


DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _category_with_hours(admin: httpx.Client, weekly: dict[str, list[list[str]]]) -> int:
    calendar = admin.post(
        "/calendars", json={"name": unique("hours"), "timezone": "UTC", "weekly_hours": weekly}
    )
    assert calendar.status_code == 201, calendar.text
    category = admin.post(
        "/categories",
        json={"name": unique("cat"), "sla_hours": 8, "calendar_id": calendar.json()["id"]},
    )
    assert category.status_code == 201, category.text
    return int(category.json()["id"])


@pytest.mark.parametrize(
    ("open_today", "inside", "fires"),
    [(True, True, True), (True, False, False), (False, False, True), (False, True, False)],
)
def test_business_hours_conditions_follow_the_tickets_calendar(
    admin: httpx.Client,
    agent: httpx.Client,
    made: list[int],
    open_today: bool,
    inside: bool,
    fires: bool,
) -> None:
    today = utcnow().weekday()
    # Open all day today and tomorrow (the test may cross midnight), or only three days from
    # now (closed now, and still closed if midnight passes).
    days = [DAYS[today], DAYS[(today + 1) % 7]] if open_today else [DAYS[(today + 3) % 7]]
    category = _category_with_hours(admin, {day: [["00:00", "24:00"]] for day in days})
    marker = unique("fired")
    new_trigger(
        admin,
        made,
        conditions=[
            {"kind": "field", "field": "category_id", "value": category},
            {"kind": "business_hours", "inside": inside},
        ],
        actions=[{"kind": "add_tags", "tags": [marker]}],
    )
    ticket = new_ticket(agent, category_id=category)

    handle(unhandled(ticket["id"]))

    assert (marker in agent.get(f"/tickets/{ticket['id']}").json()["tags"]) is fires
