"""Triggers through the API: admins write them, staff read and test them, customers never."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.models import OutboxEvent, Ticket, TicketComment, TicketHistory
from tests.api.test_mcp import call as mcp_call
from tests.api.test_mcp import error_text, ok
from tests.helpers import new_ticket, problem_of
from tests.support.processes import ApiServer

IN_PROGRESS, HIGH = 2, 2


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def made(admin: httpx.Client) -> Iterator[list[int]]:
    """Ids of the triggers a test made, deleted afterwards (they would fire on other tests'
    tickets)."""
    ids: list[int] = []
    yield ids
    for trigger_id in ids:
        admin.delete(f"/triggers/{trigger_id}")


def new_trigger(admin: httpx.Client, made: list[int], **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": unique("trigger"),
        "active": False,
        "conditions": {"all": [{"kind": "tag", "tag": unique("never")}]},
        "actions": [{"kind": "set_priority", "priority_id": HIGH}],
    }
    body.update(overrides)
    response = admin.post("/triggers", json=body)
    assert response.status_code == 201, response.text
    made.append(response.json()["id"])
    return dict(response.json())


def error_fields(response: httpx.Response) -> list[str]:
    return [error["field"] for error in problem_of(response).get("errors", [])]


def test_admin_creates_a_trigger_and_staff_read_it(
    admin: httpx.Client, agent: httpx.Client, made: list[int]
) -> None:
    trigger = new_trigger(admin, made, event_types=["ticket.created"], position=7)

    assert trigger["position"] == 7
    assert trigger["event_types"] == ["ticket.created"]
    assert trigger["actions"] == [{"kind": "set_priority", "priority_id": HIGH}]
    assert agent.get(f"/triggers/{trigger['id']}").json() == trigger
    assert trigger["id"] in [t["id"] for t in agent.get("/triggers").json()]


def test_triggers_are_listed_by_position_then_id(admin: httpx.Client, made: list[int]) -> None:
    late = new_trigger(admin, made, position=900_001)
    early = new_trigger(admin, made, position=900_000)
    tied = new_trigger(admin, made, position=900_001)

    listed = [t["id"] for t in admin.get("/triggers").json()]

    ours = [trigger_id for trigger_id in listed if trigger_id in made]
    assert ours == [early["id"], late["id"], tied["id"]]


def test_customers_never_see_triggers(
    admin: httpx.Client, customer: httpx.Client, made: list[int]
) -> None:
    trigger = new_trigger(admin, made)

    assert customer.get("/triggers").status_code == 403
    assert customer.get(f"/triggers/{trigger['id']}").status_code == 403
    test = customer.post(f"/triggers/{trigger['id']}/test", json={"ticket": "1"})
    assert test.status_code == 403


def test_agents_cannot_change_triggers(
    admin: httpx.Client, agent: httpx.Client, made: list[int]
) -> None:
    trigger = new_trigger(admin, made)
    body = {"name": unique("t"), "actions": [{"kind": "add_tags", "tags": ["x"]}]}

    assert agent.post("/triggers", json=body).status_code == 403
    assert agent.patch(f"/triggers/{trigger['id']}", json={"active": True}).status_code == 403
    assert agent.delete(f"/triggers/{trigger['id']}").status_code == 403
    assert admin.get(f"/triggers/{trigger['id']}").json()["active"] is False


@pytest.mark.parametrize(
    ("action", "field"),
    [
        ({"kind": "set_status", "status_id": 999_999}, "actions.0.status_id"),
        ({"kind": "set_priority", "priority_id": 999_999}, "actions.0.priority_id"),
        ({"kind": "set_category", "category_id": 999_999}, "actions.0.category_id"),
        ({"kind": "set_assignee", "assignee_id": 1}, "actions.0.assignee_id"),  # a customer
        ({"kind": "set_custom_field", "key": "no_such_field", "value": 1}, "actions.0.key"),
        ({"kind": "reply", "template": "Hi {{requester.password}}"}, "actions.0.template"),
        ({"kind": "send_to_webhook", "endpoint_id": 999_999}, "actions.0.endpoint_id"),
    ],
)
def test_an_action_naming_nothing_usable_is_refused_naming_its_field(
    admin: httpx.Client, action: dict[str, Any], field: str
) -> None:
    response = admin.post("/triggers", json={"name": unique("bad"), "actions": [action]})

    assert response.status_code == 422, response.text
    assert error_fields(response) == [field]


@pytest.mark.parametrize(
    ("condition", "field"),
    [
        ({"kind": "field", "field": "status_id", "value": 999_999}, "conditions.all.0.value"),
        ({"kind": "field", "field": "custom_fields.nope", "value": "x"}, "conditions.all.0.field"),
        ({"kind": "changed", "field": "priority_id", "to": 999_999}, "conditions.all.0.to"),
    ],
)
def test_a_condition_naming_nothing_is_refused_naming_its_field(
    admin: httpx.Client, condition: dict[str, Any], field: str
) -> None:
    body = {
        "name": unique("bad"),
        "conditions": {"all": [condition]},
        "actions": [{"kind": "add_tags", "tags": ["x"]}],
    }

    response = admin.post("/triggers", json=body)

    assert response.status_code == 422, response.text
    assert error_fields(response) == [field]


@pytest.mark.parametrize(
    "body",
    [
        {"actions": []},
        {"actions": [{"kind": "explode"}]},
        {"actions": [{"kind": "add_tags", "tags": ["x"], "extra": 1}]},
        {"actions": [{"kind": "add_tags", "tags": ["x"]}], "event_types": ["ticket.sla_updated"]},
        {"actions": [{"kind": "add_tags", "tags": ["x"]}], "event_types": ["ticket.forwarded"]},
        {"actions": [{"kind": "add_tags", "tags": ["x"]}], "event_types": ["article.created"]},
        {"actions": [{"kind": "add_tags", "tags": ["x"]}], "conditions": {"every": []}},
        {"actions": [{"kind": "add_note", "body": "nul \u0000 here"}]},
        {"actions": [{"kind": "add_tags", "tags": ["x"]}], "name": "bell \u0007"},
        {"actions": [{"kind": "add_tags", "tags": ["x" * 51]}]},
        {"actions": [{"kind": "add_note", "body": "x" * 5001}]},
    ],
)
def test_a_malformed_trigger_is_refused_and_nothing_is_saved(
    admin: httpx.Client, db: Session, body: dict[str, Any]
) -> None:
    name = body.get("name", unique("bad"))
    before = len(admin.get("/triggers").json())

    response = admin.post("/triggers", json={"name": name, **body})

    assert response.status_code == 422, response.text
    assert len(admin.get("/triggers").json()) == before


def test_a_note_may_hold_line_breaks(admin: httpx.Client, made: list[int]) -> None:
    trigger = new_trigger(
        admin, made, actions=[{"kind": "add_note", "body": "first line\nsecond line"}]
    )

    assert trigger["actions"][0]["body"] == "first line\nsecond line"


def test_trigger_names_are_unique(admin: httpx.Client, made: list[int]) -> None:
    trigger = new_trigger(admin, made)
    body = {"name": trigger["name"], "actions": [{"kind": "add_tags", "tags": ["x"]}]}

    response = admin.post("/triggers", json=body)

    assert response.status_code == 409
    assert error_fields(response) == ["name"]


def test_an_update_changes_only_what_is_sent(admin: httpx.Client, made: list[int]) -> None:
    trigger = new_trigger(admin, made)

    response = admin.patch(f"/triggers/{trigger['id']}", json={"position": 3, "active": True})

    assert response.status_code == 200, response.text
    changed = response.json()
    assert (changed["position"], changed["active"]) == (3, True)
    assert changed["actions"] == trigger["actions"]
    assert changed["conditions"] == trigger["conditions"]
    refused = admin.patch(f"/triggers/{trigger['id']}", json={"actions": None})
    assert refused.status_code == 422


def test_unknown_triggers_are_not_found(admin: httpx.Client) -> None:
    for response in (
        admin.get("/triggers/999999"),
        admin.patch("/triggers/999999", json={"active": True}),
        admin.delete("/triggers/999999"),
        admin.post("/triggers/999999/test", json={"ticket": "1"}),
        admin.get("/triggers/abc"),
    ):
        assert response.status_code == 404, response.text


def test_the_dry_run_says_what_would_happen_and_changes_nothing(
    admin: httpx.Client, agent: httpx.Client, db: Session, made: list[int]
) -> None:
    tag = unique("dry")
    ticket = new_ticket(agent, tags=[tag], title="Printer on fire")
    trigger = new_trigger(
        admin,
        made,
        conditions={"all": [{"kind": "tag", "tag": tag}]},
        actions=[
            {"kind": "set_status", "status_id": IN_PROGRESS},
            {"kind": "add_tags", "tags": [tag]},
            {"kind": "reply", "template": "About {{ticket.title}} ({{ticket.number}})"},
        ],
    )
    outbox_before = db.scalar(select(func.count()).select_from(OutboxEvent))

    response = agent.post(f"/triggers/{trigger['id']}/test", json={"ticket": ticket["number"]})

    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["matches"], result["ticket_id"]) == (True, ticket["id"])
    assert [(a["kind"], a["would_change"]) for a in result["actions"]] == [
        ("set_status", True),
        ("add_tags", False),
        ("reply", True),
    ]
    assert result["actions"][2]["detail"] == f"reply: About Printer on fire ({ticket['number']})"
    assert db.scalar(select(Ticket.version).where(Ticket.id == ticket["id"])) == ticket["version"]
    assert db.scalar(select(func.count()).select_from(OutboxEvent)) == outbox_before
    history = select(func.count()).where(TicketHistory.ticket_id == ticket["id"])
    assert db.scalar(history) == 1  # created
    comments = select(func.count()).where(TicketComment.ticket_id == ticket["id"])
    assert db.scalar(comments) == 0


def test_the_dry_run_of_a_trigger_that_does_not_match_says_so(
    admin: httpx.Client, agent: httpx.Client, made: list[int]
) -> None:
    ticket = new_ticket(agent)
    trigger = new_trigger(admin, made)

    result = agent.post(f"/triggers/{trigger['id']}/test", json={"ticket": str(ticket["id"])})

    assert result.json()["matches"] is False


def test_the_dry_run_of_an_unknown_ticket_is_refused(admin: httpx.Client, made: list[int]) -> None:
    trigger = new_trigger(admin, made)

    for ref in ("999999999", "TKT-999999", "nonsense"):
        response = admin.post(f"/triggers/{trigger['id']}/test", json={"ticket": ref})
        assert response.status_code == 422, response.text
        assert error_fields(response) == ["ticket"]


def test_failures_are_for_admins(admin: httpx.Client, agent: httpx.Client, made: list[int]) -> None:
    trigger = new_trigger(admin, made)

    assert admin.get(f"/triggers/{trigger['id']}/failures").json() == []
    assert agent.get(f"/triggers/{trigger['id']}/failures").status_code == 403


def test_staff_list_and_test_triggers_through_mcp(
    api_server: ApiServer,
    api_keys: dict[str, str],
    admin: httpx.Client,
    agent: httpx.Client,
    made: list[int],
) -> None:
    tag = unique("mcp")
    ticket = new_ticket(agent, tags=[tag])
    trigger = new_trigger(admin, made, conditions={"all": [{"kind": "tag", "tag": tag}]})

    listed = ok(mcp_call(api_server, api_keys["agent"], "list_triggers"))
    tested = ok(
        mcp_call(
            api_server,
            api_keys["agent"],
            "test_trigger",
            trigger_id=trigger["id"],
            ticket=ticket["number"],
        )
    )

    assert trigger["id"] in [each["id"] for each in listed]
    assert (tested["matches"], tested["actions"][0]["kind"]) == (True, "set_priority")
    assert (
        agent.get(f"/tickets/{ticket['id']}").json()["priority"]["id"] == ticket["priority"]["id"]
    )


def test_customers_cannot_use_the_trigger_tools(
    api_server: ApiServer, api_keys: dict[str, str], admin: httpx.Client, made: list[int]
) -> None:
    trigger = new_trigger(admin, made)

    listed = mcp_call(api_server, api_keys["customer"], "list_triggers")
    tested = mcp_call(
        api_server, api_keys["customer"], "test_trigger", trigger_id=trigger["id"], ticket=1
    )

    assert "Forbidden" in error_text(listed)
    assert "Forbidden" in error_text(tested)
