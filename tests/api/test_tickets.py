"""Tickets: create, read, list, update, their audit trail and outbox events, ETags, idempotency."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.models import OutboxEvent, Ticket, TicketHistory
from tests.helpers import new_ticket, problem_of

RFC3339_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")

SARAH = {"id": 4, "name": "Sarah Johnson", "email": "sarah.johnson@example.com", "role": "agent"}


def unique(prefix: str = "") -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def outbox(db: Session, ticket_id: int) -> list[dict[str, Any]]:
    """The ticket's outbox envelopes, oldest first, as committed right now."""
    db.rollback()  # end the read transaction: WAL would otherwise keep showing its snapshot
    rows = db.scalars(
        select(OutboxEvent).where(OutboxEvent.ticket_id == ticket_id).order_by(OutboxEvent.id)
    ).all()
    envelopes = []
    for row in rows:
        envelope = json.loads(row.payload)
        assert envelope["id"] == row.event_id
        assert envelope["type"] == row.event_type
        envelopes.append(envelope)
    return envelopes


def event_types(db: Session, ticket_id: int) -> list[str]:
    return [envelope["type"] for envelope in outbox(db, ticket_id)]


def history_rows(db: Session, ticket_id: int) -> list[TicketHistory]:
    db.rollback()
    return list(
        db.scalars(
            select(TicketHistory)
            .where(TicketHistory.ticket_id == ticket_id)
            .order_by(TicketHistory.id)
        )
    )


def tickets_titled(db: Session, title: str) -> int:
    db.rollback()
    return db.scalar(select(func.count()).select_from(Ticket).where(Ticket.title == title)) or 0


def ids(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


# --- create ---------------------------------------------------------------------------------


def test_created_ticket_starts_open_with_number_version_etag_and_location(
    agent: httpx.Client,
) -> None:
    response = agent.post(
        "/tickets", json={"title": "Printer on fire", "description": "Smoke", "category_id": 3}
    )
    assert response.status_code == 201, response.text
    ticket = response.json()
    assert ticket["number"] == f"TKT-{ticket['id']:03d}"
    assert ticket["status"]["name"] == "Open"
    assert ticket["category"] == {"id": 3, "name": "Technical Support"}
    assert ticket["version"] == 1
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Location"] == f"/tickets/{ticket['id']}"


@pytest.mark.parametrize(
    "tags",
    [" Login, PASSWORD ,login,,vpn access", ["Login", " PASSWORD ", "login", "vpn access"]],
    ids=["comma-separated", "list"],
)
def test_tags_are_lowercased_trimmed_deduplicated_and_sorted(
    customer: httpx.Client, tags: str | list[str]
) -> None:
    ticket = new_ticket(customer, tags=tags)
    assert ticket["tags"] == ["login", "password", "vpn access"]


@pytest.mark.parametrize(
    "tags", ["bad/tag", ["x" * 51], [f"t{n}" for n in range(21)]], ids=["slash", "long", "21"]
)
def test_invalid_tags_are_rejected_with_422(customer: httpx.Client, db: Session, tags: Any) -> None:
    title = unique("bad tags ")
    response = customer.post(
        "/tickets", json={"title": title, "description": "d", "category_id": 1, "tags": tags}
    )
    assert response.status_code == 422
    problem_of(response)
    assert tickets_titled(db, title) == 0


def test_priority_defaults_to_medium_when_omitted(customer: httpx.Client) -> None:
    response = customer.post(
        "/tickets", json={"title": "No priority", "description": "d", "category_id": 6}
    )
    assert response.status_code == 201, response.text
    assert response.json()["priority"]["name"] == "Medium"


@pytest.mark.parametrize("field", ["user_id", "requester_id"])
def test_agent_creates_ticket_on_behalf_of_customer(
    agent: httpx.Client, customer: httpx.Client, field: str
) -> None:
    ticket = new_ticket(agent, **{field: 1})
    assert ticket["requester"]["id"] == 1
    assert ticket["requester"]["name"] == "John Doe"
    # the customer sees it as theirs, and the audit trail names the agent who filed it
    assert customer.get(f"/tickets/{ticket['id']}").status_code == 200
    created = agent.get(f"/tickets/{ticket['id']}/history").json()[0]
    assert (created["field"], created["actor_id"]) == ("created", 4)


def test_customer_cannot_create_a_ticket_for_someone_else(
    customer: httpx.Client, db: Session
) -> None:
    title = unique("for jane ")
    response = customer.post(
        "/tickets", json={"title": title, "description": "d", "category_id": 1, "user_id": 2}
    )
    assert response.status_code == 403
    assert tickets_titled(db, title) == 0


def test_creation_writes_a_created_history_row_and_a_ticket_created_event(
    customer: httpx.Client, db: Session
) -> None:
    ticket = new_ticket(customer)
    [row] = history_rows(db, ticket["id"])
    assert (row.field, row.actor_id, row.new_value) == ("created", 1, ticket["number"])
    [event] = outbox(db, ticket["id"])
    assert event["type"] == "ticket.created"
    assert event["data"]["ticket"]["id"] == ticket["id"]
    assert event["data"]["actor"]["id"] == 1


@pytest.mark.parametrize("field", ["assigned_to", "assignee_id"])
def test_assigning_at_creation_emits_created_then_assigned(
    agent: httpx.Client, db: Session, field: str
) -> None:
    ticket = new_ticket(agent, user_id=1, **{field: 5})
    assert ticket["assignee"]["name"] == "Mike Chen"
    created, assigned = outbox(db, ticket["id"])
    assert created["type"] == "ticket.created"
    assert assigned["type"] == "ticket.assigned"
    assert assigned["data"]["changes"] == {
        "assignee": {"from": None, "to": {"id": 5, "name": "Mike Chen"}}
    }
    assert assigned["data"]["ticket"]["assignee"]["id"] == 5


def test_assigning_at_creation_to_a_customer_is_422(agent: httpx.Client, db: Session) -> None:
    title = unique("assign to customer ")
    response = agent.post(
        "/tickets", json={"title": title, "description": "d", "category_id": 1, "assigned_to": 2}
    )
    assert response.status_code == 422
    assert tickets_titled(db, title) == 0


# --- get --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ref",
    [
        lambda t: str(t["id"]),
        lambda t: t["number"],
        lambda t: f"tkt-{t['id']}",
        lambda t: f"TKT-{t['id']:06d}",
    ],
    ids=["id", "TKT-0NN", "tkt-N", "zero-padded"],
)
def test_ticket_is_found_by_id_and_by_number_in_any_case(
    agent: httpx.Client, ref: Callable[[dict[str, Any]], str]
) -> None:
    ticket = new_ticket(agent)
    response = agent.get(f"/tickets/{ref(ticket)}")
    assert response.status_code == 200, response.text
    assert response.json()["id"] == ticket["id"]


