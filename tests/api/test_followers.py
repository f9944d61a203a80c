"""Followers (staff following a ticket) and CCs (customers copied on it): who may add whom,
what a CC sees and may do, history, events, and the cost of a ticket read."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.api.participants import repository
from services.api.participants.service import MAX_CCS
from services.api.tickets import service as tickets
from services.api.tickets.schemas import TicketFilters
from shared.clock import utcnow
from shared.models import OutboxEvent, TicketHistory, ticket_ccs
from shared.reference_cache import reference_cache
from shared.search_index import index_ticket
from shared.unit_of_work import transaction
from tests.api.routing_support import client_of, new_user
from tests.api.test_custom_fields import statements_run
from tests.api.test_mcp import call as mcp_call
from tests.api.test_mcp import error_text, ok
from tests.helpers import new_ticket, problem_of
from tests.support.processes import ApiServer

JOHN, JANE, BOB, SARAH, MIKE, ADMIN = 1, 2, 3, 4, 5, 6


@pytest.fixture
def third_customer(clients: dict[str, httpx.Client]) -> httpx.Client:
    """Bob Wilson, user 3."""
    return clients["third_customer"]


def outbox(db: Session, ticket_id: int) -> list[dict[str, Any]]:
    db.rollback()
    rows = db.scalars(
        select(OutboxEvent.payload)
        .where(OutboxEvent.ticket_id == ticket_id)
        .order_by(OutboxEvent.id)
    )
    return [json.loads(row) for row in rows]


def history(db: Session, ticket_id: int, field: str) -> list[TicketHistory]:
    db.rollback()
    query = select(TicketHistory).where(
        TicketHistory.ticket_id == ticket_id, TicketHistory.field == field
    )
    return list(db.scalars(query.order_by(TicketHistory.id)))


def johns_ticket(agent: httpx.Client, **overrides: Any) -> dict[str, Any]:
    return new_ticket(agent, user_id=JOHN, **overrides)


def cc(client: httpx.Client, ticket_id: int, user_id: int) -> httpx.Response:
    return client.post(f"/tickets/{ticket_id}/ccs", json={"user_id": user_id})


def copied_on_janes_view(agent: httpx.Client) -> dict[str, Any]:
    """John's ticket with Jane copied on it."""
    ticket = johns_ticket(agent)
    assert cc(agent, ticket["id"], JANE).status_code == 201
    return ticket


@pytest.fixture
def inactive_user(admin: httpx.Client) -> dict[str, Any]:
    def make(role: str) -> dict[str, Any]:
        user = new_user(admin, role=role)
        response = admin.patch(f"/users/{user['id']}", json={"active": False})
        assert response.status_code == 200, response.text
        return user

    return {"customer": make("customer"), "agent": make("agent")}


# --- followers --------------------------------------------------------------------------------


def test_an_agent_follows_a_ticket_themselves_by_default(agent: httpx.Client) -> None:
    ticket = johns_ticket(agent)
    response = agent.post(f"/tickets/{ticket['id']}/followers")
    assert response.status_code == 201, response.text
    entry = response.json()
    assert entry["user"] == {"id": SARAH, "name": "Sarah Johnson"}
    assert entry["added_by"] == {"id": SARAH, "name": "Sarah Johnson"}
    view = agent.get(f"/tickets/{ticket['id']}").json()
    assert view["followers"] == [{"id": SARAH, "name": "Sarah Johnson"}]
    assert view["ccs"] == []
    listed = agent.get(f"/tickets/{ticket['id']}/followers").json()
    assert [item["user"]["id"] for item in listed] == [SARAH]


def test_an_agent_adds_another_agent_or_an_admin_as_follower(agent: httpx.Client) -> None:
    ticket = johns_ticket(agent)
    for user_id in (MIKE, ADMIN):
        response = agent.post(f"/tickets/{ticket['id']}/followers", json={"user_id": user_id})
        assert response.status_code == 201, response.text
    view = agent.get(f"/tickets/{ticket['id']}").json()
    assert [f["id"] for f in view["followers"]] == [MIKE, ADMIN]


def test_following_again_answers_200_and_records_nothing_new(
    agent: httpx.Client, db: Session
) -> None:
    ticket = johns_ticket(agent)
    first = agent.post(f"/tickets/{ticket['id']}/followers", json={"user_id": MIKE})
    events = len(outbox(db, ticket["id"]))
    again = agent.post(f"/tickets/{ticket['id']}/followers", json={"user_id": MIKE})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert len(outbox(db, ticket["id"])) == events
    assert len(history(db, ticket["id"], "followers")) == 1


