"""Links between tickets: listed on both sides with the inverse kind, refused when they make
no sense, staff-only to change, and filtered for customers."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.api.ticket_links.service import MAX_LINKS_PER_TICKET
from shared.clock import utcnow
from shared.models import OutboxEvent, TicketLink
from shared.unit_of_work import transaction
from tests.api.test_mcp import call as mcp_call
from tests.api.test_mcp import error_text, ok
from tests.helpers import new_ticket, problem_of
from tests.support.processes import ApiServer


def link(client: httpx.Client, ticket: dict[str, Any], kind: str, other: Any) -> httpx.Response:
    return client.post(f"/tickets/{ticket['id']}/links", json={"kind": kind, "ticket": other})


def kinds(client: httpx.Client, ticket: dict[str, Any]) -> list[tuple[str, int]]:
    response = client.get(f"/tickets/{ticket['id']}/links")
    assert response.status_code == 200, response.text
    return [(each["kind"], each["ticket"]["id"]) for each in response.json()]


def snapshot(client: httpx.Client, *tickets: dict[str, Any]) -> list[Any]:
    return [
        client.get(f"/tickets/{ticket['id']}{path}").json()
        for ticket in tickets
        for path in ("/links", "/history")
    ]


def test_each_side_lists_the_link_with_the_inverse_kind(agent: httpx.Client) -> None:
    for kind, inverse in (
        ("related", "related"),
        ("duplicate_of", "duplicated_by"),
        ("duplicated_by", "duplicate_of"),
        ("parent_of", "child_of"),
        ("child_of", "parent_of"),
    ):
        first = new_ticket(agent)
        second = new_ticket(agent)

        response = link(agent, first, kind, second["number"])

        assert response.status_code == 201, response.text
        made = response.json()
        assert made["kind"] == kind
        assert made["ticket"] == {
            "id": second["id"],
            "number": second["number"],
            "title": second["title"],
            "status": "Open",
        }
        assert made["created_by"]["id"] == 4
        assert kinds(agent, first) == [(kind, second["id"])]
        assert kinds(agent, second) == [(inverse, first["id"])]


def test_a_link_change_is_history_and_ticket_updated_on_both(
    agent: httpx.Client, db: Session
) -> None:
    first = new_ticket(agent)
    second = new_ticket(agent)

    made = link(agent, first, "duplicate_of", second["id"]).json()

    for ticket, text in (
        (first, f"duplicate_of {second['number']}"),
        (second, f"duplicated_by {first['number']}"),
    ):
        rows = agent.get(f"/tickets/{ticket['id']}/history").json()
        assert [(r["old_value"], r["new_value"]) for r in rows if r["field"] == "link"] == [
            (None, text)
        ]
        db.rollback()
        payloads = db.scalars(
            select(OutboxEvent.payload).where(
                OutboxEvent.ticket_id == ticket["id"], OutboxEvent.event_type == "ticket.updated"
            )
        ).all()
        [event] = [orjson.loads(p) for p in payloads]
        assert event["data"]["changes"]["links"]["from"] == []
        assert event["data"]["changes"]["links"]["to"] == [
            {"id": made["id"], "kind": text.split()[0], "ticket": text.split()[1]}
        ]


def test_removing_a_link_removes_it_from_both_and_records_it(agent: httpx.Client) -> None:
    first = new_ticket(agent)
    second = new_ticket(agent)
    made = link(agent, first, "related", second["id"]).json()

    response = agent.delete(f"/tickets/{second['id']}/links/{made['id']}")

    assert response.status_code == 204
    assert kinds(agent, first) == []
    assert kinds(agent, second) == []
    rows = agent.get(f"/tickets/{first['id']}/history").json()
    assert [(r["old_value"], r["new_value"]) for r in rows if r["field"] == "link"][-1] == (
        f"related {second['number']}",
        None,
    )


def test_refused_links_change_nothing(agent: httpx.Client) -> None:
    parent = new_ticket(agent)
    child = new_ticket(agent)
    grandchild = new_ticket(agent)
    stranger = new_ticket(agent)
    assert link(agent, parent, "parent_of", child["id"]).status_code == 201
    assert link(agent, child, "parent_of", grandchild["id"]).status_code == 201
    before = snapshot(agent, parent, child, grandchild, stranger)
    cases = [
        (parent, "related", parent["id"], 422),  # itself
        (parent, "related", child["id"], 409),  # linked already
        (child, "duplicate_of", parent["id"], 409),  # linked already, from the other end
        (grandchild, "parent_of", parent["id"], 409),  # a cycle
        (stranger, "parent_of", child["id"], 409),  # a second parent
        (grandchild, "child_of", stranger["id"], 409),  # a second parent, the other way
        (parent, "related", "TKT-9999999", 404),
        (parent, "related", "garbage", 404),
        (parent, "merged_into", stranger["id"], 422),  # merging only
        (parent, "sibling", stranger["id"], 422),
    ]
    for ticket, kind, other, status in cases:
        response = link(agent, ticket, kind, other)
        assert response.status_code == status, (kind, other, response.text)
        problem_of(response)
    assert (
        agent.post("/tickets/9999999/links", json={"kind": "related", "ticket": 1}).status_code
        == 404
    )
    assert snapshot(agent, parent, child, grandchild, stranger) == before


def test_a_ticket_holds_a_bounded_number_of_links(agent: httpx.Client, db: Session) -> None:
    hub = new_ticket(agent)
    others = [new_ticket(agent) for _ in range(MAX_LINKS_PER_TICKET + 1)]
    with transaction() as session:
        for other in others[:MAX_LINKS_PER_TICKET]:
            session.add(
                TicketLink(
                    from_ticket_id=hub["id"],
                    to_ticket_id=other["id"],
                    kind="related",
                    created_at=utcnow(),
                )
            )

    response = link(agent, hub, "related", others[-1]["id"])

    assert response.status_code == 409
    assert str(MAX_LINKS_PER_TICKET) in problem_of(response)["detail"]
    assert kinds(agent, others[-1]) == []


def test_customers_cannot_make_or_remove_links(agent: httpx.Client, customer: httpx.Client) -> None:
    first = new_ticket(customer)
    second = new_ticket(customer)
    made = link(agent, first, "related", second["id"]).json()

    assert link(customer, first, "related", new_ticket(customer)["id"]).status_code == 403
    assert customer.delete(f"/tickets/{first['id']}/links/{made['id']}").status_code == 403
    assert kinds(agent, first) == [("related", second["id"])]


def test_customers_see_only_links_between_tickets_they_can_both_see(
    agent: httpx.Client, customer: httpx.Client, other_customer: httpx.Client
) -> None:
    mine = new_ticket(customer)
    also_mine = new_ticket(customer)
    theirs = new_ticket(other_customer)
    link(agent, mine, "related", also_mine["id"]).raise_for_status()
    link(agent, mine, "duplicate_of", theirs["id"]).raise_for_status()

    assert kinds(customer, mine) == [("related", also_mine["id"])]
    assert kinds(agent, mine) == [("related", also_mine["id"]), ("duplicate_of", theirs["id"])]
    assert kinds(other_customer, theirs) == []
    assert customer.get(f"/tickets/{theirs['id']}/links").status_code == 404
    # The history row naming the other customer's ticket is staff-only.
    texts = [r["new_value"] for r in customer.get(f"/tickets/{mine['id']}/history").json()]
    assert f"duplicate_of {theirs['number']}" not in texts
    assert f"related {also_mine['number']}" in texts


def test_a_merged_into_link_cannot_be_removed(agent: httpx.Client) -> None:
    source = new_ticket(agent)
    target = new_ticket(agent)
    merged = agent.post(f"/tickets/{source['id']}/merge", json={"into": target["id"]}).json()

    response = agent.delete(f"/tickets/{target['id']}/links/{merged['link']['id']}")

    assert response.status_code == 409
    problem_of(response)
    assert kinds(agent, target) == [("merged_from", source["id"])]
    assert kinds(agent, source) == [("merged_into", target["id"])]


def test_a_link_of_another_ticket_is_not_found(agent: httpx.Client) -> None:
    first = new_ticket(agent)
    second = new_ticket(agent)
    third = new_ticket(agent)
    made = link(agent, first, "related", second["id"]).json()

    assert agent.delete(f"/tickets/{third['id']}/links/{made['id']}").status_code == 404
    assert agent.delete(f"/tickets/{first['id']}/links/99999999").status_code == 404
    assert kinds(agent, first) == [("related", second["id"])]


def test_links_through_mcp_follow_the_same_rules(
    api_server: ApiServer, api_keys: dict[str, str], agent: httpx.Client
) -> None:
    first = new_ticket(agent)
    second = new_ticket(agent)
    key = api_keys["agent"]

    made = ok(
        mcp_call(
            api_server,
            key,
            "link_tickets",
            ticket=first["id"],
            kind="parent_of",
            other=second["number"],
        )
    )
    listed = ok(mcp_call(api_server, key, "list_ticket_links", ticket=second["id"]))
    cycle = mcp_call(
        api_server, key, "link_tickets", ticket=second["id"], kind="parent_of", other=first["id"]
    )
    refused = mcp_call(
        api_server,
        api_keys["customer"],
        "link_tickets",
        ticket=first["id"],
        kind="related",
        other=second["id"],
    )
    ok(mcp_call(api_server, key, "unlink_tickets", ticket=first["id"], link_id=made["id"]))

    assert made["kind"] == "parent_of"
    assert [(each["kind"], each["ticket"]["id"]) for each in listed] == [("child_of", first["id"])]
    assert "linked already" in error_text(cycle)
    assert "Not found" in error_text(refused)  # the agent's tickets are not the customer's
    assert kinds(agent, first) == []


def test_a_cc_sees_the_links_between_tickets_they_can_see(
    agent: httpx.Client, customer: httpx.Client, other_customer: httpx.Client
) -> None:
    johns = new_ticket(customer)
    janes = new_ticket(other_customer)
    agent.post(f"/tickets/{johns['id']}/ccs", json={"user_id": 2}).raise_for_status()

    link(agent, johns, "related", janes["id"]).raise_for_status()

    assert kinds(other_customer, johns) == [("related", janes["id"])]
    assert kinds(customer, johns) == []
    # John reads his ticket's history; Jane's ticket is not named in it.
    texts = [r["new_value"] for r in customer.get(f"/tickets/{johns['id']}/history").json()]
    assert f"related {janes['number']}" not in texts
    # Jane reads both tickets: her own ticket's row names John's, which she sees.
    theirs = [r["new_value"] for r in other_customer.get(f"/tickets/{janes['id']}/history").json()]
    assert f"related {johns['number']}" in theirs