@pytest.mark.parametrize("ref", ["TKT-001", "tkt-1", "1"])
def test_sample_ticket_one_is_found_as_tkt_001_and_tkt_1(agent: httpx.Client, ref: str) -> None:
    response = agent.get(f"/tickets/{ref}")
    assert response.status_code == 200
    assert response.json()["number"] == "TKT-001"


@pytest.mark.parametrize("ref", ["999999", "TKT-999999", "abc", "TKT-", "TKT-1x"])
def test_unknown_ticket_ref_is_404(agent: httpx.Client, ref: str) -> None:
    response = agent.get(f"/tickets/{ref}")
    assert response.status_code == 404
    problem_of(response)


def test_get_returns_etag_equal_to_the_version(agent: httpx.Client) -> None:
    ticket = new_ticket(agent)
    response = agent.get(f"/tickets/{ticket['number']}")
    assert response.headers["ETag"] == f'"{response.json()["version"]}"'


# --- list -------------------------------------------------------------------------------------


class Listing:
    """Three tickets sharing a marker in their titles, created in the order a, b, c."""

    def __init__(self, clients: dict[str, httpx.Client]) -> None:
        agent = clients["agent"]
        self.marker = unique("mk")
        self.tag = unique("tag-")
        # Critical: opened by an agent for the customer (customers cannot choose Critical).
        self.a = new_ticket(
            agent,
            user_id=1,
            title=f"{self.marker} alpha",
            category_id=1,
            priority_id=1,
            tags=[self.tag],
        )
        self.b = new_ticket(
            agent,
            title=f"{self.marker} bravo",
            user_id=2,
            category_id=2,
            priority_id=4,
            assigned_to=5,
        )
        moved = agent.patch(f"/tickets/{self.b['id']}", json={"status_id": 2})
        assert moved.status_code == 200, moved.text
        self.c = new_ticket(
            agent,
            title=f"{self.marker} charlie",
            user_id=3,
            category_id=3,
            priority_id=2,
            assigned_to=4,
            tags=[self.tag, "other"],
        )

    def by_name(self, names: str) -> list[int]:
        return [getattr(self, name)["id"] for name in names]


