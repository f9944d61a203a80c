"""Macros: named bundles of actions an agent previews or applies to a ticket, shared (admins
manage them) or an agent's own (nobody else sees them); customers never see macros."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.models import Macro, OutboxEvent, Ticket, TicketComment, TicketHistory
from tests.api.test_custom_fields import scoped_field
from tests.api.test_mcp import call as mcp_call
from tests.api.test_mcp import error_text, ok
from tests.helpers import new_ticket, problem_of
from tests.support.processes import ApiServer

IN_PROGRESS, RESOLVED = 2, 4
HIGH = 2
SARAH_JOHNSON = 4  # the `agent` client's user
MISSING = 987_654_321


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def made(admin: httpx.Client, agent: httpx.Client) -> Iterator[list[tuple[httpx.Client, int]]]:
    """The macros a test made (and who may delete them), deleted afterwards."""
    ids: list[tuple[httpx.Client, int]] = []
    yield ids
    for client, macro_id in ids:
        client.delete(f"/macros/{macro_id}")


def new_macro(
    client: httpx.Client, made: list[tuple[httpx.Client, int]], **overrides: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": unique("macro"),
        "actions": [{"kind": "set_priority", "priority_id": HIGH}],
    }
    body.update(overrides)
    response = client.post("/macros", json=body)
    assert response.status_code == 201, response.text
    made.append((client, response.json()["id"]))
    return dict(response.json())


def error_fields(response: httpx.Response) -> list[str]:
    return [error["field"] for error in problem_of(response).get("errors", [])]


def stored(db: Session, ticket_id: int) -> dict[str, Any]:
    """Everything a macro could write about a ticket."""
    db.rollback()
    ticket = db.get(Ticket, ticket_id)
    assert ticket is not None
    db.refresh(ticket)

    def count(model: Any) -> int:
        query = select(func.count()).select_from(model).where(model.ticket_id == ticket_id)
        return db.scalar(query) or 0

    return {
        "version": ticket.version,
        "status": ticket.status_id,
        "priority": ticket.priority_id,
        "first_response_at": ticket.first_response_at,
        "history": count(TicketHistory),
        "comments": count(TicketComment),
        "outbox": count(OutboxEvent),
    }


def events(db: Session, ticket_id: int) -> list[dict[str, Any]]:
    db.rollback()
    rows = db.scalars(
        select(OutboxEvent.payload)
        .where(OutboxEvent.ticket_id == ticket_id)
        .order_by(OutboxEvent.id)
    )
    return [json.loads(row) for row in rows]


def usage(db: Session, macro_id: int) -> tuple[int, Any]:
    db.rollback()
    macro = db.get(Macro, macro_id)
    assert macro is not None
    db.refresh(macro)
    return macro.usage_count, macro.last_used_at


def apply(client: httpx.Client, ticket: Any, macro: int, **headers: str) -> httpx.Response:
    return client.post(f"/tickets/{ticket}/macros/{macro}", headers=headers)


def preview(client: httpx.Client, ticket: Any, macro: int, **headers: str) -> httpx.Response:
    return client.post(f"/tickets/{ticket}/macros/{macro}/preview", headers=headers)


# --- who sees and manages which ------------------------------------------------------------------


def test_a_personal_macro_is_its_agents_alone(
    agent: httpx.Client, other_agent: httpx.Client, made: list[tuple[httpx.Client, int]]
) -> None:
    mine = new_macro(agent, made, description="Escalate")
    assert (mine["owner_id"], mine["shared"], mine["usage_count"]) == (SARAH_JOHNSON, False, 0)

    assert agent.get(f"/macros/{mine['id']}").json()["description"] == "Escalate"
    for response in (
        other_agent.get(f"/macros/{mine['id']}"),
        other_agent.patch(f"/macros/{mine['id']}", json={"name": "taken over"}),
        other_agent.delete(f"/macros/{mine['id']}"),
        apply(other_agent, new_ticket(other_agent)["id"], mine["id"]),
        preview(other_agent, new_ticket(other_agent)["id"], mine["id"]),
    ):
        assert response.status_code == 404, response.text
        assert problem_of(response)["title"] == "Not found"
    assert mine["id"] not in [m["id"] for m in other_agent.get("/macros").json()]
    assert mine["id"] in [m["id"] for m in agent.get("/macros", params={"scope": "mine"}).json()]
    assert mine["id"] not in [
        m["id"] for m in agent.get("/macros", params={"scope": "shared"}).json()
    ]

    changed = agent.patch(f"/macros/{mine['id']}", json={"name": "Escalate now", "active": False})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["active"]) == ("Escalate now", False)
    inactive = agent.get("/macros", params={"scope": "mine", "active": "false"}).json()
    assert mine["id"] in [m["id"] for m in inactive]
    assert agent.delete(f"/macros/{mine['id']}").status_code == 204
    assert agent.get(f"/macros/{mine['id']}").status_code == 404


def test_shared_macros_are_every_agents_to_use_and_the_admins_to_change(
    admin: httpx.Client, agent: httpx.Client, made: list[tuple[httpx.Client, int]], db: Session
) -> None:
    refused = agent.post(
        "/macros",
        json={
            "name": unique("shared"),
            "shared": True,
            "actions": [{"kind": "add_note", "body": "x"}],
        },
    )
    assert refused.status_code == 403
    assert error_fields(refused) == ["shared"]

    shared = new_macro(admin, made, shared=True)
    assert (shared["owner_id"], shared["shared"]) == (None, True)
    listed = agent.get("/macros", params={"scope": "shared"}).json()
    assert shared["id"] in [m["id"] for m in listed]
    assert agent.patch(f"/macros/{shared['id']}", json={"name": "mine now"}).status_code == 403
    assert agent.delete(f"/macros/{shared['id']}").status_code == 403
    assert agent.get(f"/macros/{shared['id']}").json()["name"] == shared["name"]

    ticket = new_ticket(agent)
    assert apply(agent, ticket["id"], shared["id"]).status_code == 200
    assert (
        admin.patch(f"/macros/{shared['id']}", json={"description": "Raise it"}).status_code == 200
    )
    assert admin.delete(f"/macros/{shared['id']}").status_code == 204
    assert agent.get(f"/macros/{shared['id']}").status_code == 404
    assert stored(db, ticket["id"])["priority"] == HIGH  # the ticket keeps what it did


def test_customers_never_see_macros(
    admin: httpx.Client, customer: httpx.Client, made: list[tuple[httpx.Client, int]], db: Session
) -> None:
    shared = new_macro(admin, made, shared=True)
    ticket = new_ticket(customer)
    before = stored(db, ticket["id"])
    for response in (
        customer.get("/macros"),
        customer.get(f"/macros/{shared['id']}"),
        customer.post(
            "/macros", json={"name": "mine", "actions": [{"kind": "add_note", "body": "x"}]}
        ),
        customer.patch(f"/macros/{shared['id']}", json={"name": "x"}),
        customer.delete(f"/macros/{shared['id']}"),
        apply(customer, ticket["id"], shared["id"]),
        preview(customer, ticket["id"], shared["id"]),
    ):
        assert response.status_code == 403, response.text
        problem_of(response)
    assert stored(db, ticket["id"]) == before
    assert usage(db, shared["id"])[0] == 0


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "field"),
    [
        ({"kind": "set_status", "status_id": MISSING}, "actions.1.status_id"),
        ({"kind": "set_priority", "priority_id": MISSING}, "actions.1.priority_id"),
        ({"kind": "set_category", "category_id": MISSING}, "actions.1.category_id"),
        ({"kind": "set_assignee", "assignee_id": 1}, "actions.1.assignee_id"),  # a customer
        ({"kind": "set_custom_field", "key": "no_such_field", "value": 1}, "actions.1.key"),
        ({"kind": "reply", "template": "Hi {{requester.password}}"}, "actions.1.template"),
        ({"kind": "send_to_webhook", "endpoint_id": 1}, "actions.1.kind"),
    ],
)
def test_an_action_naming_nothing_usable_is_422_naming_it(
    agent: httpx.Client, action: dict[str, Any], field: str
) -> None:
    name = unique("bad")
    body = {"name": name, "actions": [{"kind": "add_note", "body": "ok"}, action]}
    response = agent.post("/macros", json=body)
    assert response.status_code == 422, response.text
    assert error_fields(response) == [field]
    assert name not in [m["name"] for m in agent.get("/macros").json()]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "actions": []},
        {"name": "x"},
        {"name": "", "actions": [{"kind": "add_note", "body": "x"}]},
        {"name": "x" * 101, "actions": [{"kind": "add_note", "body": "x"}]},
        {"name": "bell\u0007", "actions": [{"kind": "add_note", "body": "x"}]},
        {"name": "x", "actions": [{"kind": "add_note", "body": "x"}], "owner_id": 5},
        {"name": "x", "actions": [{"kind": "fly_away"}]},
        {"name": "x", "actions": [{"kind": "add_note", "body": "x" * 5001}]},
        {"name": "x", "actions": [{"kind": "add_note", "body": "x"}] * 51},
    ],
)
def test_a_malformed_macro_is_422(agent: httpx.Client, body: dict[str, Any]) -> None:
    response = agent.post("/macros", json=body)
    assert response.status_code == 422, response.text
    problem_of(response)


def test_a_name_is_unique_among_your_macros_and_among_the_shared_ones(
    admin: httpx.Client,
    agent: httpx.Client,
    other_agent: httpx.Client,
    made: list[tuple[httpx.Client, int]],
) -> None:
    mine = new_macro(agent, made)
    again = agent.post("/macros", json={"name": mine["name"], "actions": mine["actions"]})
    assert again.status_code == 409
    assert error_fields(again) == ["name"]
    new_macro(other_agent, made, name=mine["name"])  # another agent's own: no clash
    new_macro(admin, made, name=mine["name"], shared=True)
    twice = admin.post(
        "/macros", json={"name": mine["name"], "shared": True, "actions": mine["actions"]}
    )
    assert twice.status_code == 409


def test_a_bad_update_is_refused_and_changes_nothing(
    agent: httpx.Client, made: list[tuple[httpx.Client, int]]
) -> None:
    mine = new_macro(agent, made)
    for body, status in (
        ({"actions": [{"kind": "set_status", "status_id": MISSING}]}, 422),
        ({"name": None}, 422),
        ({"actions": None}, 422),
        ({"shared": True}, 422),
    ):
        response = agent.patch(f"/macros/{mine['id']}", json=body)
        assert response.status_code == status, response.text
    assert agent.get(f"/macros/{mine['id']}").json() == mine
    assert agent.get(f"/macros/{MISSING}").status_code == 404


def test_an_unknown_ticket_or_macro_is_404_and_an_inactive_macro_409(
    agent: httpx.Client, made: list[tuple[httpx.Client, int]], db: Session
) -> None:
    mine = new_macro(agent, made)
    ticket = new_ticket(agent)
    before = stored(db, ticket["id"])
    assert apply(agent, MISSING, mine["id"]).status_code == 404
    assert apply(agent, "TKT-nope", mine["id"]).status_code == 404
    assert apply(agent, ticket["id"], MISSING).status_code == 404
    assert apply(agent, ticket["id"], 0).status_code == 404  # no such path
    agent.patch(f"/macros/{mine['id']}", json={"active": False})
    inactive = apply(agent, ticket["id"], mine["id"])
    assert inactive.status_code == 409
    assert error_fields(inactive) == ["macro_id"]
    assert stored(db, ticket["id"]) == before
    assert usage(db, mine["id"])[0] == 0


# --- applying -------------------------------------------------------------------------------------

FULL_MACRO = [
    {"kind": "set_status", "status_id": IN_PROGRESS},
    {"kind": "set_priority", "priority_id": HIGH},
    {"kind": "add_tags", "tags": ["escalated"]},
    {"kind": "add_note", "body": "Escalated to tier 2"},
    {"kind": "reply", "template": "Hello {{requester.name}}, we are on {{ticket.number}}."},
]


def test_applying_makes_one_edit_as_the_agent_with_its_comments(
    agent: httpx.Client, customer: httpx.Client, made: list[tuple[httpx.Client, int]], db: Session
) -> None:
    macro = new_macro(agent, made, name=unique("Escalate"), actions=FULL_MACRO)
    ticket = new_ticket(customer, title="<b>Printer</b> on fire")
    before = stored(db, ticket["id"])

    response = apply(agent, ticket["number"], macro["id"], **{"If-Match": f'"{ticket["version"]}"'})

    assert response.status_code == 200, response.text
    body = response.json()
    assert response.headers["ETag"] == f'"{ticket["version"] + 1}"'
    assert (body["macro_id"], body["preview"], body["changed"]) == (macro["id"], False, True)
    after = body["ticket"]
    assert after["version"] == ticket["version"] + 1  # one edit: one version
    assert (after["status"]["id"], after["priority"]["id"]) == (IN_PROGRESS, HIGH)
    assert "escalated" in after["tags"]
    assert [(c["internal"], c["author"]["id"]) for c in body["comments"]] == [
        (True, SARAH_JOHNSON),
        (False, SARAH_JOHNSON),
    ]
    assert body["comments"][1]["body"] == f"Hello John Doe, we are on {ticket['number']}."
    now = stored(db, ticket["id"])
    assert now["version"] == before["version"] + 1
    assert now["comments"] == before["comments"] + 2
    assert now["first_response_at"] is not None  # the agent's reply is the first response

    # One history batch, all the agent's, naming the macro.
    db.rollback()
    rows = list(
        db.scalars(
            select(TicketHistory)
            .where(TicketHistory.ticket_id == ticket["id"], TicketHistory.field != "created")
            .order_by(TicketHistory.id)
        )
    )
    assert {(row.actor_id, row.actor_trigger_id, row.created_at) for row in rows} == {
        (SARAH_JOHNSON, None, rows[0].created_at)
    }
    assert sorted(row.field for row in rows) == sorted(
        ["status", "priority", "tags", "comment", "comment", "macro", "first_response_at"]
    )
    assert [row.new_value for row in rows if row.field == "macro"] == [macro["name"]]

    # Its events: the field changes once, then a comment each, all with the agent as actor.
    new = events(db, ticket["id"])[before["outbox"] :]
    assert sorted(event["type"] for event in new) == [
        "ticket.commented",
        "ticket.commented",
        "ticket.status_changed",
        "ticket.updated",
    ]
    assert {event["data"]["actor"]["id"] for event in new} == {SARAH_JOHNSON}
    assert {event["data"]["actor"].get("kind", "user") for event in new} == {"user"}
    assert {event["data"]["ticket"]["version"] for event in new} == {after["version"]}

    # Staff see which macro was applied; the customer sees the changes, not the macro.
    staff = [h["field"] for h in agent.get(f"/tickets/{ticket['id']}/history").json()]
    assert "macro" in staff
    theirs = customer.get(f"/tickets/{ticket['id']}/history").json()
    assert "macro" not in [h["field"] for h in theirs]
    assert "status" in [h["field"] for h in theirs]
    comments = customer.get(f"/tickets/{ticket['id']}/comments").json()
    assert [c["body"] for c in comments] == [body["comments"][1]["body"]]
    assert customer.get("/macros").status_code == 403


def test_a_stale_if_match_is_412_and_changes_nothing(
    agent: httpx.Client, made: list[tuple[httpx.Client, int]], db: Session
) -> None:
    macro = new_macro(agent, made, actions=FULL_MACRO)
    ticket = new_ticket(agent)
    assert agent.patch(f"/tickets/{ticket['id']}", json={"priority_id": 4}).status_code == 200
    before = stored(db, ticket["id"])

    for send in (apply, preview):
        response = send(agent, ticket["id"], macro["id"], **{"If-Match": f'"{ticket["version"]}"'})
        assert response.status_code == 412, response.text
        assert error_fields(response) == ["If-Match"]
    assert stored(db, ticket["id"]) == before
    assert usage(db, macro["id"]) == (0, None)


def test_without_if_match_the_macro_applies_to_the_ticket_as_it_is(
    agent: httpx.Client, made: list[tuple[httpx.Client, int]], db: Session
) -> None:
    macro = new_macro(agent, made, actions=[{"kind": "set_priority", "priority_id": HIGH}])
    ticket = new_ticket(agent)
    agent.patch(f"/tickets/{ticket['id']}", json={"tags": ["a"]})
    response = apply(agent, ticket["id"], macro["id"])
    assert response.status_code == 200, response.text
    assert response.json()["ticket"]["version"] == ticket["version"] + 2
    assert response.json()["comments"] == []

    # Applying it again changes nothing: no version, no event, but it was used.
    before = stored(db, ticket["id"])
    again = apply(agent, ticket["id"], macro["id"], **{"If-Match": "*"})
    assert again.status_code == 200
    assert again.json()["changed"] is False
    assert stored(db, ticket["id"]) == before
    assert usage(db, macro["id"])[0] == 2


def test_the_macro_is_held_to_the_rules_a_patch_is(
    admin: httpx.Client, agent: httpx.Client, made: list[tuple[httpx.Client, int]], db: Session
) -> None:
    field, category = scoped_field(admin, required_to_resolve=True)
    macro = new_macro(
        agent,
        made,
        actions=[
            {"kind": "add_note", "body": "Closing"},
            {"kind": "set_status", "status_id": RESOLVED},
        ],
    )
    ticket = new_ticket(agent, category_id=category)
    before = stored(db, ticket["id"])
    response = apply(agent, ticket["id"], macro["id"])
    assert response.status_code == 422, response.text
    assert error_fields(response) == [f"custom_fields.{field['key']}"]
    assert stored(db, ticket["id"]) == before  # not even the note
    assert usage(db, macro["id"])[0] == 0


# --- preview --------------------------------------------------------------------------------------


def test_a_preview_shows_the_result_and_writes_nothing(
    agent: httpx.Client, made: list[tuple[httpx.Client, int]], db: Session
) -> None:
    macro = new_macro(agent, made, actions=FULL_MACRO)
    ticket = new_ticket(agent)
    db.rollback()
    total_outbox = db.scalar(select(func.count()).select_from(OutboxEvent))
    total_history = db.scalar(select(func.count()).select_from(TicketHistory))
    before = stored(db, ticket["id"])

    response = preview(agent, ticket["id"], macro["id"], **{"If-Match": str(ticket["version"])})

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["preview"], body["changed"]) == (True, True)
    assert body["ticket"]["status"]["id"] == IN_PROGRESS
    assert body["ticket"]["version"] == ticket["version"] + 1
    assert [c["internal"] for c in body["comments"]] == [True, False]
    assert stored(db, ticket["id"]) == before
    db.rollback()
    assert db.scalar(select(func.count()).select_from(OutboxEvent)) == total_outbox
    assert db.scalar(select(func.count()).select_from(TicketHistory)) == total_history
    assert usage(db, macro["id"]) == (0, None)
    assert agent.get(f"/tickets/{ticket['id']}").json()["version"] == ticket["version"]

    # And the real thing does what the preview showed.
    applied = apply(agent, ticket["id"], macro["id"]).json()
    assert applied["ticket"]["status"] == body["ticket"]["status"]
    assert [c["body"] for c in applied["comments"]] == [c["body"] for c in body["comments"]]
    assert usage(db, macro["id"])[0] == 1
    assert usage(db, macro["id"])[1] is not None


# --- bulk -----------------------------------------------------------------------------------------


def test_bulk_applies_a_macro_with_an_outcome_per_ticket(
    admin: httpx.Client, agent: httpx.Client, made: list[tuple[httpx.Client, int]], db: Session
) -> None:
    field, category = scoped_field(admin, required_to_resolve=True)
    macro = new_macro(
        agent,
        made,
        actions=[
            {"kind": "set_status", "status_id": RESOLVED},
            {"kind": "add_note", "body": "Done"},
        ],
    )
    good = new_ticket(agent)
    stale = new_ticket(agent)
    agent.patch(f"/tickets/{stale['id']}", json={"priority_id": 4})
    incomplete = new_ticket(agent, category_id=category)
    before = {t["id"]: stored(db, t["id"]) for t in (stale, incomplete)}

    response = agent.post(
        "/tickets/bulk",
        json={
            "tickets": [
                good["number"],
                {"id": stale["id"], "version": stale["version"]},
                MISSING,
                incomplete["id"],
            ],
            "macro_id": macro["id"],
        },
        headers={"Idempotency-Key": unique("key")},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert [(r["ref"], r["status"], r["changed"]) for r in body["results"]] == [
        (good["number"], 200, True),
        (stale["id"], 412, False),
        (MISSING, 404, False),
        (incomplete["id"], 422, False),
    ]
    assert (body["changed"], body["unchanged"], body["failed"]) == (1, 0, 3)
    assert body["results"][0]["ticket"]["version"] == good["version"] + 1
    assert {t: stored(db, t) for t in before} == before
    good_now = stored(db, good["id"])
    assert (good_now["status"], good_now["comments"]) == (RESOLVED, 1)
    commented = [e for e in events(db, good["id"]) if e["type"] == "ticket.commented"]
    assert [e["data"]["actor"]["id"] for e in commented] == [SARAH_JOHNSON]
    assert usage(db, macro["id"])[0] == 1


def test_bulk_takes_exactly_one_of_changes_and_macro_id(
    agent: httpx.Client,
    other_agent: httpx.Client,
    made: list[tuple[httpx.Client, int]],
    db: Session,
) -> None:
    macro = new_macro(agent, made)
    ticket = new_ticket(agent)
    before = stored(db, ticket["id"])
    for body in (
        {"tickets": [ticket["id"]]},
        {"tickets": [ticket["id"]], "macro_id": macro["id"], "changes": {"priority_id": HIGH}},
        {"tickets": [ticket["id"]], "macro_id": "one"},
    ):
        response = agent.post("/tickets/bulk", json=body)
        assert response.status_code == 422, response.text
        problem_of(response)
    # Another agent's macro, or none: the whole call is refused, naming it.
    for client, macro_id in ((other_agent, macro["id"]), (agent, MISSING)):
        response = client.post(
            "/tickets/bulk", json={"tickets": [ticket["id"]], "macro_id": macro_id}
        )
        assert response.status_code == 422, response.text
        assert error_fields(response) == ["macro_id"]
    assert stored(db, ticket["id"]) == before
    assert usage(db, macro["id"])[0] == 0


def test_bulk_macro_over_several_chunks_counts_each_ticket(
    agent: httpx.Client, made: list[tuple[httpx.Client, int]], db: Session
) -> None:
    tag = unique("chunk")
    macro = new_macro(agent, made, actions=[{"kind": "add_tags", "tags": [tag]}])
    tickets = [new_ticket(agent)["id"] for _ in range(55)]  # two chunks of 50
    response = agent.post("/tickets/bulk", json={"tickets": tickets, "macro_id": macro["id"]})
    assert response.status_code == 200, response.text
    assert response.json()["changed"] == 55
    assert usage(db, macro["id"])[0] == 55
    assert all(tag in r["ticket"]["tags"] for r in response.json()["results"])


# --- MCP ------------------------------------------------------------------------------------------


def test_mcp_lists_previews_and_applies_macros(
    api_server: ApiServer,
    api_keys: dict[str, str],
    agent: httpx.Client,
    made: list[tuple[httpx.Client, int]],
    db: Session,
) -> None:
    macro = new_macro(agent, made, actions=FULL_MACRO)
    ticket = new_ticket(agent)
    listed = ok(mcp_call(api_server, api_keys["agent"], "list_macros", scope="mine"))
    assert macro["id"] in [m["id"] for m in listed]

    before = stored(db, ticket["id"])
    previewed = ok(
        mcp_call(
            api_server,
            api_keys["agent"],
            "preview_macro",
            ticket=ticket["number"],
            macro_id=macro["id"],
        )
    )
    assert previewed["preview"] is True
    assert stored(db, ticket["id"]) == before

    stale = mcp_call(
        api_server,
        api_keys["agent"],
        "apply_macro",
        ticket=ticket["number"],
        macro_id=macro["id"],
        expected_version=ticket["version"] + 5,
    )
    assert "412" in error_text(stale) or "version" in error_text(stale)
    applied = ok(
        mcp_call(
            api_server,
            api_keys["agent"],
            "apply_macro",
            ticket=ticket["number"],
            macro_id=macro["id"],
            expected_version=ticket["version"],
        )
    )
    assert applied["ticket"]["version"] == ticket["version"] + 1
    assert len(applied["comments"]) == 2

    other = new_ticket(agent)
    outcome = ok(
        mcp_call(
            api_server,
            api_keys["agent"],
            "bulk_update_tickets",
            tickets=[other["id"]],
            macro_id=macro["id"],
        )
    )
    assert [r["status"] for r in outcome["results"]] == [200]
    assert usage(db, macro["id"])[0] == 2

    refused = mcp_call(api_server, api_keys["customer"], "list_macros")
    assert "macros are for agents" in error_text(refused)
