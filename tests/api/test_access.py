"""Invariant 7: who may see and do what.

Customers see and work only their own tickets, within narrow limits; agents work every ticket;
admins also run users and reference data. A request the rules refuse changes nothing.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.models import (
    Category,
    OutboxEvent,
    PriorityLevel,
    Status,
    Ticket,
    TicketComment,
    TicketHistory,
    User,
)
from tests.helpers import new_ticket, problem_of

JOHN, JANE, BOB, SARAH, MIKE, ADMIN = 1, 2, 3, 4, 5, 6
OPEN, IN_PROGRESS, WAITING, RESOLVED, CLOSED = 1, 2, 3, 4, 5
ACCOUNT_ACCESS, BILLING = 1, 2
CRITICAL, HIGH, MEDIUM, LOW = 1, 2, 3, 4

USER_IDS = {"customer": JOHN, "other_customer": JANE, "agent": SARAH, "admin": ADMIN}
STAFF = ["agent", "admin"]

_unique = itertools.count(1)


def _token() -> str:
    """A word no other test will put in a ticket, for `q` and `tag` filters."""
    return f"zq{uuid.uuid4().hex[:12]}"


def _fresh(db: Session) -> Session:
    """End the read snapshot so the next query sees what the server committed since."""
    db.rollback()
    db.expire_all()
    return db


def _count(db: Session, model: Any, *where: Any) -> int:
    return int(_fresh(db).scalar(select(func.count()).select_from(model).where(*where)) or 0)


def ticket_state(db: Session, ticket_id: int) -> dict[str, Any]:
    """Everything a ticket write could touch: the row, its tags, history, comments and events."""
    ticket = _fresh(db).get(Ticket, ticket_id)
    assert ticket is not None
    return {
        "version": ticket.version,
        "title": ticket.title,
        "description": ticket.description,
        "status_id": ticket.status_id,
        "priority_id": ticket.priority_id,
        "category_id": ticket.category_id,
        "assignee_id": ticket.assignee_id,
        "tags": sorted(tag.name for tag in ticket.tags),
        "history": _count(db, TicketHistory, TicketHistory.ticket_id == ticket_id),
        "comments": _count(db, TicketComment, TicketComment.ticket_id == ticket_id),
        "events": _count(db, OutboxEvent, OutboxEvent.ticket_id == ticket_id),
    }


def assert_forbidden(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 403, response.text
    return problem_of(response)


def assert_not_found(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 404, response.text
    return problem_of(response)


@pytest.fixture
def johns_ticket(customer: httpx.Client) -> dict[str, Any]:
    """A fresh ticket of the `customer` fixture (John), Open, Medium, unassigned."""
    return new_ticket(customer, tags=["access-test"])


@pytest.fixture
def janes_ticket(other_customer: httpx.Client) -> dict[str, Any]:
    """A fresh ticket of the `other_customer` fixture (Jane), with a word only it contains."""
    token = _token()
    return new_ticket(
        other_customer, title=f"Jane's private problem {token}", tags=[token, "access-test"]
    )


def _ref_forms(ticket: dict[str, Any]) -> dict[str, str]:
    number = ticket["number"]
    return {
        "id": str(ticket["id"]),
        "number": number,
        "lowercase number": number.lower(),
        "unpadded number": f"tkt-{ticket['id']}",
    }


# --- customers: another customer's ticket does not exist for them ------------------------------


@pytest.mark.parametrize("form", ["id", "number", "lowercase number", "unpadded number"])
def test_customer_cannot_read_another_customers_ticket(
    customer: httpx.Client, janes_ticket: dict[str, Any], form: str
) -> None:
    ref = _ref_forms(janes_ticket)[form]
    assert_not_found(customer.get(f"/tickets/{ref}"))


def test_customer_cannot_read_sample_ticket_of_another_customer_by_number(
    customer: httpx.Client,
) -> None:
    assert_not_found(customer.get("/tickets/TKT-002"))


def test_another_customers_ticket_looks_exactly_like_a_missing_one(
    customer: httpx.Client, janes_ticket: dict[str, Any]
) -> None:
    hidden = customer.get(f"/tickets/{janes_ticket['id']}")
    missing = customer.get("/tickets/999999999")
    assert hidden.status_code == missing.status_code == 404
    assert problem_of(hidden)["title"] == problem_of(missing)["title"]
    assert janes_ticket["title"] not in hidden.text


@pytest.mark.parametrize("form", ["id", "number"])
@pytest.mark.parametrize("path", ["comments", "history"])
def test_customer_cannot_read_another_customers_comments_or_history(
    customer: httpx.Client, janes_ticket: dict[str, Any], form: str, path: str
) -> None:
    ref = _ref_forms(janes_ticket)[form]
    assert_not_found(customer.get(f"/tickets/{ref}/{path}"))


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"user_id": JANE},
        {"q": "TOKEN"},
        {"tag": "TOKEN"},
        {"user_id": JANE, "q": "TOKEN"},
        {"status_id": OPEN, "category_id": ACCOUNT_ACCESS, "priority_id": MEDIUM},
        {"sort": "-id"},
        {"sort": "-updated_at"},
    ],
    ids=[
        "no filter",
        "user_id",
        "q",
        "tag",
        "user_id+q",
        "status+category+priority",
        "-id",
        "-upd",
    ],
)
def test_customer_list_never_contains_another_customers_ticket(
    customer: httpx.Client, janes_ticket: dict[str, Any], filters: dict[str, Any]
) -> None:
    token = next(tag for tag in janes_ticket["tags"] if tag != "access-test")
    params = {k: (token if v == "TOKEN" else v) for k, v in filters.items()}
    response = customer.get("/tickets", params={**params, "limit": 200})
    assert response.status_code == 200, response.text
    page = response.json()
    assert janes_ticket["id"] not in [item["id"] for item in page["items"]]
    assert {item["requester"]["id"] for item in page["items"]} <= {JOHN}


@pytest.mark.parametrize("params", [{"user_id": JANE}, {"user_id": BOB}, {"q": "TOKEN"}])
def test_customer_filtering_on_others_finds_nothing_at_all(
    customer: httpx.Client, janes_ticket: dict[str, Any], params: dict[str, Any]
) -> None:
    token = next(tag for tag in janes_ticket["tags"] if tag != "access-test")
    params = {k: (token if v == "TOKEN" else v) for k, v in params.items()}
    page = customer.get("/tickets", params=params).json()
    assert page["items"] == []
    assert page["total"] == 0


def test_customer_text_search_matches_only_own_tickets(
    customer: httpx.Client, other_customer: httpx.Client, agent: httpx.Client
) -> None:
    token = _token()
    mine = new_ticket(customer, description=f"My {token} is broken")
    theirs = new_ticket(other_customer, title=f"Their {token} too")

    seen_by_customer = customer.get("/tickets", params={"q": token}).json()
    seen_by_agent = agent.get("/tickets", params={"q": token}).json()

    assert [item["id"] for item in seen_by_customer["items"]] == [mine["id"]]
    assert seen_by_customer["total"] == 1
    assert {item["id"] for item in seen_by_agent["items"]} == {mine["id"], theirs["id"]}


def test_customer_list_total_counts_only_own_tickets(
    customer: httpx.Client, other_customer: httpx.Client, agent: httpx.Client
) -> None:
    tag = _token()
    new_ticket(customer, tags=[tag])
    new_ticket(other_customer, tags=[tag])
    new_ticket(other_customer, tags=[tag])
    assert customer.get("/tickets", params={"tag": tag}).json()["total"] == 1
    assert agent.get("/tickets", params={"tag": tag}).json()["total"] == 3


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("PATCH", "", {"title": "Hijacked"}),
        ("PUT", "", {"title": "Hijacked"}),
        ("PATCH", "", {"status_id": RESOLVED}),
        ("POST", "/comments", {"body": "Let me in"}),
    ],
    ids=["patch", "put", "close", "comment"],
)
def test_customer_cannot_write_to_another_customers_ticket(
    customer: httpx.Client,
    db: Session,
    janes_ticket: dict[str, Any],
    method: str,
    suffix: str,
    body: dict[str, Any],
) -> None:
    before = ticket_state(db, janes_ticket["id"])
    for ref in (janes_ticket["id"], janes_ticket["number"]):
        assert_not_found(customer.request(method, f"/tickets/{ref}{suffix}", json=body))
    assert ticket_state(db, janes_ticket["id"]) == before


# --- customers never see internal comments ----------------------------------------------------


@pytest.fixture
def ticket_with_internal_note(
    customer: httpx.Client, agent: httpx.Client, johns_ticket: dict[str, Any]
) -> dict[str, Any]:
    """John's ticket with one public reply and one internal note from the agent."""
    path = f"/tickets/{johns_ticket['id']}/comments"
    public = agent.post(path, json={"body": "We are looking into it."})
    internal = agent.post(path, json={"body": "Customer sounds like a reseller", "internal": True})
    assert public.status_code == internal.status_code == 201, (public.text, internal.text)
    return {
        "ticket": johns_ticket,
        "public": public.json(),
        "internal": internal.json(),
    }