@pytest.fixture(scope="module")
def listing(clients: dict[str, httpx.Client]) -> Listing:
    return Listing(clients)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status_id": 2}, "b"),
        ({"status_id": 1}, "ac"),
        ({"priority_id": 1}, "a"),
        ({"category_id": 3}, "c"),
        ({"assigned_to": 5}, "b"),
        ({"user_id": 2}, "b"),
        ({"user_id": 1}, "a"),
        ({"tag": "TAG"}, "ac"),
    ],
)
def test_list_filters_narrow_the_result(
    agent: httpx.Client, listing: Listing, params: dict[str, Any], expected: str
) -> None:
    params = {k: (listing.tag if v == "TAG" else v) for k, v in params.items()}
    response = agent.get("/tickets", params={"q": listing.marker, **params})
    assert sorted(ids(response)) == sorted(listing.by_name(expected))
    assert response.json()["total"] == len(expected)


def test_tag_filter_alone_finds_exactly_the_tagged_tickets(
    agent: httpx.Client, listing: Listing
) -> None:
    response = agent.get("/tickets", params={"tag": listing.tag.upper()})
    assert sorted(ids(response)) == sorted(listing.by_name("ac"))


def test_created_after_is_inclusive_and_created_before_is_exclusive(
    agent: httpx.Client, listing: Listing
) -> None:
    moment = listing.b["created_at"]
    after = agent.get("/tickets", params={"q": listing.marker, "created_after": moment})
    before = agent.get("/tickets", params={"q": listing.marker, "created_before": moment})
    assert sorted(ids(after)) == sorted(listing.by_name("bc"))
    assert ids(before) == listing.by_name("a")


def test_created_after_honours_a_non_utc_offset(agent: httpx.Client, listing: Listing) -> None:
    moment = datetime.fromisoformat(listing.b["created_at"]).astimezone(
        timezone(timedelta(hours=2))
    )
    after = agent.get("/tickets", params={"q": listing.marker, "created_after": moment.isoformat()})
    assert sorted(ids(after)) == sorted(listing.by_name("bc"))


def test_created_after_without_an_offset_means_utc(agent: httpx.Client, listing: Listing) -> None:
    naive = datetime.fromisoformat(listing.b["created_at"]).replace(tzinfo=None).isoformat()
    after = agent.get("/tickets", params={"q": listing.marker, "created_after": naive})
    assert sorted(ids(after)) == sorted(listing.by_name("bc"))


def test_created_filters_accept_a_bare_date(agent: httpx.Client, listing: Listing) -> None:
    after = agent.get("/tickets", params={"q": listing.marker, "created_after": "2000-01-01"})
    before = agent.get("/tickets", params={"q": listing.marker, "created_before": "2000-01-01"})
    assert (len(ids(after)), ids(before)) == (3, [])


def test_q_matches_title_or_description_case_insensitively(agent: httpx.Client) -> None:
    word = unique("Zq")
    in_title = new_ticket(agent, title=f"About {word.upper()} here")
    in_description = new_ticket(agent, description=f"see {word.lower()} below")
    new_ticket(agent, title=f"{word[:-1]} nearly")
    response = agent.get("/tickets", params={"q": word})
    assert sorted(ids(response)) == sorted([in_title["id"], in_description["id"]])


def test_q_treats_percent_and_underscore_literally(agent: httpx.Client) -> None:
    word = unique("pc")
    literal = new_ticket(agent, title=f"{word} 100% done")
    new_ticket(agent, title=f"{word} 100x done")
    assert ids(agent.get("/tickets", params={"q": f"{word} 100%"})) == [literal["id"]]
    assert ids(agent.get("/tickets", params={"q": f"{word} 10_"})) == []


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (None, "cba"),
        ("-created_at", "cba"),
        ("created_at", "abc"),
        ("priority", "acb"),  # Critical, High, Low: the most urgent first
        ("-priority", "bca"),
        ("id", "abc"),
        ("-id", "cba"),
    ],
)
def test_list_sorting(
    agent: httpx.Client, listing: Listing, sort: str | None, expected: str
) -> None:
    params: dict[str, Any] = {"q": listing.marker}
    if sort is not None:
        params["sort"] = sort
    assert ids(agent.get("/tickets", params=params)) == listing.by_name(expected)