def test_following_records_an_internal_history_row_and_a_ticket_updated_event(
    agent: httpx.Client, customer: httpx.Client, db: Session
) -> None:
    ticket = johns_ticket(agent)
    agent.post(f"/tickets/{ticket['id']}/followers")
    agent.post(f"/tickets/{ticket['id']}/followers", json={"user_id": MIKE})
    rows = history(db, ticket["id"], "followers")
    assert [(r.old_value, r.new_value, r.is_internal) for r in rows] == [
        (None, "Sarah Johnson", True),
        ("Sarah Johnson", "Sarah Johnson, Mike Chen", True),
    ]
    last = outbox(db, ticket["id"])[-1]
    assert last["type"] == "ticket.updated"
    assert last["data"]["changes"] == {
        "followers": {
            "from": [{"id": SARAH, "name": "Sarah Johnson"}],
            "to": [{"id": SARAH, "name": "Sarah Johnson"}, {"id": MIKE, "name": "Mike Chen"}],
        }
    }
    assert [f["id"] for f in last["data"]["ticket"]["followers"]] == [SARAH, MIKE]
    assert last["data"]["ticket"]["ccs"] == []
    assert last["data"]["actor"]["id"] == SARAH
    # Customers never see the rows.
    fields = [row["field"] for row in customer.get(f"/tickets/{ticket['id']}/history").json()]
    assert "followers" not in fields


def test_unfollowing_removes_the_follower_and_is_recorded(agent: httpx.Client, db: Session) -> None:
    ticket = johns_ticket(agent)
    agent.post(f"/tickets/{ticket['id']}/followers", json={"user_id": MIKE})
    response = agent.delete(f"/tickets/{ticket['id']}/followers/{MIKE}")
    assert response.status_code == 204, response.text
    assert agent.get(f"/tickets/{ticket['id']}").json()["followers"] == []
    last = outbox(db, ticket["id"])[-1]
    assert last["data"]["changes"]["followers"] == {
        "from": [{"id": MIKE, "name": "Mike Chen"}],
        "to": [],
    }
    assert history(db, ticket["id"], "followers")[-1].new_value is None


def test_removing_someone_who_does_not_follow_is_404(agent: httpx.Client) -> None:
    ticket = johns_ticket(agent)
    response = agent.delete(f"/tickets/{ticket['id']}/followers/{MIKE}")
    assert response.status_code == 404
    assert "not a follower" in problem_of(response)["detail"]


def test_following_does_not_change_the_tickets_version(agent: httpx.Client) -> None:
    ticket = johns_ticket(agent)
    agent.post(f"/tickets/{ticket['id']}/followers")
    assert agent.get(f"/tickets/{ticket['id']}").json()["version"] == ticket["version"]
    response = agent.patch(
        f"/tickets/{ticket['id']}",
        json={"title": "still at version 1"},
        headers={"If-Match": f'"{ticket["version"]}"'},
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("user_id", "message"),
    [(JOHN, "is a customer"), (999_999, "no active user")],
)
def test_a_follower_must_be_an_active_agent_or_admin(
    agent: httpx.Client, user_id: int, message: str
) -> None:
    ticket = johns_ticket(agent)
    response = agent.post(f"/tickets/{ticket['id']}/followers", json={"user_id": user_id})
    assert response.status_code == 422
    problem = problem_of(response)
    assert message in problem["detail"]
    assert [e["field"] for e in problem["errors"]] == ["user_id"]


def test_inactive_users_and_bots_cannot_follow(
    admin: httpx.Client, agent: httpx.Client, inactive_user: dict[str, Any]
) -> None:
    ticket = johns_ticket(agent)
    bot = new_user(admin, role="agent", is_bot=True)
    for user_id in (inactive_user["agent"]["id"], bot["id"]):
        response = agent.post(f"/tickets/{ticket['id']}/followers", json={"user_id": user_id})
        assert response.status_code == 422, response.text