def test_customer_comment_list_leaves_out_internal_comments(
    customer: httpx.Client, ticket_with_internal_note: dict[str, Any]
) -> None:
    ticket_id = ticket_with_internal_note["ticket"]["id"]
    comments = customer.get(f"/tickets/{ticket_id}/comments").json()
    assert [c["id"] for c in comments] == [ticket_with_internal_note["public"]["id"]]
    assert all(c["internal"] is False for c in comments)


@pytest.mark.parametrize("role", STAFF)
def test_staff_comment_list_includes_internal_comments(
    clients: dict[str, httpx.Client], ticket_with_internal_note: dict[str, Any], role: str
) -> None:
    ticket_id = ticket_with_internal_note["ticket"]["id"]
    comments = clients[role].get(f"/tickets/{ticket_id}/comments").json()
    assert [c["id"] for c in comments] == [
        ticket_with_internal_note["public"]["id"],
        ticket_with_internal_note["internal"]["id"],
    ]


def test_customer_comment_count_counts_public_comments_only(
    customer: httpx.Client, agent: httpx.Client, ticket_with_internal_note: dict[str, Any]
) -> None:
    ticket = ticket_with_internal_note["ticket"]
    assert customer.get(f"/tickets/{ticket['id']}").json()["comment_count"] == 1
    assert agent.get(f"/tickets/{ticket['id']}").json()["comment_count"] == 2