def test_limit_and_offset_page_through_the_sorted_result(
    agent: httpx.Client, listing: Listing
) -> None:
    first = agent.get("/tickets", params={"q": listing.marker, "limit": 2}).json()
    second = agent.get("/tickets", params={"q": listing.marker, "limit": 2, "offset": 2}).json()
    assert (first["total"], first["limit"], first["offset"]) == (3, 2, 0)
    assert (second["total"], second["limit"], second["offset"]) == (3, 2, 2)
    page_ids = [t["id"] for t in first["items"]] + [t["id"] for t in second["items"]]
    assert page_ids == listing.by_name("cba")


def test_offset_past_the_end_gives_an_empty_page_with_the_total(
    agent: httpx.Client, listing: Listing
) -> None:
    page = agent.get("/tickets", params={"q": listing.marker, "offset": 10}).json()
    assert (page["items"], page["total"]) == ([], 3)


def test_default_limit_is_50(agent: httpx.Client) -> None:
    assert agent.get("/tickets").json()["limit"] == 50


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 201}, {"offset": -1}, {"sort": "title"}, {"status_id": "x"}],
)
def test_invalid_list_parameters_are_422(agent: httpx.Client, params: dict[str, Any]) -> None:
    response = agent.get("/tickets", params=params)
    assert response.status_code == 422
    problem_of(response)


def test_customer_list_shows_only_their_own_tickets(
    customer: httpx.Client, listing: Listing
) -> None:
    assert ids(customer.get("/tickets", params={"q": listing.marker})) == listing.by_name("a")


# --- update: history and events ---------------------------------------------------------------


@pytest.fixture
def fresh(agent: httpx.Client) -> dict[str, Any]:
    """A ticket of John's filed by Sarah: Account Access, Medium, Open, tags [a], unassigned."""
    return new_ticket(
        agent, title="Original title", description="Original text", user_id=1, tags=["a"]
    )


@pytest.mark.parametrize(
    ("body", "field", "old", "new", "event", "changes"),
    [
        (
            {"title": "New title"},
            "title",
            "Original title",
            "New title",
            "ticket.updated",
            {"title": {"from": "Original title", "to": "New title"}},
        ),
        (
            {"description": "New text"},
            "description",
            "Original text",
            "New text",
            "ticket.updated",
            {"description": {"from": "Original text", "to": "New text"}},
        ),
        (
            {"category_id": 2},
            "category",
            "Account Access",
            "Billing & Payments",
            "ticket.updated",
            {
                "category": {
                    "from": {"id": 1, "name": "Account Access"},
                    "to": {"id": 2, "name": "Billing & Payments"},
                }
            },
        ),
        (
            {"priority_id": 1},
            "priority",
            "Medium",
            "Critical",
            "ticket.updated",
            {
                "priority": {
                    "from": {"id": 3, "name": "Medium"},
                    "to": {"id": 1, "name": "Critical"},
                }
            },
        ),
        (
            {"tags": "Y,x"},
            "tags",
            "a",
            "x,y",
            "ticket.updated",
            {"tags": {"from": ["a"], "to": ["x", "y"]}},
        ),
        (
            {"assigned_to": 5},
            "assignee",
            None,
            "Mike Chen",
            "ticket.assigned",
            {"assignee": {"from": None, "to": {"id": 5, "name": "Mike Chen"}}},
        ),
        (
            {"status_id": 2},
            "status",
            "Open",
            "In Progress",
            "ticket.status_changed",
            {"status": {"from": {"id": 1, "name": "Open"}, "to": {"id": 2, "name": "In Progress"}}},
        ),
    ],
    ids=["title", "description", "category", "priority", "tags", "assignee", "status"],
)
def test_each_changed_field_writes_one_history_row_and_its_event(
    agent: httpx.Client,
    db: Session,
    fresh: dict[str, Any],
    body: dict[str, Any],
    field: str,
    old: str | None,
    new: str,
    event: str,
    changes: dict[str, Any],
) -> None:
    before_history = len(history_rows(db, fresh["id"]))
    before_events = len(outbox(db, fresh["id"]))

    response = agent.patch(f"/tickets/{fresh['id']}", json=body)

    assert response.status_code == 200, response.text
    [row] = history_rows(db, fresh["id"])[before_history:]
    assert (row.field, row.old_value, row.new_value, row.actor_id) == (field, old, new, 4)
    [envelope] = outbox(db, fresh["id"])[before_events:]
    assert envelope["type"] == event
    assert envelope["data"]["changes"] == changes
    assert envelope["data"]["actor"] == SARAH
    assert envelope["data"]["ticket"] == response.json()