def test_customers_can_never_see_or_change_followers(
    agent: httpx.Client, customer: httpx.Client
) -> None:
    ticket = johns_ticket(agent)
    agent.post(f"/tickets/{ticket['id']}/followers")
    base = f"/tickets/{ticket['id']}/followers"
    for response in (
        customer.get(base),
        customer.post(base, json={"user_id": SARAH}),
        customer.delete(f"{base}/{SARAH}"),
    ):
        assert response.status_code == 403, response.text
    view = customer.get(f"/tickets/{ticket['id']}").json()
    assert "followers" not in view
    listed = customer.get("/tickets", params={"limit": 200}).json()["items"]
    assert all("followers" not in item for item in listed)


# --- CCs --------------------------------------------------------------------------------------


def test_an_agent_copies_a_customer_on_a_ticket(
    agent: httpx.Client, customer: httpx.Client
) -> None:
    ticket = johns_ticket(agent)
    response = cc(agent, ticket["id"], JANE)
    assert response.status_code == 201, response.text
    assert response.json()["user"] == {"id": JANE, "name": "Jane Smith"}
    assert cc(agent, ticket["id"], JANE).status_code == 200  # already there
    jane = {"id": JANE, "name": "Jane Smith"}
    assert agent.get(f"/tickets/{ticket['id']}").json()["ccs"] == [jane]
    # The requester sees who is copied on their ticket, not who follows it.
    assert customer.get(f"/tickets/{ticket['id']}").json()["ccs"] == [jane]
    listed = customer.get(f"/tickets/{ticket['id']}/ccs").json()
    assert [entry["user"] for entry in listed] == [jane]


def test_a_cc_sees_the_ticket_its_public_replies_and_visible_history_only(
    agent: httpx.Client, other_customer: httpx.Client
) -> None:
    ticket = copied_on_janes_view(agent)
    agent.post(f"/tickets/{ticket['id']}/comments", json={"body": "public reply"})
    agent.post(f"/tickets/{ticket['id']}/comments", json={"body": "secret", "internal": True})
    view = other_customer.get(f"/tickets/{ticket['id']}")
    assert view.status_code == 200, view.text
    assert "followers" not in view.json()
    assert view.json()["comment_count"] == 1
    bodies = [c["body"] for c in other_customer.get(f"/tickets/{ticket['id']}/comments").json()]
    assert bodies == ["public reply"]
    rows = other_customer.get(f"/tickets/{ticket['id']}/history").json()
    assert [row["field"] for row in rows].count("ccs") == 1
    assert all(row["new_value"] != "secret" for row in rows)


def test_a_cc_finds_the_ticket_in_lists_and_search(
    agent: httpx.Client, other_customer: httpx.Client, db: Session
) -> None:
    word = f"zq{uuid.uuid4().hex[:10]}"
    ticket = johns_ticket(agent, title=f"printer {word}")
    not_copied = johns_ticket(agent, title=f"scanner {word}")
    cc(agent, ticket["id"], JANE)
    listed = other_customer.get("/tickets", params={"q": word}).json()
    assert [item["id"] for item in listed["items"]] == [ticket["id"]]
    assert listed["total"] == 1
    for each in (ticket, not_copied):
        index_ticket(db, ticket_id=each["id"])
    hits = other_customer.get("/search", params={"query": word}).json()["items"]
    assert [hit["ticket"]["id"] for hit in hits] == [ticket["id"]]


def test_a_cc_replies_publicly_but_writes_no_internal_note(
    agent: httpx.Client, other_customer: httpx.Client
) -> None:
    ticket = copied_on_janes_view(agent)
    reply = other_customer.post(f"/tickets/{ticket['id']}/comments", json={"body": "me too"})
    assert reply.status_code == 201, reply.text
    assert reply.json()["author"]["id"] == JANE
    note = other_customer.post(
        f"/tickets/{ticket['id']}/comments", json={"body": "x", "internal": True}
    )
    assert note.status_code == 403


@pytest.mark.parametrize(
    "change", [{"title": "mine now"}, {"status_id": 5}, {"tags": ["cc"]}, {"description": "x"}]
)
def test_a_cc_cannot_change_the_ticket(
    agent: httpx.Client, other_customer: httpx.Client, change: dict[str, Any]
) -> None:
    ticket = copied_on_janes_view(agent)
    response = other_customer.patch(f"/tickets/{ticket['id']}", json=change)
    assert response.status_code == 403, response.text
    assert "CC" in problem_of(response)["detail"]
    assert agent.get(f"/tickets/{ticket['id']}").json()["version"] == ticket["version"]