def test_customer_comment_count_in_lists_counts_public_comments_only(
    customer: httpx.Client, agent: httpx.Client, ticket_with_internal_note: dict[str, Any]
) -> None:
    ticket = ticket_with_internal_note["ticket"]
    params = {"user_id": JOHN, "sort": "-id", "limit": 200}

    def count_in_list(client: httpx.Client) -> int:
        items = client.get("/tickets", params=params).json()["items"]
        return int(next(item for item in items if item["id"] == ticket["id"])["comment_count"])

    assert count_in_list(customer) == 1
    assert count_in_list(agent) == 2


def test_customer_history_leaves_out_rows_of_internal_comments(
    customer: httpx.Client, agent: httpx.Client, ticket_with_internal_note: dict[str, Any]
) -> None:
    ticket_id = ticket_with_internal_note["ticket"]["id"]
    public_id = str(ticket_with_internal_note["public"]["id"])
    internal_id = str(ticket_with_internal_note["internal"]["id"])

    def comment_rows(client: httpx.Client) -> list[str]:
        history = client.get(f"/tickets/{ticket_id}/history").json()
        return [row["new_value"] for row in history if row["field"] == "comment"]

    assert comment_rows(customer) == [public_id]
    assert comment_rows(agent) == [public_id, internal_id]


def test_customer_history_still_shows_the_rest_of_the_audit_trail(
    customer: httpx.Client, ticket_with_internal_note: dict[str, Any]
) -> None:
    ticket_id = ticket_with_internal_note["ticket"]["id"]
    fields = [row["field"] for row in customer.get(f"/tickets/{ticket_id}/history").json()]
    assert fields == ["created", "comment", "first_response_at"]


# --- customers creating tickets ---------------------------------------------------------------


def _tickets_titled(db: Session, title: str) -> int:
    return _count(db, Ticket, Ticket.title == title)


@pytest.mark.parametrize(
    "extra",
    [
        {"user_id": JANE},
        {"requester_id": JANE},
        {"user_id": SARAH},
        {"assigned_to": SARAH},
        {"assignee_id": SARAH},
        {"assigned_to": ADMIN, "user_id": JOHN},
    ],
    ids=["user_id", "requester_id", "staff requester", "assigned_to", "assignee_id", "self+assign"],
)
def test_customer_cannot_create_ticket_for_others_or_assigned(
    customer: httpx.Client, db: Session, extra: dict[str, Any]
) -> None:
    title = f"Forbidden create {_token()}"
    body = {"title": title, "description": "x", "category_id": ACCOUNT_ACCESS, **extra}
    events_before = _count(db, OutboxEvent)
    assert_forbidden(customer.post("/tickets", json=body))
    assert _tickets_titled(db, title) == 0
    assert _count(db, OutboxEvent) == events_before


@pytest.mark.parametrize("extra", [{}, {"user_id": JOHN}, {"requester_id": JOHN}])
def test_customer_creates_ticket_for_themselves(
    customer: httpx.Client, extra: dict[str, Any]
) -> None:
    ticket = new_ticket(customer, **extra)
    assert ticket["requester"]["id"] == JOHN
    assert ticket["assignee"] is None


def test_customer_cannot_open_a_ticket_at_critical_priority(
    customer: httpx.Client, db: Session
) -> None:
    title = f"Everything is urgent {_token()}"
    body = {"title": title, "description": "x", "category_id": ACCOUNT_ACCESS}
    events_before = _count(db, OutboxEvent)

    problem = assert_forbidden(customer.post("/tickets", json={**body, "priority_id": CRITICAL}))

    assert [error["field"] for error in problem["errors"]] == ["priority_id"]
    assert _tickets_titled(db, title) == 0
    assert _count(db, OutboxEvent) == events_before


@pytest.mark.parametrize("priority", [HIGH, MEDIUM, LOW])
def test_customer_opens_a_ticket_at_any_other_priority(
    customer: httpx.Client, priority: int
) -> None:
    ticket = new_ticket(customer, priority_id=priority)
    assert ticket["priority"]["id"] == priority