def test_history_endpoint_names_the_actor_and_the_values(
    agent: httpx.Client, fresh: dict[str, Any]
) -> None:
    agent.patch(f"/tickets/{fresh['id']}", json={"priority_id": 2})
    last = agent.get(f"/tickets/{fresh['id']}/history").json()[-1]
    assert last["ticket_id"] == fresh["id"]
    assert (last["field"], last["old_value"], last["new_value"]) == ("priority", "Medium", "High")
    assert (last["actor_id"], last["actor_name"]) == (4, "Sarah Johnson")


def test_history_actor_is_the_customer_when_the_customer_edits(
    customer: httpx.Client, db: Session, fresh: dict[str, Any]
) -> None:
    response = customer.patch(f"/tickets/{fresh['id']}", json={"title": "Customer's words"})
    assert response.status_code == 200, response.text
    row = history_rows(db, fresh["id"])[-1]
    assert (row.field, row.actor_id) == ("title", 1)
    assert outbox(db, fresh["id"])[-1]["data"]["actor"]["id"] == 1


def test_event_envelope_has_id_type_timestamp_and_data(
    agent: httpx.Client, db: Session, fresh: dict[str, Any]
) -> None:
    agent.patch(f"/tickets/{fresh['id']}", json={"title": "Envelope check"})
    envelope = outbox(db, fresh["id"])[-1]
    assert set(envelope) == {"id", "type", "timestamp", "data"}
    assert re.fullmatch(r"evt_[0-9a-f]{32}", envelope["id"])
    assert RFC3339_Z.match(envelope["timestamp"]), envelope["timestamp"]
    assert set(envelope["data"]) == {"ticket", "actor", "changes"}


def test_event_ids_are_unique(agent: httpx.Client, db: Session, fresh: dict[str, Any]) -> None:
    agent.patch(f"/tickets/{fresh['id']}", json={"title": "One", "status_id": 2, "assigned_to": 4})
    event_ids = [envelope["id"] for envelope in outbox(db, fresh["id"])]
    assert len(event_ids) == len(set(event_ids)) == 4


def test_one_patch_changing_many_fields_writes_a_row_each_and_groups_events(
    agent: httpx.Client, db: Session, fresh: dict[str, Any]
) -> None:
    before_history = len(history_rows(db, fresh["id"]))
    before_events = len(outbox(db, fresh["id"]))
    body = {"title": "T2", "priority_id": 2, "tags": ["b"], "status_id": 2, "assigned_to": 4}

    assert agent.patch(f"/tickets/{fresh['id']}", json=body).status_code == 200

    fields = [row.field for row in history_rows(db, fresh["id"])[before_history:]]
    assert sorted(fields) == ["assignee", "priority", "status", "tags", "title"]
    events = {e["type"]: e for e in outbox(db, fresh["id"])[before_events:]}
    assert sorted(events) == ["ticket.assigned", "ticket.status_changed", "ticket.updated"]
    assert sorted(events["ticket.updated"]["data"]["changes"]) == ["priority", "tags", "title"]
    assert list(events["ticket.assigned"]["data"]["changes"]) == ["assignee"]
    assert list(events["ticket.status_changed"]["data"]["changes"]) == ["status"]


def test_unassigning_with_null_records_the_old_assignee(
    agent: httpx.Client, db: Session, fresh: dict[str, Any]
) -> None:
    agent.patch(f"/tickets/{fresh['id']}", json={"assigned_to": 5})
    response = agent.patch(f"/tickets/{fresh['id']}", json={"assigned_to": None})
    assert response.json()["assignee"] is None
    row = history_rows(db, fresh["id"])[-1]
    assert (row.field, row.old_value, row.new_value) == ("assignee", "Mike Chen", None)
    envelope = outbox(db, fresh["id"])[-1]
    assert envelope["type"] == "ticket.assigned"
    assert envelope["data"]["changes"] == {
        "assignee": {"from": {"id": 5, "name": "Mike Chen"}, "to": None}
    }


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"title": "Original title"},
        {"title": "  Original title  ", "description": "Original text"},
        {"tags": "A"},
        {"tags": ["a", "a"]},
        {"status_id": 1, "priority_id": 3, "category_id": 1},
        {"assigned_to": None},
    ],
    ids=[
        "empty",
        "same-title",
        "same-padded",
        "same-tags-case",
        "same-tags-dup",
        "same-refs",
        "null",
    ],
)
def test_patch_that_changes_nothing_writes_no_history_or_events(
    agent: httpx.Client, db: Session, fresh: dict[str, Any], body: dict[str, Any]
) -> None:
    history_before = len(history_rows(db, fresh["id"]))
    events_before = len(outbox(db, fresh["id"]))

    response = agent.patch(f"/tickets/{fresh['id']}", json=body)

    assert response.status_code == 200, response.text
    assert response.json()["version"] == fresh["version"]
    assert response.json()["updated_at"] == fresh["updated_at"]
    assert len(history_rows(db, fresh["id"])) == history_before
    assert len(outbox(db, fresh["id"])) == events_before