def test_removing_a_cc_takes_their_access_away(
    agent: httpx.Client, other_customer: httpx.Client, db: Session
) -> None:
    ticket = copied_on_janes_view(agent)
    assert other_customer.get(f"/tickets/{ticket['id']}").status_code == 200
    response = agent.delete(f"/tickets/{ticket['id']}/ccs/{JANE}")
    assert response.status_code == 204, response.text
    assert other_customer.get(f"/tickets/{ticket['id']}").status_code == 404
    assert other_customer.get(f"/tickets/{ticket['id']}/comments").status_code == 404
    reply = other_customer.post(f"/tickets/{ticket['id']}/comments", json={"body": "hello?"})
    assert reply.status_code == 404
    ids = [item["id"] for item in other_customer.get("/tickets").json()["items"]]
    assert ticket["id"] not in ids
    last = outbox(db, ticket["id"])[-1]
    assert last["data"]["changes"]["ccs"] == {
        "from": [{"id": JANE, "name": "Jane Smith"}],
        "to": [],
    }


def test_copying_records_a_customer_visible_history_row_and_an_event(
    agent: httpx.Client, customer: httpx.Client, db: Session
) -> None:
    ticket = copied_on_janes_view(agent)
    (row,) = history(db, ticket["id"], "ccs")
    assert (row.old_value, row.new_value, row.is_internal) == (None, "Jane Smith", False)
    visible = customer.get(f"/tickets/{ticket['id']}/history").json()
    assert [(r["field"], r["new_value"]) for r in visible if r["field"] == "ccs"] == [
        ("ccs", "Jane Smith")
    ]
    last = outbox(db, ticket["id"])[-1]
    assert last["type"] == "ticket.updated"
    assert last["data"]["changes"] == {
        "ccs": {"from": [], "to": [{"id": JANE, "name": "Jane Smith"}]}
    }
    assert last["data"]["ticket"]["ccs"] == [{"id": JANE, "name": "Jane Smith"}]
    assert last["data"]["ticket"]["followers"] == []


def test_a_cc_must_be_an_active_customer_other_than_the_requester(
    agent: httpx.Client, inactive_user: dict[str, Any]
) -> None:
    ticket = johns_ticket(agent)
    for user_id, message in (
        (JOHN, "requester"),
        (MIKE, "agent or admin"),
        (inactive_user["customer"]["id"], "no active user"),
        (999_999, "no active user"),
    ):
        response = cc(agent, ticket["id"], user_id)
        assert response.status_code == 422, response.text
        problem = problem_of(response)
        assert message in problem["detail"]
        assert [e["field"] for e in problem["errors"]] == ["user_id"]


def test_customers_do_not_add_ccs(agent: httpx.Client, customer: httpx.Client) -> None:
    ticket = johns_ticket(agent)
    response = cc(customer, ticket["id"], JANE)
    assert response.status_code == 403
    assert agent.get(f"/tickets/{ticket['id']}").json()["ccs"] == []


def test_the_requester_removes_a_cc_and_a_cc_removes_only_themselves(
    agent: httpx.Client,
    customer: httpx.Client,
    other_customer: httpx.Client,
    third_customer: httpx.Client,
) -> None:
    ticket = copied_on_janes_view(agent)
    assert cc(agent, ticket["id"], BOB).status_code == 201
    # Bob (a CC) cannot remove Jane; he can leave.
    assert third_customer.delete(f"/tickets/{ticket['id']}/ccs/{JANE}").status_code == 403
    assert third_customer.delete(f"/tickets/{ticket['id']}/ccs/{BOB}").status_code == 204
    # The requester removes Jane.
    assert customer.delete(f"/tickets/{ticket['id']}/ccs/{JANE}").status_code == 204
    assert agent.get(f"/tickets/{ticket['id']}").json()["ccs"] == []
    # Now neither sees it: a removal by them is as for any ticket they cannot see.
    assert other_customer.delete(f"/tickets/{ticket['id']}/ccs/{JANE}").status_code == 404


def test_a_ticket_holds_a_bounded_number_of_ccs(admin: httpx.Client, agent: httpx.Client) -> None:
    ticket = johns_ticket(agent)
    for _ in range(MAX_CCS):
        user = new_user(admin, role="customer")
        assert cc(agent, ticket["id"], user["id"]).status_code == 201
    one_more = new_user(admin, role="customer")
    response = cc(agent, ticket["id"], one_more["id"])
    assert response.status_code == 422
    assert f"at most {MAX_CCS}" in problem_of(response)["detail"]
    assert len(agent.get(f"/tickets/{ticket['id']}").json()["ccs"]) == MAX_CCS