@pytest.mark.parametrize("role", STAFF)
def test_staff_create_ticket_for_a_customer_and_assign_it(
    clients: dict[str, httpx.Client], role: str
) -> None:
    ticket = new_ticket(clients[role], user_id=BOB, assigned_to=MIKE, priority_id=CRITICAL)
    assert ticket["requester"]["id"] == BOB
    assert ticket["assignee"]["id"] == MIKE


# --- customers changing their own ticket ------------------------------------------------------


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
@pytest.mark.parametrize(
    "body",
    [
        {"priority_id": CRITICAL},
        {"category_id": BILLING},
        {"assigned_to": SARAH},
        {"assignee_id": SARAH},
        {"status_id": IN_PROGRESS},
        {"status_id": WAITING},
        {"title": "Also this", "priority_id": CRITICAL},
        {"tags": ["vip"], "category_id": BILLING},
    ],
    ids=[
        "priority",
        "category",
        "assign",
        "assignee_id",
        "in progress",
        "waiting",
        "title+priority",
        "tags+category",
    ],
)
def test_customer_cannot_change_staff_fields_of_own_ticket(
    customer: httpx.Client,
    db: Session,
    johns_ticket: dict[str, Any],
    method: str,
    body: dict[str, Any],
) -> None:
    before = ticket_state(db, johns_ticket["id"])
    assert_forbidden(customer.request(method, f"/tickets/{johns_ticket['id']}", json=body))
    assert ticket_state(db, johns_ticket["id"]) == before


def test_customer_cannot_unassign_own_ticket(
    customer: httpx.Client, agent: httpx.Client, db: Session, johns_ticket: dict[str, Any]
) -> None:
    path = f"/tickets/{johns_ticket['id']}"
    assert agent.patch(path, json={"assigned_to": SARAH}).status_code == 200
    before = ticket_state(db, johns_ticket["id"])
    assert_forbidden(customer.patch(path, json={"assigned_to": None}))
    assert ticket_state(db, johns_ticket["id"]) == before
    assert before["assignee_id"] == SARAH


def test_customer_may_send_back_unchanged_staff_fields(
    customer: httpx.Client, db: Session, johns_ticket: dict[str, Any]
) -> None:
    """A client that PUTs the ticket as it read it is not refused for fields it did not change."""
    before = ticket_state(db, johns_ticket["id"])
    response = customer.put(
        f"/tickets/{johns_ticket['id']}",
        json={
            "title": johns_ticket["title"],
            "priority_id": johns_ticket["priority"]["id"],
            "category_id": johns_ticket["category"]["id"],
            "status_id": johns_ticket["status"]["id"],
            "assigned_to": None,
        },
    )
    assert response.status_code == 200, response.text
    assert ticket_state(db, johns_ticket["id"]) == before


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
@pytest.mark.parametrize(
    ("body", "field", "expected"),
    [
        ({"title": "Now with more detail"}, "title", "Now with more detail"),
        ({"description": "It also fails on mobile"}, "description", "It also fails on mobile"),
        ({"tags": "mobile, Login"}, "tags", ["login", "mobile"]),
    ],
    ids=["title", "description", "tags"],
)
def test_customer_edits_title_description_and_tags_of_own_ticket(
    customer: httpx.Client,
    db: Session,
    johns_ticket: dict[str, Any],
    method: str,
    body: dict[str, Any],
    field: str,
    expected: Any,
) -> None:
    path = f"/tickets/{johns_ticket['id']}"
    before = ticket_state(db, johns_ticket["id"])
    response = customer.request(method, path, json=body)
    assert response.status_code == 200, response.text
    ticket = response.json()
    assert ticket[field] == expected
    assert ticket["version"] == johns_ticket["version"] + 1
    after = ticket_state(db, johns_ticket["id"])
    assert (after["version"], after["history"]) == (before["version"] + 1, before["history"] + 1)
    history = customer.get(f"{path}/history").json()
    assert history[-1]["field"] == field
    assert history[-1]["actor_id"] == JOHN


@pytest.mark.parametrize("closed_status", [RESOLVED, CLOSED])
def test_customer_closes_own_ticket(
    customer: httpx.Client, johns_ticket: dict[str, Any], closed_status: int
) -> None:
    response = customer.patch(f"/tickets/{johns_ticket['id']}", json={"status_id": closed_status})
    assert response.status_code == 200, response.text
    ticket = response.json()
    assert ticket["status"]["id"] == closed_status
    assert ticket["status"]["is_closed"] is True
    assert ticket["resolved_at"] is not None


def _close(client: httpx.Client, ticket: dict[str, Any], status_id: int) -> None:
    response = client.patch(f"/tickets/{ticket['id']}", json={"status_id": status_id})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