@pytest.mark.parametrize(
    "body",
    [
        {"status_id": 999},
        {"priority_id": 999},
        {"category_id": 999},
        {"assigned_to": 999},
        {"assigned_to": 1},
        {"title": ""},
        {"title": None},
        {"status_id": None},
        {"colour": "red"},
    ],
)
def test_invalid_update_is_422_and_changes_nothing(
    agent: httpx.Client, db: Session, fresh: dict[str, Any], body: dict[str, Any]
) -> None:
    history_before = len(history_rows(db, fresh["id"]))
    events_before = len(outbox(db, fresh["id"]))
    response = agent.patch(f"/tickets/{fresh['id']}", json=body)
    assert response.status_code == 422, response.text
    problem_of(response)
    assert agent.get(f"/tickets/{fresh['id']}").json()["version"] == fresh["version"]
    assert len(history_rows(db, fresh["id"])) == history_before
    assert len(outbox(db, fresh["id"])) == events_before


# --- status transitions -----------------------------------------------------------------------


def test_resolving_an_open_ticket_sets_resolved_at_and_emits_resolved(
    agent: httpx.Client, db: Session, fresh: dict[str, Any]
) -> None:
    events_before = len(outbox(db, fresh["id"]))
    ticket = agent.patch(f"/tickets/{fresh['id']}", json={"status_id": 4}).json()
    assert ticket["resolved_at"] is not None
    assert ticket["closed_at"] is None
    new = outbox(db, fresh["id"])[events_before:]
    assert sorted(e["type"] for e in new) == ["ticket.resolved", "ticket.status_changed"]
    resolved = next(e for e in new if e["type"] == "ticket.resolved")
    assert resolved["data"]["ticket"]["resolved_at"] == ticket["resolved_at"]


def test_closing_an_open_ticket_sets_resolved_at_and_closed_at(
    agent: httpx.Client, db: Session, fresh: dict[str, Any]
) -> None:
    events_before = len(outbox(db, fresh["id"]))
    ticket = agent.patch(f"/tickets/{fresh['id']}", json={"status_id": 5}).json()
    assert ticket["resolved_at"] is not None
    assert ticket["closed_at"] is not None
    new_types = sorted(e["type"] for e in outbox(db, fresh["id"])[events_before:])
    assert new_types == ["ticket.resolved", "ticket.status_changed"]


def test_closing_a_resolved_ticket_sets_closed_at_and_keeps_resolved_at(
    agent: httpx.Client, db: Session, fresh: dict[str, Any]
) -> None:
    resolved = agent.patch(f"/tickets/{fresh['id']}", json={"status_id": 4}).json()
    events_before = len(outbox(db, fresh["id"]))
    closed = agent.patch(f"/tickets/{fresh['id']}", json={"status_id": 5}).json()
    assert closed["resolved_at"] == resolved["resolved_at"]
    assert closed["closed_at"] is not None
    assert event_types(db, fresh["id"])[events_before:] == ["ticket.status_changed"]


def test_moving_between_open_statuses_sets_neither_timestamp(
    agent: httpx.Client, fresh: dict[str, Any]
) -> None:
    ticket = agent.patch(f"/tickets/{fresh['id']}", json={"status_id": 3}).json()
    assert (ticket["resolved_at"], ticket["closed_at"]) == (None, None)


@pytest.mark.parametrize("closed_status", [4, 5])
@pytest.mark.parametrize("open_status", [1, 2])
def test_reopening_clears_resolved_at_and_closed_at(
    agent: httpx.Client,
    db: Session,
    fresh: dict[str, Any],
    closed_status: int,
    open_status: int,
) -> None:
    agent.patch(f"/tickets/{fresh['id']}", json={"status_id": closed_status})
    events_before = len(outbox(db, fresh["id"]))
    ticket = agent.patch(f"/tickets/{fresh['id']}", json={"status_id": open_status}).json()
    assert ticket["status"]["id"] == open_status
    assert (ticket["resolved_at"], ticket["closed_at"]) == (None, None)
    assert event_types(db, fresh["id"])[events_before:] == ["ticket.status_changed"]