def test_a_ccs_list_of_their_tickets_holds_their_own_and_copied_ones(
    admin: httpx.Client, agent: httpx.Client, api_server: ApiServer
) -> None:
    someone = new_user(admin, role="customer")
    own = new_ticket(agent, user_id=someone["id"])
    copied = johns_ticket(agent)
    cc(agent, copied["id"], someone["id"])
    johns_ticket(agent)  # neither
    with client_of(api_server.base_url, someone["email"]) as client:
        page = client.get("/tickets").json()
        assert sorted(item["id"] for item in page["items"]) == sorted([own["id"], copied["id"]])
        assert page["total"] == 2
        assert client.get("/stats").status_code == 403  # statistics stay staff-only


# --- bad input, unknown ids -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["followers", "ccs"])
def test_unknown_or_malformed_tickets_are_404(agent: httpx.Client, path: str) -> None:
    for ref in ("999999", "TKT-99999999", "not-a-ticket", "0"):
        assert agent.get(f"/tickets/{ref}/{path}").status_code == 404
        posted = agent.post(f"/tickets/{ref}/{path}", json={"user_id": JANE})
        assert posted.status_code == 404, posted.text
        assert agent.delete(f"/tickets/{ref}/{path}/{JANE}").status_code == 404


@pytest.mark.parametrize("path", ["followers", "ccs"])
@pytest.mark.parametrize(
    "body",
    [{"user_id": 0}, {"user_id": "two"}, {"user_id": 2**40}, {"user_id": 2, "extra": 1}, [2]],
)
def test_malformed_bodies_are_422_and_change_nothing(
    agent: httpx.Client, path: str, body: Any, db: Session
) -> None:
    ticket = johns_ticket(agent)
    events = len(outbox(db, ticket["id"]))
    response = agent.post(f"/tickets/{ticket['id']}/{path}", json=body)
    assert response.status_code == 422, response.text
    problem_of(response)
    assert len(outbox(db, ticket["id"])) == events


def test_a_cc_is_required_to_name_someone(agent: httpx.Client) -> None:
    ticket = johns_ticket(agent)
    response = agent.post(f"/tickets/{ticket['id']}/ccs", json={})
    assert response.status_code == 422


def test_a_customer_cannot_reach_the_ccs_of_a_ticket_they_do_not_see(
    agent: httpx.Client, other_customer: httpx.Client
) -> None:
    ticket = johns_ticket(agent)
    assert other_customer.get(f"/tickets/{ticket['id']}/ccs").status_code == 404
    assert other_customer.get(f"/tickets/{ticket['id']}").status_code == 404


# --- the cost of a ticket read ----------------------------------------------------------------


def _reads(ticket_id: int, *, user_id: int) -> list[str]:
    with transaction() as session:
        viewer = reference_cache.user(session, user_id=user_id)
        assert viewer is not None
        tickets.read_ticket(session, viewer=viewer, ref=str(ticket_id))  # warm the caches
        with statements_run(session) as reading:
            view = tickets.read_ticket(session, viewer=viewer, ref=str(ticket_id))
    assert view.id == ticket_id
    return reading


def test_reading_a_ticket_with_followers_and_ccs_is_still_one_statement(
    agent: httpx.Client,
) -> None:
    bare = johns_ticket(agent)
    busy = copied_on_janes_view(agent)
    agent.post(f"/tickets/{busy['id']}/followers", json={"user_id": MIKE})
    for ticket_id in (bare["id"], busy["id"]):
        assert len(_reads(ticket_id, user_id=SARAH)) == 1
    # The CC's own read is one statement too: their access rides on the same row.
    assert len(_reads(busy["id"], user_id=JANE)) == 1