@pytest.mark.parametrize("closed_status", [RESOLVED, CLOSED])
@pytest.mark.parametrize("closed_by", ["customer", "agent"])
def test_customer_reopens_own_closed_ticket(
    clients: dict[str, httpx.Client],
    customer: httpx.Client,
    johns_ticket: dict[str, Any],
    method: str,
    closed_status: int,
    closed_by: str,
) -> None:
    _close(clients[closed_by], johns_ticket, closed_status)
    response = customer.request(method, f"/tickets/{johns_ticket['id']}", json={"status_id": OPEN})
    assert response.status_code == 200, response.text
    ticket = response.json()
    assert ticket["status"]["id"] == OPEN
    assert ticket["resolved_at"] is None
    assert ticket["closed_at"] is None


@pytest.mark.parametrize("target", [IN_PROGRESS, WAITING])
def test_customer_cannot_reopen_own_ticket_into_a_working_status(
    customer: httpx.Client, db: Session, johns_ticket: dict[str, Any], target: int
) -> None:
    _close(customer, johns_ticket, RESOLVED)
    before = ticket_state(db, johns_ticket["id"])
    response = customer.patch(f"/tickets/{johns_ticket['id']}", json={"status_id": target})
    assert_forbidden(response)
    assert ticket_state(db, johns_ticket["id"]) == before


def test_customer_cannot_move_a_ticket_an_agent_is_working_except_to_close_it(
    customer: httpx.Client, agent: httpx.Client, db: Session, johns_ticket: dict[str, Any]
) -> None:
    path = f"/tickets/{johns_ticket['id']}"
    assert agent.patch(path, json={"status_id": IN_PROGRESS}).status_code == 200
    before = ticket_state(db, johns_ticket["id"])
    for target in (OPEN, WAITING):
        assert_forbidden(customer.patch(path, json={"status_id": target}))
    assert ticket_state(db, johns_ticket["id"]) == before
    assert customer.patch(path, json={"status_id": RESOLVED}).status_code == 200


# --- comments ---------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["internal", "is_internal"])
def test_customer_cannot_write_internal_comments(
    customer: httpx.Client, db: Session, johns_ticket: dict[str, Any], flag: str
) -> None:
    before = ticket_state(db, johns_ticket["id"])
    response = customer.post(
        f"/tickets/{johns_ticket['id']}/comments", json={"body": "note to self", flag: True}
    )
    assert_forbidden(response)
    assert ticket_state(db, johns_ticket["id"]) == before