def test_moving_from_closed_back_to_resolved_keeps_closed_at_and_resolved_at(
    agent: httpx.Client, db: Session, fresh: dict[str, Any]
) -> None:
    """Resolved is closed too: the ticket has not left the closed statuses, so the moment it
    was closed stands; only re-opening (above) clears it."""
    closed = agent.patch(f"/tickets/{fresh['id']}", json={"status_id": 5}).json()
    events_before = len(outbox(db, fresh["id"]))
    ticket = agent.patch(f"/tickets/{fresh['id']}", json={"status_id": 4}).json()
    assert ticket["status"]["id"] == 4
    assert (ticket["resolved_at"], ticket["closed_at"]) == (
        closed["resolved_at"],
        closed["closed_at"],
    )
    assert closed["closed_at"] is not None
    assert event_types(db, fresh["id"])[events_before:] == ["ticket.status_changed"]


def test_resolving_again_after_reopening_emits_resolved_again(
    agent: httpx.Client, db: Session, fresh: dict[str, Any]
) -> None:
    for status_id in (4, 1, 4):
        agent.patch(f"/tickets/{fresh['id']}", json={"status_id": status_id})
    assert event_types(db, fresh["id"]).count("ticket.resolved") == 2


def test_customer_closes_and_reopens_own_ticket(
    customer: httpx.Client, fresh: dict[str, Any]
) -> None:
    closed = customer.patch(f"/tickets/{fresh['id']}", json={"status_id": 5})
    assert closed.status_code == 200, closed.text
    reopened = customer.patch(f"/tickets/{fresh['id']}", json={"status_id": 1}).json()
    assert (reopened["status"]["name"], reopened["closed_at"]) == ("Open", None)


# --- PUT ----------------------------------------------------------------------------------------


def test_put_changes_only_the_fields_sent(
    agent: httpx.Client, db: Session, fresh: dict[str, Any]
) -> None:
    history_before = len(history_rows(db, fresh["id"]))
    response = agent.put(f"/tickets/{fresh['id']}", json={"priority_id": 2})
    assert response.status_code == 200, response.text
    ticket = response.json()
    assert ticket["priority"]["name"] == "High"
    for kept in ("title", "description", "category", "status", "tags", "assignee"):
        assert ticket[kept] == fresh[kept]
    [row] = history_rows(db, fresh["id"])[history_before:]
    assert row.field == "priority"
    assert outbox(db, fresh["id"])[-1]["data"]["changes"] == {
        "priority": {"from": {"id": 3, "name": "Medium"}, "to": {"id": 2, "name": "High"}}
    }


def test_put_without_changes_writes_nothing(
    agent: httpx.Client, db: Session, fresh: dict[str, Any]
) -> None:
    events_before = len(outbox(db, fresh["id"]))
    response = agent.put(f"/tickets/{fresh['id']}", json={"title": fresh["title"]})
    assert response.json()["version"] == fresh["version"]
    assert len(outbox(db, fresh["id"])) == events_before


# --- ETag and If-Match ------------------------------------------------------------------------


def test_etag_changes_with_every_update(agent: httpx.Client, fresh: dict[str, Any]) -> None:
    first = agent.get(f"/tickets/{fresh['id']}").headers["ETag"]
    patched = agent.patch(f"/tickets/{fresh['id']}", json={"title": "Bump"})
    assert patched.headers["ETag"] == f'"{patched.json()["version"]}"'
    assert patched.headers["ETag"] != first
    assert agent.get(f"/tickets/{fresh['id']}").headers["ETag"] == patched.headers["ETag"]


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_stale_if_match_is_412_and_changes_nothing(
    agent: httpx.Client, db: Session, fresh: dict[str, Any], method: str
) -> None:
    stale = agent.get(f"/tickets/{fresh['id']}").headers["ETag"]
    current = agent.patch(f"/tickets/{fresh['id']}", json={"title": "Someone else's edit"}).json()
    history_before = len(history_rows(db, fresh["id"]))
    events_before = len(outbox(db, fresh["id"]))

    response = agent.request(
        method,
        f"/tickets/{fresh['id']}",
        json={"title": "My late edit", "status_id": 4},
        headers={"If-Match": stale},
    )

    assert response.status_code == 412
    problem_of(response)
    after = agent.get(f"/tickets/{fresh['id']}").json()
    assert after["version"] == current["version"]
    assert (after["title"], after["status"]["id"]) == ("Someone else's edit", 1)
    assert len(history_rows(db, fresh["id"])) == history_before
    assert len(outbox(db, fresh["id"])) == events_before