def test_a_page_of_tickets_reads_their_followers_and_ccs_with_their_rows(
    agent: httpx.Client,
) -> None:
    tag = f"page{uuid.uuid4().hex[:8]}"
    made = [johns_ticket(agent, tags=[tag]) for _ in range(3)]
    for ticket in made:
        cc(agent, ticket["id"], JANE)
        agent.post(f"/tickets/{ticket['id']}/followers")
    with transaction() as session:
        viewer = reference_cache.user(session, user_id=SARAH)
        assert viewer is not None
        filters = TicketFilters(tag=tag)
        tickets.list_tickets(session, viewer=viewer, filters=filters)  # warm the caches
        with statements_run(session) as listing:
            items, total = tickets.list_tickets(session, viewer=viewer, filters=filters)
    assert total == 3
    assert all([c.id for c in item.ccs] == [JANE] for item in items)
    # The count, the page of ids, the rows: nothing per ticket.
    assert len(listing) == 3
    assert sum("ticket_followers" in sql for sql in listing) == 1


# --- MCP --------------------------------------------------------------------------------------


def test_staff_follow_and_copy_through_mcp_tools(
    agent: httpx.Client, api_server: ApiServer, api_keys: dict[str, str]
) -> None:
    ticket = johns_ticket(agent)
    key = api_keys["agent"]
    followed = ok(mcp_call(api_server, key, "follow_ticket", ticket=ticket["number"]))
    assert followed["user"]["id"] == SARAH
    copied = ok(mcp_call(api_server, key, "add_cc", ticket=ticket["id"], user_id=JANE))
    assert copied["user"]["id"] == JANE
    view = agent.get(f"/tickets/{ticket['id']}").json()
    assert ([f["id"] for f in view["followers"]], [c["id"] for c in view["ccs"]]) == (
        [SARAH],
        [JANE],
    )
    ok(mcp_call(api_server, key, "unfollow_ticket", ticket=ticket["id"]))
    ok(mcp_call(api_server, key, "remove_cc", ticket=ticket["id"], user_id=JANE))
    view = agent.get(f"/tickets/{ticket['id']}").json()
    assert (view["followers"], view["ccs"]) == ([], [])


def test_customers_are_refused_the_follower_and_cc_tools(
    agent: httpx.Client, api_server: ApiServer, api_keys: dict[str, str]
) -> None:
    ticket = johns_ticket(agent)
    key = api_keys["customer"]
    assert "Forbidden" in error_text(
        mcp_call(api_server, key, "follow_ticket", ticket=ticket["id"])
    )
    refused = mcp_call(api_server, key, "add_cc", ticket=ticket["id"], user_id=JANE)
    assert "Forbidden" in error_text(refused)
    wrong_role = mcp_call(
        api_server, api_keys["agent"], "add_cc", ticket=ticket["id"], user_id=MIKE
    )
    assert "user_id" in error_text(wrong_role)


def test_a_duplicate_added_concurrently_is_ignored_and_a_missing_removal_reported(
    agent: httpx.Client,
) -> None:
    """What a request of another process may have done since this one read the ticket's row:
    the insert ignores the duplicate (200, nothing recorded), the delete counts no row (404)."""
    ticket = copied_on_janes_view(agent)
    with transaction() as session:
        added = repository.add(
            session,
            ticket_ccs,
            ticket_id=ticket["id"],
            user_id=JANE,
            added_by_id=SARAH,
            at=utcnow(),
        )
        removed = repository.remove(session, ticket_ccs, ticket_id=ticket["id"], user_id=BOB)
    assert (added, removed) == (False, False)
    assert [c["id"] for c in agent.get(f"/tickets/{ticket['id']}").json()["ccs"]] == [JANE]


def test_a_cc_reads_the_ticket_through_mcp_without_followers(
    agent: httpx.Client, api_server: ApiServer, api_keys: dict[str, str]
) -> None:
    ticket = copied_on_janes_view(agent)
    agent.post(f"/tickets/{ticket['id']}/followers")
    seen = ok(mcp_call(api_server, api_keys["other_customer"], "get_ticket", ticket=ticket["id"]))
    assert seen["ccs"] == [{"id": JANE, "name": "Jane Smith"}]
    assert "followers" not in seen


def test_the_requesters_own_changes_answer_without_followers(
    agent: httpx.Client, customer: httpx.Client
) -> None:
    ticket = johns_ticket(agent)
    agent.post(f"/tickets/{ticket['id']}/followers")
    changed = customer.patch(f"/tickets/{ticket['id']}", json={"title": "Printer on fire"})
    assert changed.status_code == 200, changed.text
    assert "followers" not in changed.json()
    assert agent.get(f"/tickets/{ticket['id']}").json()["followers"] != []
