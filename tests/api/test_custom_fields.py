"""Custom fields: admins define typed fields; tickets hold values, shown, recorded, filtered."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.api.stats.schemas import StatsOut
from services.api.tickets import service as tickets
from services.api.tickets.schemas import TicketCreate, TicketFilters
from shared.clock import utcnow
from shared.models import CustomField, OutboxEvent, Ticket, TicketHistory, ticket_custom_values
from shared.reference_cache import reference_cache
from shared.search_index import index_ticket
from shared.stats import compute_snapshot
from shared.unit_of_work import transaction
from tests.api.test_mcp import call as mcp_call
from tests.api.test_mcp import error_text, ok
from tests.helpers import new_ticket, problem_of
from tests.support.processes import ApiServer

RESOLVED = 4


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def new_category(admin: httpx.Client) -> int:
    """A category of the test's own, so its fields apply to no other test's tickets."""
    response = admin.post("/categories", json={"name": unique("cat"), "sla_hours": 8})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def new_field(admin: httpx.Client, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"key": unique("f"), "label": "Order id", "field_type": "text"}
    body.update(overrides)
    response = admin.post("/custom-fields", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def scoped_field(admin: httpx.Client, **overrides: Any) -> tuple[dict[str, Any], int]:
    """A field applying to a fresh category only, and that category."""
    category = new_category(admin)
    return new_field(admin, category_ids=[category], **overrides), category


def error_fields(response: httpx.Response) -> list[str]:
    return [error["field"] for error in problem_of(response).get("errors", [])]


def outbox(db: Session, ticket_id: int) -> list[dict[str, Any]]:
    db.rollback()
    rows = db.scalars(
        select(OutboxEvent.payload)
        .where(OutboxEvent.ticket_id == ticket_id)
        .order_by(OutboxEvent.id)
    )
    return [json.loads(row) for row in rows]


def history(db: Session, ticket_id: int) -> list[TicketHistory]:
    db.rollback()
    query = select(TicketHistory).where(TicketHistory.ticket_id == ticket_id)
    return list(db.scalars(query.order_by(TicketHistory.id)))


def stored_values(db: Session, ticket_id: int) -> int:
    db.rollback()
    query = select(func.count()).select_from(ticket_custom_values)
    return db.scalar(query.where(ticket_custom_values.c.ticket_id == ticket_id)) or 0


def tickets_titled(db: Session, title: str) -> int:
    db.rollback()
    return db.scalar(select(func.count()).select_from(Ticket).where(Ticket.title == title)) or 0


# --- definitions ------------------------------------------------------------------------------


def test_admin_creates_a_dropdown_field_that_agents_can_read(
    admin: httpx.Client, agent: httpx.Client
) -> None:
    field = new_field(admin, field_type="dropdown", options=["Small", "Large"])
    assert field["options"] == ["Small", "Large"]
    assert field["active"] is True
    assert agent.get(f"/custom-fields/{field['id']}").json() == field
    assert field["key"] in {f["key"] for f in agent.get("/custom-fields").json()}


def test_agent_cannot_create_a_custom_field(agent: httpx.Client, db: Session) -> None:
    key = unique("f")
    response = agent.post("/custom-fields", json={"key": key, "label": "X", "field_type": "text"})
    assert response.status_code == 403
    problem_of(response)
    assert db.scalar(select(func.count()).where(CustomField.key == key)) == 0


def test_a_duplicate_key_is_refused_with_409(admin: httpx.Client) -> None:
    field = new_field(admin)
    response = admin.post(
        "/custom-fields", json={"key": field["key"], "label": "Again", "field_type": "integer"}
    )
    assert response.status_code == 409
    assert error_fields(response) == ["key"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"field_type": "dropdown"}, "options"),
        ({"field_type": "integer", "options": ["a"]}, "options"),
        ({"field_type": "dropdown", "options": ["a", "a"]}, "options"),
        ({"key": "Not A Slug"}, "key"),
        ({"key": "k" * 37}, "key"),
        ({"field_type": "colour"}, "field_type"),
        ({"customer_editable": True}, "customer_editable"),
        ({"category_ids": [999_999]}, "category_ids"),
        ({"label": "x" * 101}, "label"),
    ],
)
def test_a_bad_definition_is_422_naming_the_field_and_creates_nothing(
    admin: httpx.Client, db: Session, body: dict[str, Any], field: str
) -> None:
    request = {"key": unique("bad"), "label": "Bad", "field_type": "text", **body}
    response = admin.post("/custom-fields", json=request)
    assert response.status_code == 422, response.text
    assert field in error_fields(response)[0]
    assert db.scalar(select(func.count()).where(CustomField.key == request["key"])) == 0


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_an_unknown_field_id_is_404(admin: httpx.Client, method: str) -> None:
    body = {"label": "x"} if method == "PATCH" else None
    response = admin.request(method, "/custom-fields/999999", json=body)
    assert response.status_code == 404
    problem_of(response)


def test_customers_list_only_active_customer_visible_fields(
    admin: httpx.Client, customer: httpx.Client
) -> None:
    shown = new_field(admin, customer_visible=True)
    staff_only = new_field(admin)
    archived = new_field(admin, customer_visible=True)
    admin.patch(f"/custom-fields/{archived['id']}", json={"active": False})
    keys = {field["key"] for field in customer.get("/custom-fields").json()}
    assert shown["key"] in keys
    assert not {staff_only["key"], archived["key"]} & keys


def test_a_customer_cannot_read_a_staff_only_field(
    admin: httpx.Client, customer: httpx.Client
) -> None:
    field = new_field(admin)
    assert customer.get(f"/custom-fields/{field['id']}").status_code == 404


@pytest.mark.parametrize(("name", "value"), [("field_type", "integer"), ("key", "other_key")])
def test_changing_the_type_or_key_of_a_field_is_refused_with_409(
    admin: httpx.Client, name: str, value: str
) -> None:
    field = new_field(admin)
    response = admin.patch(f"/custom-fields/{field['id']}", json={name: value})
    assert response.status_code == 409
    assert error_fields(response) == [name]
    assert admin.get(f"/custom-fields/{field['id']}").json() == field


def test_removing_an_option_in_use_is_refused_with_409_saying_how_many_tickets_use_it(
    admin: httpx.Client, agent: httpx.Client
) -> None:
    field, category = scoped_field(admin, field_type="dropdown", options=["Red", "Blue"])
    for _ in range(2):
        new_ticket(agent, category_id=category, custom_fields={field["key"]: "Red"})
    response = admin.patch(f"/custom-fields/{field['id']}", json={"options": ["Blue"]})
    assert response.status_code == 409
    assert "used by 2 ticket(s)" in problem_of(response)["detail"]
    assert admin.get(f"/custom-fields/{field['id']}").json()["options"] == ["Red", "Blue"]


def test_removing_an_option_with_migrate_options_moves_the_tickets_values(
    admin: httpx.Client, agent: httpx.Client
) -> None:
    field, category = scoped_field(admin, field_type="multi_select", options=["a", "b", "c"])
    ticket = new_ticket(agent, category_id=category, custom_fields={field["key"]: ["a", "c"]})
    response = admin.patch(
        f"/custom-fields/{field['id']}",
        json={"options": ["b", "c"], "migrate_options": {"a": "b"}},
    )
    assert response.status_code == 200, response.text
    assert agent.get(f"/tickets/{ticket['id']}").json()["custom_fields"] == {
        field["key"]: ["b", "c"]
    }


def test_values_moved_to_another_option_are_recorded_as_changes_of_the_ticket(
    admin: httpx.Client, agent: httpx.Client, db: Session
) -> None:
    field, category = scoped_field(admin, field_type="dropdown", options=["old", "new"])
    ticket = new_ticket(agent, category_id=category, custom_fields={field["key"]: "old"})
    admin.patch(
        f"/custom-fields/{field['id']}",
        json={"options": ["new"], "migrate_options": {"old": "new"}},
    )
    name = f"custom_fields.{field['key']}"
    assert agent.get(f"/tickets/{ticket['id']}").json()["version"] == 2
    last = history(db, ticket["id"])[-1]
    assert (last.field, last.old_value, last.new_value, last.is_internal) == (
        name,
        "old",
        "new",
        True,
    )
    updated = [e for e in outbox(db, ticket["id"]) if e["type"] == "ticket.updated"]
    assert updated[-1]["data"]["changes"] == {name: {"from": "old", "to": "new"}}
    assert updated[-1]["data"]["ticket"]["custom_fields"] == {field["key"]: "new"}


def test_migrating_to_an_option_that_is_not_kept_is_422(admin: httpx.Client) -> None:
    field = new_field(admin, field_type="dropdown", options=["a", "b"])
    response = admin.patch(
        f"/custom-fields/{field['id']}", json={"options": ["b"], "migrate_options": {"a": "z"}}
    )
    assert response.status_code == 422
    assert error_fields(response) == ["migrate_options"]


def test_removing_an_unused_option_succeeds(admin: httpx.Client) -> None:
    field = new_field(admin, field_type="dropdown", options=["a", "b"])
    response = admin.patch(f"/custom-fields/{field['id']}", json={"options": ["b", "new"]})
    assert response.status_code == 200
    assert response.json()["options"] == ["b", "new"]


def test_deleting_a_field_in_use_is_refused_with_409(
    admin: httpx.Client, agent: httpx.Client
) -> None:
    field, category = scoped_field(admin)
    new_ticket(agent, category_id=category, custom_fields={field["key"]: "A-1"})
    response = admin.delete(f"/custom-fields/{field['id']}")
    assert response.status_code == 409
    assert "archive" in problem_of(response)["detail"]
    assert admin.get(f"/custom-fields/{field['id']}").status_code == 200


def test_archiving_a_field_hides_its_values_and_keeps_them_stored(
    admin: httpx.Client, agent: httpx.Client, db: Session
) -> None:
    field, category = scoped_field(admin)
    ticket = new_ticket(agent, category_id=category, custom_fields={field["key"]: "A-1"})
    assert admin.patch(f"/custom-fields/{field['id']}", json={"active": False}).status_code == 200
    assert agent.get(f"/tickets/{ticket['id']}").json()["custom_fields"] == {}
    assert stored_values(db, ticket["id"]) == 1


def test_deleting_an_unused_field_succeeds(admin: httpx.Client) -> None:
    field = new_field(admin)
    assert admin.delete(f"/custom-fields/{field['id']}").status_code == 204
    assert admin.get(f"/custom-fields/{field['id']}").status_code == 404


# --- values on tickets --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("definition", "sent", "shown"),
    [
        ({"field_type": "text"}, "  A-17 ", "A-17"),
        ({"field_type": "long_text"}, "line one\nline two", "line one\nline two"),
        ({"field_type": "integer"}, 42, 42),
        ({"field_type": "decimal"}, 12.50, "12.5"),
        ({"field_type": "decimal"}, "0.125", "0.125"),
        ({"field_type": "date"}, "2026-12-24", "2026-12-24"),
        ({"field_type": "checkbox"}, False, False),
        ({"field_type": "dropdown", "options": ["S", "M"]}, "M", "M"),
        ({"field_type": "multi_select", "options": ["x", "y", "z"]}, ["z", "x"], ["x", "z"]),
    ],
)
def test_a_valid_value_of_each_type_is_stored_and_shown(
    admin: httpx.Client, agent: httpx.Client, definition: dict[str, Any], sent: Any, shown: Any
) -> None:
    field, category = scoped_field(admin, **definition)
    ticket = new_ticket(agent, category_id=category, custom_fields={field["key"]: sent})
    assert ticket["custom_fields"] == {field["key"]: shown}
    assert agent.get(f"/tickets/{ticket['id']}").json()["custom_fields"] == {field["key"]: shown}


@pytest.mark.parametrize(
    ("definition", "sent"),
    [
        ({"field_type": "text"}, 5),
        ({"field_type": "text"}, "x" * 501),
        ({"field_type": "text"}, "two\nlines"),
        ({"field_type": "text"}, "   "),
        ({"field_type": "integer"}, "42"),
        ({"field_type": "integer"}, 1.5),
        ({"field_type": "integer"}, True),
        ({"field_type": "integer"}, 10**16),
        ({"field_type": "decimal"}, "twelve"),
        ({"field_type": "decimal"}, "NaN"),
        ({"field_type": "decimal"}, "0.0000001"),
        ({"field_type": "date"}, "2026-02-30"),
        ({"field_type": "date"}, "24/12/2026"),
        ({"field_type": "checkbox"}, "yes"),
        ({"field_type": "dropdown", "options": ["S", "M"]}, "XL"),
        ({"field_type": "multi_select", "options": ["x", "y"]}, "x"),
        ({"field_type": "multi_select", "options": ["x", "y"]}, ["x", "nope"]),
    ],
)
def test_an_invalid_value_is_422_naming_the_field_and_creates_nothing(
    admin: httpx.Client, agent: httpx.Client, db: Session, definition: dict[str, Any], sent: Any
) -> None:
    field, category = scoped_field(admin, **definition)
    title = unique("invalid value")
    response = agent.post(
        "/tickets",
        json={
            "title": title,
            "description": "d",
            "category_id": category,
            "custom_fields": {field["key"]: sent},
        },
    )
    assert response.status_code == 422, response.text
    assert error_fields(response) == [f"custom_fields.{field['key']}"]
    assert tickets_titled(db, title) == 0


def test_an_unknown_key_is_422(agent: httpx.Client) -> None:
    response = agent.post(
        "/tickets",
        json={"title": "t", "description": "d", "category_id": 1, "custom_fields": {"nope": 1}},
    )
    assert response.status_code == 422
    assert error_fields(response) == ["custom_fields.nope"]


def test_a_field_of_another_category_is_422(admin: httpx.Client, agent: httpx.Client) -> None:
    field, _category = scoped_field(admin)
    response = agent.post(
        "/tickets",
        json={
            "title": "t",
            "description": "d",
            "category_id": 1,
            "custom_fields": {field["key"]: "x"},
        },
    )
    assert response.status_code == 422
    assert error_fields(response) == [f"custom_fields.{field['key']}"]


def test_a_field_required_at_creation_is_422_when_missing(
    admin: httpx.Client, agent: httpx.Client, db: Session
) -> None:
    field, category = scoped_field(admin, required_on_create=True)
    title = unique("missing required")
    response = agent.post(
        "/tickets", json={"title": title, "description": "d", "category_id": category}
    )
    assert response.status_code == 422
    assert error_fields(response) == [f"custom_fields.{field['key']}"]
    assert tickets_titled(db, title) == 0


def test_values_set_at_creation_are_in_the_created_event(
    admin: httpx.Client, agent: httpx.Client, db: Session
) -> None:
    field, category = scoped_field(admin, field_type="integer")
    ticket = new_ticket(agent, category_id=category, custom_fields={field["key"]: 7})
    (created,) = [e for e in outbox(db, ticket["id"]) if e["type"] == "ticket.created"]
    assert created["data"]["ticket"]["custom_fields"] == {field["key"]: 7}


def test_an_update_records_a_history_row_and_an_updated_change_per_field(
    admin: httpx.Client, agent: httpx.Client, db: Session
) -> None:
    first, category = scoped_field(admin)
    second = new_field(admin, field_type="integer", category_ids=[category])
    ticket = new_ticket(agent, category_id=category, custom_fields={first["key"]: "A"})
    response = agent.patch(
        f"/tickets/{ticket['id']}",
        json={"custom_fields": {first["key"]: "B", second["key"]: 3}},
    )
    assert response.status_code == 200, response.text
    assert response.json()["custom_fields"] == {first["key"]: "B", second["key"]: 3}
    assert response.json()["version"] == 2
    rows = [(r.field, r.old_value, r.new_value) for r in history(db, ticket["id"])][1:]
    assert sorted(rows) == sorted(
        [(f"custom_fields.{first['key']}", "A", "B"), (f"custom_fields.{second['key']}", None, "3")]
    )
    updated = [e for e in outbox(db, ticket["id"]) if e["type"] == "ticket.updated"]
    assert updated[-1]["data"]["changes"] == {
        f"custom_fields.{first['key']}": {"from": "A", "to": "B"},
        f"custom_fields.{second['key']}": {"from": None, "to": 3},
    }
    assert updated[-1]["data"]["ticket"]["custom_fields"] == response.json()["custom_fields"]


def test_sending_the_same_value_again_changes_nothing(
    admin: httpx.Client, agent: httpx.Client
) -> None:
    field, category = scoped_field(admin)
    ticket = new_ticket(agent, category_id=category, custom_fields={field["key"]: "A"})
    response = agent.patch(f"/tickets/{ticket['id']}", json={"custom_fields": {field["key"]: "A"}})
    assert response.json()["version"] == 1


def test_null_clears_a_value(admin: httpx.Client, agent: httpx.Client, db: Session) -> None:
    field, category = scoped_field(admin)
    ticket = new_ticket(agent, category_id=category, custom_fields={field["key"]: "A"})
    response = agent.patch(f"/tickets/{ticket['id']}", json={"custom_fields": {field["key"]: None}})
    assert response.json()["custom_fields"] == {}
    assert stored_values(db, ticket["id"]) == 0


def test_an_invalid_value_on_update_changes_nothing(
    admin: httpx.Client, agent: httpx.Client, db: Session
) -> None:
    field, category = scoped_field(admin, field_type="integer")
    ticket = new_ticket(agent, category_id=category, custom_fields={field["key"]: 1})
    response = agent.patch(
        f"/tickets/{ticket['id']}", json={"title": "changed", "custom_fields": {field["key"]: "x"}}
    )
    assert response.status_code == 422
    after = agent.get(f"/tickets/{ticket['id']}").json()
    assert (after["title"], after["custom_fields"], after["version"]) == (
        ticket["title"],
        {field["key"]: 1},
        1,
    )
    assert len(history(db, ticket["id"])) == 1


def test_a_customer_cannot_set_a_field_they_may_not_edit(
    admin: httpx.Client, customer: httpx.Client
) -> None:
    field, category = scoped_field(admin, customer_visible=True)
    ticket = new_ticket(customer, category_id=category)
    response = customer.patch(
        f"/tickets/{ticket['id']}", json={"custom_fields": {field["key"]: "mine"}}
    )
    assert response.status_code == 403
    assert error_fields(response) == [f"custom_fields.{field['key']}"]


def test_a_customer_sets_a_customer_editable_field(
    admin: httpx.Client, customer: httpx.Client
) -> None:
    field, category = scoped_field(admin, customer_visible=True, customer_editable=True)
    ticket = new_ticket(customer, category_id=category, custom_fields={field["key"]: "A-9"})
    assert ticket["custom_fields"] == {field["key"]: "A-9"}


def test_a_customer_naming_a_staff_only_field_gets_422_as_for_an_unknown_one(
    admin: httpx.Client, customer: httpx.Client
) -> None:
    field, category = scoped_field(admin)
    response = customer.post(
        "/tickets",
        json={
            "title": "t",
            "description": "d",
            "category_id": category,
            "custom_fields": {field["key"]: "x"},
        },
    )
    assert response.status_code == 422
    assert error_fields(response) == [f"custom_fields.{field['key']}"]


def test_customers_never_see_staff_only_values_in_the_view_list_or_history(
    admin: httpx.Client, agent: httpx.Client, customer: httpx.Client
) -> None:
    public, category = scoped_field(admin, customer_visible=True)
    internal = new_field(admin, category_ids=[category])
    ticket = new_ticket(
        agent, category_id=category, user_id=1, custom_fields={public["key"]: "seen"}
    )
    agent.patch(
        f"/tickets/{ticket['id']}",
        json={"custom_fields": {public["key"]: "seen too", internal["key"]: "secret"}},
    )
    expected = {public["key"]: "seen too"}
    assert customer.get(f"/tickets/{ticket['id']}").json()["custom_fields"] == expected
    listed = customer.get("/tickets", params={"category_id": category}).json()["items"]
    assert [item["custom_fields"] for item in listed] == [expected]
    fields = {row["field"] for row in customer.get(f"/tickets/{ticket['id']}/history").json()}
    assert f"custom_fields.{public['key']}" in fields
    assert f"custom_fields.{internal['key']}" not in fields
    staff_fields = {row["field"] for row in agent.get(f"/tickets/{ticket['id']}/history").json()}
    assert f"custom_fields.{internal['key']}" in staff_fields


def test_history_of_a_field_made_staff_only_later_is_hidden_from_customers(
    admin: httpx.Client, agent: httpx.Client, customer: httpx.Client
) -> None:
    field, category = scoped_field(admin, customer_visible=True)
    ticket = new_ticket(agent, category_id=category, user_id=1)
    agent.patch(f"/tickets/{ticket['id']}", json={"custom_fields": {field["key"]: "x"}})
    admin.patch(f"/custom-fields/{field['id']}", json={"customer_visible": False})
    fields = {row["field"] for row in customer.get(f"/tickets/{ticket['id']}/history").json()}
    assert f"custom_fields.{field['key']}" not in fields


def test_resolving_without_a_field_required_to_resolve_is_422_naming_it(
    admin: httpx.Client, agent: httpx.Client
) -> None:
    field, category = scoped_field(admin, required_to_resolve=True)
    ticket = new_ticket(agent, category_id=category)
    response = agent.patch(f"/tickets/{ticket['id']}", json={"status_id": RESOLVED})
    assert response.status_code == 422
    assert error_fields(response) == [f"custom_fields.{field['key']}"]
    assert agent.get(f"/tickets/{ticket['id']}").json()["status"]["id"] == 1


def test_resolving_with_the_required_value_in_the_same_update_succeeds(
    admin: httpx.Client, agent: httpx.Client
) -> None:
    field, category = scoped_field(admin, required_to_resolve=True)
    ticket = new_ticket(agent, category_id=category)
    response = agent.patch(
        f"/tickets/{ticket['id']}",
        json={"status_id": RESOLVED, "custom_fields": {field["key"]: "root cause"}},
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"]["id"] == RESOLVED


def test_events_of_other_changes_carry_the_custom_values(
    admin: httpx.Client, agent: httpx.Client, db: Session
) -> None:
    field, category = scoped_field(admin)
    ticket = new_ticket(agent, category_id=category, custom_fields={field["key"]: "kept"})
    agent.post(f"/tickets/{ticket['id']}/comments", json={"body": "On it"})
    (commented,) = [e for e in outbox(db, ticket["id"]) if e["type"] == "ticket.commented"]
    assert commented["data"]["ticket"]["custom_fields"] == {field["key"]: "kept"}


# --- filters -----------------------------------------------------------------------------------


def listed_ids(client: httpx.Client, **params: Any) -> set[int]:
    response = client.get("/tickets", params=params)
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


@pytest.mark.parametrize(
    ("definition", "low", "high", "query"),
    [
        ({"field_type": "dropdown", "options": ["a", "b"]}, "a", "b", {"": "b"}),
        ({"field_type": "text"}, "A-1", "A-2", {"": "A-2"}),
        ({"field_type": "checkbox"}, False, True, {"": "true"}),
        ({"field_type": "integer"}, 5, 50, {"__gte": "10", "__lte": "50"}),
        ({"field_type": "decimal"}, "1.5", "2.25", {"__gte": "2"}),
        ({"field_type": "date"}, "2026-01-01", "2026-06-01", {"__gte": "2026-03-01"}),
    ],
)
def test_a_filter_on_a_custom_field_lists_the_matching_tickets(
    admin: httpx.Client,
    agent: httpx.Client,
    definition: dict[str, Any],
    low: Any,
    high: Any,
    query: dict[str, str],
) -> None:
    field, category = scoped_field(admin, **definition)
    new_ticket(agent, category_id=category, custom_fields={field["key"]: low})
    matching = new_ticket(agent, category_id=category, custom_fields={field["key"]: high})
    new_ticket(agent, category_id=category)
    params = {f"cf_{field['key']}{suffix}": value for suffix, value in query.items()}
    assert listed_ids(agent, category_id=category, **params) == {matching["id"]}


def test_a_customer_cannot_filter_on_a_staff_only_field(
    admin: httpx.Client, customer: httpx.Client
) -> None:
    field, _category = scoped_field(admin)
    response = customer.get("/tickets", params={f"cf_{field['key']}": "x"})
    assert response.status_code == 422
    assert error_fields(response) == [f"cf_{field['key']}"]


@pytest.mark.parametrize(
    ("definition", "suffix", "value"),
    [
        ({"field_type": "text"}, "__gte", "a"),
        ({"field_type": "integer"}, "", "5"),
        ({"field_type": "long_text"}, "", "a"),
        ({"field_type": "integer"}, "__lte", "five"),
        ({"field_type": "date"}, "__gte", "yesterday"),
        ({"field_type": "checkbox"}, "", "maybe"),
    ],
)
def test_a_filter_the_field_type_does_not_support_is_422(
    admin: httpx.Client, agent: httpx.Client, definition: dict[str, Any], suffix: str, value: str
) -> None:
    field = new_field(admin, **definition)
    name = f"cf_{field['key']}{suffix}"
    response = agent.get("/tickets", params={name: value})
    assert response.status_code == 422
    assert error_fields(response) == [name]


def test_a_filter_on_an_unknown_field_is_422(agent: httpx.Client) -> None:
    response = agent.get("/tickets", params={"cf_nope": "x"})
    assert response.status_code == 422
    assert error_fields(response) == ["cf_nope"]


# --- MCP ---------------------------------------------------------------------------------------


def test_mcp_creates_and_changes_a_ticket_with_custom_values(
    admin: httpx.Client, api_server: ApiServer, api_keys: dict[str, str]
) -> None:
    field, category = scoped_field(admin, field_type="integer", required_to_resolve=True)
    created = ok(
        mcp_call(
            api_server,
            api_keys["agent"],
            "create_ticket",
            title="Through MCP",
            description="d",
            category_id=category,
            custom_fields={field["key"]: 1},
        )
    )
    assert created["custom_fields"] == {field["key"]: 1}
    changed = ok(
        mcp_call(
            api_server,
            api_keys["agent"],
            "set_custom_fields",
            ticket=created["id"],
            custom_fields={field["key"]: 2},
        )
    )
    assert (changed["custom_fields"], changed["version"]) == ({field["key"]: 2}, 2)


def test_mcp_refuses_closing_without_a_value_required_to_resolve(
    admin: httpx.Client, agent: httpx.Client, api_server: ApiServer, api_keys: dict[str, str]
) -> None:
    field, category = scoped_field(admin, required_to_resolve=True)
    ticket = new_ticket(agent, category_id=category)
    result = mcp_call(
        api_server, api_keys["agent"], "change_status", ticket=ticket["id"], status_id=RESOLVED
    )
    assert f"custom_fields.{field['key']}" in error_text(result)


def test_mcp_lists_to_a_customer_only_the_fields_visible_to_customers(
    admin: httpx.Client, api_server: ApiServer, api_keys: dict[str, str]
) -> None:
    shown = new_field(admin, customer_visible=True)
    hidden = new_field(admin)
    keys = {f["key"] for f in ok(mcp_call(api_server, api_keys["customer"], "list_custom_fields"))}
    assert shown["key"] in keys
    assert hidden["key"] not in keys


# --- cost on the hot path -----------------------------------------------------------------------


@contextmanager
def statements_run(session: Session) -> Iterator[list[str]]:
    """Every SQL statement SQLite runs on the session's connection meanwhile (the prepared
    statements of the hot path bypass SQLAlchemy's events, not the driver's trace)."""
    connection = session.connection().connection.driver_connection
    if not isinstance(connection, sqlite3.Connection):
        pytest.skip("counts statements through SQLite's trace callback")
    seen: list[str] = []
    connection.set_trace_callback(seen.append)
    try:
        yield seen
    finally:
        connection.set_trace_callback(None)


def _touching_values(statements: list[str]) -> list[str]:
    return [sql for sql in statements if "ticket_custom_values" in sql]


def test_creating_and_reading_a_ticket_without_values_runs_no_statement_for_them(
    admin: httpx.Client,
) -> None:
    new_field(admin)  # fields exist, this ticket holds none of their values
    with transaction() as session:
        actor = reference_cache.user(session, user_id=4)
        assert actor is not None
        request = TicketCreate(title="cost", description="d", category_id=1)
        with statements_run(session) as creating:
            view = tickets.create_ticket(session, actor=actor, request=request)
        with statements_run(session) as reading:
            tickets.read_ticket(session, viewer=actor, ref=str(view.id))
    assert _touching_values(creating) == []
    # The values ride on the one statement that reads the ticket's row.
    assert len(reading) == 1
    assert len(_touching_values(reading)) == 1


def test_a_page_of_tickets_reads_their_values_in_one_statement(
    admin: httpx.Client, agent: httpx.Client
) -> None:
    field, category = scoped_field(admin)
    for n in range(3):
        new_ticket(agent, category_id=category, custom_fields={field["key"]: f"v{n}"})
    with transaction() as session:
        actor = reference_cache.user(session, user_id=4)
        assert actor is not None
        filters = TicketFilters(category_id=category)
        with statements_run(session) as listing:
            items, total = tickets.list_tickets(session, viewer=actor, filters=filters)
    assert total == 3
    assert sorted(item.custom_fields[field["key"]] for item in items) == ["v0", "v1", "v2"]
    assert len(_touching_values(listing)) == 1


# --- statistics --------------------------------------------------------------------------------


def test_statistics_break_dropdown_fields_down_by_option(
    admin: httpx.Client, agent: httpx.Client
) -> None:
    field, category = scoped_field(admin, field_type="dropdown", options=["S", "M", "L"])
    for size in ("S", "L", "L"):
        new_ticket(agent, category_id=category, custom_fields={field["key"]: size})
    with transaction(write=False) as session:
        snapshot = StatsOut.model_validate(compute_snapshot(session, now=utcnow()))
    (breakdown,) = [b for b in snapshot.by_custom_field if b.key == field["key"]]
    assert [(o.option, o.count) for o in breakdown.options] == [("S", 1), ("M", 0), ("L", 2)]
    assert breakdown.unset == snapshot.tickets.total - 3


# --- search ------------------------------------------------------------------------------------


def _search_ids(client: httpx.Client, query: str) -> list[int]:
    response = client.get("/search", params={"query": query})
    assert response.status_code == 200, response.text
    return [hit["ticket"]["id"] for hit in response.json()["items"]]


def test_search_finds_a_ticket_by_a_customer_visible_text_value(
    admin: httpx.Client, agent: httpx.Client, customer: httpx.Client, db: Session
) -> None:
    field, category = scoped_field(admin, customer_visible=True)
    word = f"zq{uuid.uuid4().hex[:10]}"
    ticket = new_ticket(
        agent, category_id=category, user_id=1, custom_fields={field["key"]: f"serial {word}"}
    )
    index_ticket(db, ticket_id=ticket["id"])
    assert _search_ids(agent, word) == [ticket["id"]]
    assert _search_ids(customer, word) == [ticket["id"]]


def test_search_never_matches_a_staff_only_value(
    admin: httpx.Client, agent: httpx.Client, customer: httpx.Client, db: Session
) -> None:
    field, category = scoped_field(admin)
    word = f"zq{uuid.uuid4().hex[:10]}"
    ticket = new_ticket(agent, category_id=category, user_id=1, custom_fields={field["key"]: word})
    index_ticket(db, ticket_id=ticket["id"])
    assert _search_ids(customer, word) == []


def test_search_takes_custom_field_filters_as_lists_do(
    admin: httpx.Client, agent: httpx.Client, customer: httpx.Client, db: Session
) -> None:
    field, category = scoped_field(admin, field_type="dropdown", options=["red", "blue"])
    word = f"zq{uuid.uuid4().hex[:10]}"
    tickets = [
        new_ticket(
            agent, category_id=category, description=f"{word} {colour}", custom_fields=values
        )
        for colour, values in (("red", {field["key"]: "red"}), ("blue", {field["key"]: "blue"}))
    ]
    for ticket in tickets:
        index_ticket(db, ticket_id=ticket["id"])
    name = f"cf_{field['key']}"

    response = agent.get("/search", params={"query": word, name: "blue"})
    assert response.status_code == 200, response.text
    assert [hit["ticket"]["id"] for hit in response.json()["items"]] == [tickets[1]["id"]]
    # The rules of the list's filters: a staff-only field is none of a customer's business.
    refused = customer.get("/search", params={"query": word, name: "blue"})
    assert refused.status_code == 422
    assert error_fields(refused) == [name]