@pytest.mark.parametrize(
    "if_match",
    [lambda v: f'"{v}"', lambda v: f'W/"{v}"', lambda v: "*", lambda v: f'"999", "{v}"'],
    ids=["strong", "weak", "star", "list"],
)
def test_current_if_match_is_accepted(
    agent: httpx.Client, fresh: dict[str, Any], if_match: Callable[[int], str]
) -> None:
    response = agent.patch(
        f"/tickets/{fresh['id']}",
        json={"title": "Guarded edit"},
        headers={"If-Match": if_match(fresh["version"])},
    )
    assert response.status_code == 200, response.text
    assert response.json()["title"] == "Guarded edit"
    assert response.json()["version"] == fresh["version"] + 1


def test_if_match_from_one_update_guards_the_next(
    agent: httpx.Client, fresh: dict[str, Any]
) -> None:
    first = agent.patch(
        f"/tickets/{fresh['id']}", json={"title": "Step 1"}, headers={"If-Match": '"1"'}
    )
    second = agent.patch(
        f"/tickets/{fresh['id']}",
        json={"title": "Step 2"},
        headers={"If-Match": first.headers["ETag"]},
    )
    replayed = agent.patch(
        f"/tickets/{fresh['id']}",
        json={"title": "Step 2 again"},
        headers={"If-Match": first.headers["ETag"]},
    )
    assert (first.status_code, second.status_code, replayed.status_code) == (200, 200, 412)


# --- Idempotency-Key ----------------------------------------------------------------------------


def _create_body(title: str) -> dict[str, Any]:
    return {"title": title, "description": "Retry me", "category_id": 2, "tags": "x,y"}


def test_retry_with_same_idempotency_key_replays_the_first_response(
    customer: httpx.Client, db: Session
) -> None:
    title = unique("idem ")
    key = {"Idempotency-Key": unique("key-")}

    first = customer.post("/tickets", json=_create_body(title), headers=key)
    retry = customer.post("/tickets", json=_create_body(title), headers=key)

    assert (first.status_code, retry.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in first.headers
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert tickets_titled(db, title) == 1
    assert event_types(db, first.json()["id"]) == ["ticket.created"]


def test_same_idempotency_key_with_another_body_is_422_and_creates_nothing(
    customer: httpx.Client, db: Session
) -> None:
    key = {"Idempotency-Key": unique("key-")}
    first = customer.post("/tickets", json=_create_body(unique("idem ")), headers=key)
    other_title = unique("other ")

    response = customer.post("/tickets", json=_create_body(other_title), headers=key)

    assert first.status_code == 201
    assert response.status_code == 422
    problem_of(response)
    assert tickets_titled(db, other_title) == 0
    assert event_types(db, first.json()["id"]) == ["ticket.created"]


def test_idempotency_keys_are_per_user(
    customer: httpx.Client, other_customer: httpx.Client, db: Session
) -> None:
    title = unique("shared key ")
    key = {"Idempotency-Key": unique("key-")}

    johns = customer.post("/tickets", json=_create_body(title), headers=key)
    janes = other_customer.post("/tickets", json=_create_body(title), headers=key)

    assert (johns.status_code, janes.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in janes.headers
    assert johns.json()["id"] != janes.json()["id"]
    assert (johns.json()["requester"]["id"], janes.json()["requester"]["id"]) == (1, 2)
    assert tickets_titled(db, title) == 2


def test_without_idempotency_key_each_post_creates_a_ticket(
    customer: httpx.Client, db: Session
) -> None:
    title = unique("no key ")
    customer.post("/tickets", json=_create_body(title))
    customer.post("/tickets", json=_create_body(title))
    assert tickets_titled(db, title) == 2


def test_failed_request_does_not_burn_the_idempotency_key(
    customer: httpx.Client, db: Session
) -> None:
    title = unique("after failure ")
    key = {"Idempotency-Key": unique("key-")}
    bad = customer.post("/tickets", json={**_create_body(title), "category_id": 999}, headers=key)
    good = customer.post("/tickets", json=_create_body(title), headers=key)
    assert (bad.status_code, good.status_code) == (422, 201)
    assert "Idempotent-Replayed" not in good.headers
    assert tickets_titled(db, title) == 1