def test_customer_comments_publicly_on_own_ticket(
    customer: httpx.Client, johns_ticket: dict[str, Any]
) -> None:
    response = customer.post(
        f"/tickets/{johns_ticket['number']}/comments", json={"body": "Any news?"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["internal"] is False
    assert response.json()["author"]["id"] == JOHN


# --- staff work every ticket ------------------------------------------------------------------


@pytest.mark.parametrize("role", [*STAFF, "other_agent"])
@pytest.mark.parametrize("form", ["id", "number"])
def test_staff_read_any_customers_ticket_comments_and_history(
    clients: dict[str, httpx.Client], janes_ticket: dict[str, Any], role: str, form: str
) -> None:
    ref = _ref_forms(janes_ticket)[form]
    client = clients[role]
    assert client.get(f"/tickets/{ref}").json()["id"] == janes_ticket["id"]
    assert client.get(f"/tickets/{ref}/comments").status_code == 200
    assert client.get(f"/tickets/{ref}/history").json()[0]["field"] == "created"


@pytest.mark.parametrize("role", STAFF)
def test_staff_list_everyones_tickets(
    clients: dict[str, httpx.Client],
    johns_ticket: dict[str, Any],
    janes_ticket: dict[str, Any],
    role: str,
) -> None:
    items = clients[role].get("/tickets", params={"tag": "access-test", "sort": "-id"}).json()
    ids = [item["id"] for item in items["items"]]
    assert {johns_ticket["id"], janes_ticket["id"]} <= set(ids)
    only_jane = clients[role].get("/tickets", params={"user_id": JANE, "sort": "-id"}).json()
    assert janes_ticket["id"] in [item["id"] for item in only_jane["items"]]
    assert {item["requester"]["id"] for item in only_jane["items"]} == {JANE}


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
@pytest.mark.parametrize("role", [*STAFF, "other_agent"])
@pytest.mark.parametrize(
    ("body", "check"),
    [
        ({"assigned_to": SARAH}, ("assignee", "id", SARAH)),
        ({"assigned_to": MIKE}, ("assignee", "id", MIKE)),
        ({"status_id": IN_PROGRESS}, ("status", "id", IN_PROGRESS)),
        ({"status_id": WAITING}, ("status", "id", WAITING)),
        ({"priority_id": CRITICAL}, ("priority", "id", CRITICAL)),
        ({"category_id": BILLING}, ("category", "id", BILLING)),
        ({"title": "Retitled by support"}, ("title", None, "Retitled by support")),
    ],
    ids=["assign sarah", "assign mike", "in progress", "waiting", "priority", "category", "title"],
)
def test_staff_change_any_field_of_any_ticket(
    clients: dict[str, httpx.Client],
    janes_ticket: dict[str, Any],
    method: str,
    role: str,
    body: dict[str, Any],
    check: tuple[str, str | None, Any],
) -> None:
    response = clients[role].request(method, f"/tickets/{janes_ticket['id']}", json=body)
    assert response.status_code == 200, response.text
    key, sub, expected = check
    value = response.json()[key]
    assert (value[sub] if sub else value) == expected


@pytest.mark.parametrize("role", STAFF)
def test_staff_unassign_a_ticket(
    clients: dict[str, httpx.Client], janes_ticket: dict[str, Any], role: str
) -> None:
    path = f"/tickets/{janes_ticket['id']}"
    assert clients[role].patch(path, json={"assigned_to": MIKE}).status_code == 200
    response = clients[role].patch(path, json={"assigned_to": None})
    assert response.status_code == 200, response.text
    assert response.json()["assignee"] is None


@pytest.mark.parametrize("role", STAFF)
def test_staff_reopen_into_any_open_status(
    clients: dict[str, httpx.Client], janes_ticket: dict[str, Any], role: str
) -> None:
    _close(clients[role], janes_ticket, CLOSED)
    response = clients[role].patch(
        f"/tickets/{janes_ticket['id']}", json={"status_id": IN_PROGRESS}
    )
    assert response.status_code == 200, response.text
    assert response.json()["closed_at"] is None


@pytest.mark.parametrize("role", [*STAFF, "other_agent"])
@pytest.mark.parametrize("internal", [True, False])
def test_staff_write_internal_and_public_comments_on_any_ticket(
    clients: dict[str, httpx.Client], janes_ticket: dict[str, Any], role: str, internal: bool
) -> None:
    response = clients[role].post(
        f"/tickets/{janes_ticket['id']}/comments",
        json={"body": "Checked the logs", "internal": internal},
    )
    assert response.status_code == 201, response.text
    assert response.json()["internal"] is internal


# --- users ------------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [{}, {"role": "agent"}, {"role": "customer"}])
def test_customer_cannot_list_users(customer: httpx.Client, params: dict[str, Any]) -> None:
    assert_forbidden(customer.get("/users", params=params))


@pytest.mark.parametrize("role", [*STAFF, "other_agent"])
def test_staff_list_users(clients: dict[str, httpx.Client], role: str) -> None:
    page = clients[role].get("/users", params={"limit": 200}).json()
    ids = {user["id"] for user in page["items"]}
    assert {JOHN, JANE, BOB, SARAH, MIKE, ADMIN} <= ids


@pytest.mark.parametrize(("role", "user_id"), [("customer", JOHN), ("other_customer", JANE)])
def test_customer_reads_own_user(clients: dict[str, httpx.Client], role: str, user_id: int) -> None:
    for path in (f"/users/{user_id}", "/users/me"):
        response = clients[role].get(path)
        assert response.status_code == 200, response.text
        assert response.json()["id"] == user_id


@pytest.mark.parametrize("user_id", [JANE, BOB, SARAH, ADMIN, 999_999])
def test_customer_cannot_read_other_users(customer: httpx.Client, user_id: int) -> None:
    problem = assert_not_found(customer.get(f"/users/{user_id}"))
    assert "@" not in problem["detail"]


@pytest.mark.parametrize("role", [*STAFF, "other_agent"])
@pytest.mark.parametrize("user_id", [JOHN, JANE, SARAH, ADMIN])
def test_staff_read_any_user(clients: dict[str, httpx.Client], role: str, user_id: int) -> None:
    response = clients[role].get(f"/users/{user_id}")
    assert response.status_code == 200, response.text
    assert response.json()["id"] == user_id


@pytest.mark.parametrize("role", ["customer", "other_customer", "agent", "other_agent", "admin"])
def test_everyone_reads_themselves(clients: dict[str, httpx.Client], role: str) -> None:
    expected = {"customer": JOHN, "other_customer": JANE, "agent": SARAH, "other_agent": MIKE}
    assert clients[role].get("/users/me").json()["id"] == expected.get(role, ADMIN)


@pytest.mark.parametrize("role", ["customer", "agent", "other_agent"])
@pytest.mark.parametrize("new_role", ["customer", "agent", "admin"])
def test_non_admins_cannot_create_users(
    clients: dict[str, httpx.Client], db: Session, role: str, new_role: str
) -> None:
    email = f"intruder-{_token()}@example.com"
    body = {"name": "Intruder", "email": email, "role": new_role}
    users_before = _count(db, User)
    assert_forbidden(clients[role].post("/users", json=body))
    assert _count(db, User, User.email == email) == 0
    assert _count(db, User) == users_before


def _user_row(db: Session, user_id: int) -> tuple[Any, ...]:
    user = _fresh(db).get(User, user_id)
    assert user is not None
    return (user.name, user.email, user.role, user.active, user.updated_at)


@pytest.mark.parametrize(
    ("role", "target"),
    [
        ("customer", JOHN),
        ("customer", JANE),
        ("customer", SARAH),
        ("agent", SARAH),
        ("agent", JOHN),
        ("agent", MIKE),
        ("other_agent", ADMIN),
    ],
)
@pytest.mark.parametrize(
    "body",
    [{"role": "admin"}, {"name": "Renamed"}, {"active": False}],
    ids=["promote", "rename", "deactivate"],
)
def test_non_admins_cannot_change_users(
    clients: dict[str, httpx.Client], db: Session, role: str, target: int, body: dict[str, Any]
) -> None:
    before = _user_row(db, target)
    response = clients[role].patch(f"/users/{target}", json=body)
    assert response.status_code in (403, 404), response.text
    problem_of(response)
    assert _user_row(db, target) == before


@pytest.mark.parametrize(("role", "target"), [("customer", JOHN), ("agent", SARAH)])
def test_non_admins_cannot_change_even_themselves(
    clients: dict[str, httpx.Client], role: str, target: int
) -> None:
    assert_forbidden(clients[role].patch(f"/users/{target}", json={"name": "Me, renamed"}))


def test_admin_creates_and_changes_users(admin: httpx.Client) -> None:
    email = f"new-agent-{_token()}@example.com"
    created = admin.post("/users", json={"name": "New Agent", "email": email, "role": "agent"})
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    changed = admin.patch(f"/users/{user_id}", json={"name": "Renamed Agent", "active": False})
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "Renamed Agent"
    assert changed.json()["active"] is False


# --- reference data ---------------------------------------------------------------------------

REFERENCE = {
    "categories": (
        Category,
        lambda name: {"name": name, "sla_hours": 5, "active": False},
    ),
    "priorities": (
        PriorityLevel,
        lambda name: {"name": name, "rank": 999, "sla_hours": 500, "colour": "#123456"},
    ),
    "statuses": (
        Status,
        lambda name: {"name": name, "colour": "#123456", "position": 999},
    ),
}
SAMPLE_ROW = {"categories": ACCOUNT_ACCESS, "priorities": MEDIUM, "statuses": OPEN}


@pytest.mark.parametrize("role", ["customer", "agent", "admin"])
@pytest.mark.parametrize("resource", sorted(REFERENCE))
def test_everyone_reads_reference_data(
    clients: dict[str, httpx.Client], role: str, resource: str
) -> None:
    listed = clients[role].get(f"/{resource}")
    assert listed.status_code == 200, listed.text
    assert SAMPLE_ROW[resource] in [row["id"] for row in listed.json()]
    one = clients[role].get(f"/{resource}/{SAMPLE_ROW[resource]}")
    assert one.status_code == 200, one.text


@pytest.mark.parametrize("role", ["customer", "agent", "other_agent"])
@pytest.mark.parametrize("resource", sorted(REFERENCE))
def test_non_admins_cannot_create_reference_data(
    clients: dict[str, httpx.Client], db: Session, role: str, resource: str
) -> None:
    model, body_for = REFERENCE[resource]
    name = f"Forbidden {_token()}"
    rows_before = _count(db, model)
    assert_forbidden(clients[role].post(f"/{resource}", json=body_for(name)))
    assert _count(db, model) == rows_before
    assert _count(db, model, model.name == name) == 0


def _reference_row(db: Session, model: Any, row_id: int) -> dict[str, Any]:
    row = _fresh(db).get(model, row_id)
    assert row is not None
    return {column.key: getattr(row, column.key) for column in model.__table__.columns}


@pytest.mark.parametrize("role", ["customer", "agent", "other_agent"])
@pytest.mark.parametrize(
    ("resource", "body"),
    [
        ("categories", {"sla_hours": 1}),
        ("categories", {"active": False}),
        ("priorities", {"sla_hours": 1000}),
        ("priorities", {"name": "Whenever"}),
        ("statuses", {"is_closed": True}),
        ("statuses", {"position": 1000}),
    ],
)
def test_non_admins_cannot_change_reference_data(
    clients: dict[str, httpx.Client], db: Session, role: str, resource: str, body: dict[str, Any]
) -> None:
    model, _ = REFERENCE[resource]
    row_id = SAMPLE_ROW[resource]
    before = _reference_row(db, model, row_id)
    assert_forbidden(clients[role].patch(f"/{resource}/{row_id}", json=body))
    assert _reference_row(db, model, row_id) == before


def test_admin_creates_and_changes_a_category(admin: httpx.Client) -> None:
    # Inactive, so no other test can file a ticket under it by accident.
    name = f"Admin made {_token()}"
    created = admin.post("/categories", json={"name": name, "sla_hours": 5, "active": False})
    assert created.status_code == 201, created.text
    changed = admin.patch(f"/categories/{created.json()['id']}", json={"sla_hours": 7})
    assert changed.status_code == 200, changed.text
    assert changed.json()["sla_hours"] == 7


@pytest.mark.parametrize("resource", sorted(REFERENCE))
def test_admin_may_patch_every_kind_of_reference_data(admin: httpx.Client, resource: str) -> None:
    # Writing back the current description changes nothing another test could notice.
    path = f"/{resource}/{SAMPLE_ROW[resource]}"
    current = admin.get(path).json()
    response = admin.patch(path, json={"description": current["description"]})
    assert response.status_code == 200, response.text
    assert response.json() == current


# --- the ?user_id= compatibility parameter ----------------------------------------------------

ACTING_WRITES = {
    "patch ticket": ("PATCH", "/tickets/{id}", {"title": "Renamed with user_id"}),
    "put ticket": ("PUT", "/tickets/{id}", {"description": "Described with user_id"}),
    "post comment": ("POST", "/tickets/{id}/comments", {"body": "Commented with user_id"}),
}


@pytest.mark.parametrize("role", ["customer", "agent", "admin"])
@pytest.mark.parametrize("write", sorted(ACTING_WRITES))
def test_user_id_query_equal_to_the_key_user_is_accepted(
    clients: dict[str, httpx.Client], johns_ticket: dict[str, Any], role: str, write: str
) -> None:
    method, template, body = ACTING_WRITES[write]
    response = clients[role].request(
        method,
        template.format(id=johns_ticket["id"]),
        params={"user_id": USER_IDS[role]},
        json=body,
    )
    assert response.status_code in (200, 201), response.text


@pytest.mark.parametrize(
    ("role", "claimed"),
    [("customer", JANE), ("customer", SARAH), ("agent", JOHN), ("agent", MIKE), ("admin", JOHN)],
)
@pytest.mark.parametrize("write", sorted(ACTING_WRITES))
def test_user_id_query_naming_someone_else_is_forbidden_and_changes_nothing(
    clients: dict[str, httpx.Client],
    db: Session,
    johns_ticket: dict[str, Any],
    role: str,
    claimed: int,
    write: str,
) -> None:
    method, template, body = ACTING_WRITES[write]
    before = ticket_state(db, johns_ticket["id"])
    response = clients[role].request(
        method, template.format(id=johns_ticket["id"]), params={"user_id": claimed}, json=body
    )
    assert_forbidden(response)
    assert ticket_state(db, johns_ticket["id"]) == before


@pytest.mark.parametrize("role", ["customer", "agent", "admin"])
def test_user_id_query_on_create_equal_to_the_key_user_is_accepted(
    clients: dict[str, httpx.Client], role: str
) -> None:
    body = {"title": f"Created with user_id {next(_unique)}", "description": "x", "category_id": 1}
    response = clients[role].post("/tickets", params={"user_id": USER_IDS[role]}, json=body)
    assert response.status_code == 201, response.text
    assert response.json()["requester"]["id"] == USER_IDS[role]


@pytest.mark.parametrize(
    ("role", "claimed", "requester"),
    [
        ("customer", JANE, None),
        ("customer", JANE, JANE),
        ("agent", MIKE, JOHN),
        ("admin", SARAH, None),
    ],
)
def test_user_id_query_on_create_naming_someone_else_is_forbidden(
    clients: dict[str, httpx.Client], db: Session, role: str, claimed: int, requester: int | None
) -> None:
    title = f"Not created {_token()}"
    body: dict[str, Any] = {"title": title, "description": "x", "category_id": 1}
    if requester is not None:
        body["user_id"] = requester
    events_before = _count(db, OutboxEvent)
    assert_forbidden(clients[role].post("/tickets", params={"user_id": claimed}, json=body))
    assert _tickets_titled(db, title) == 0
    assert _count(db, OutboxEvent) == events_before


# --- no key, no access ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/tickets"),
        ("GET", "/tickets/1"),
        ("GET", "/tickets/TKT-001/comments"),
        ("GET", "/tickets/TKT-001/history"),
        ("POST", "/tickets"),
        ("PATCH", "/tickets/1"),
        ("GET", "/users/me"),
        ("GET", "/users"),
        ("GET", "/categories"),
        ("POST", "/statuses"),
    ],
)
def test_requests_without_a_key_are_401(anonymous: httpx.Client, method: str, path: str) -> None:
    response = anonymous.request(method, path, json={} if method != "GET" else None)
    assert response.status_code == 401, response.text
    problem_of(response)
