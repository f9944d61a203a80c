"""Reference data: categories, priority levels and statuses. Everyone reads, admins change.

Rows made here are harmless to other tests: statuses are open, do not pause the SLA and sit at
the end of the workflow; exactly one priority is created, at the least urgent rank (the default
priority is the middle of the ranking, so a second new level would move it off Medium).
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.models import Category, PriorityLevel, Status, Ticket
from tests.helpers import new_ticket, problem_of

SAMPLE_PRIORITIES = ["Critical", "High", "Medium", "Low"]
SAMPLE_STATUSES = ["Open", "In Progress", "Waiting on Customer", "Resolved", "Closed"]
SAMPLE_CATEGORIES = [
    "Account Access",
    "Billing & Payments",
    "Technical Support",
    "Product Features",
    "Security Issues",
    "General Support",
]


def _name(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def _count(db: Session, model: Any) -> int:
    db.rollback()
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    return dict(response.json())


def create_category(admin: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"name": _name("Category"), "sla_hours": 24, **fields}
    return _created(admin.post("/categories", json=body))


def create_status(admin: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"name": _name("Status"), "colour": "#64748b", "position": 950, **fields}
    return _created(admin.post("/statuses", json=body))


def _conflict(response: httpx.Response) -> None:
    assert response.status_code == 409, response.text
    assert problem_of(response)["errors"][0]["field"] == "name"


# --- reading ------------------------------------------------------------------------------------


def test_priorities_are_listed_most_urgent_first(customer: httpx.Client) -> None:
    levels = customer.get("/priorities").json()
    ranks = [level["rank"] for level in levels]
    assert ranks == sorted(ranks)
    names = [level["name"] for level in levels]
    assert [name for name in names if name in SAMPLE_PRIORITIES] == SAMPLE_PRIORITIES


def test_statuses_are_listed_in_workflow_order(customer: httpx.Client) -> None:
    statuses = customer.get("/statuses").json()
    positions = [status["position"] for status in statuses]
    assert positions == sorted(positions)
    names = [status["name"] for status in statuses]
    assert [name for name in names if name in SAMPLE_STATUSES] == SAMPLE_STATUSES


def test_categories_are_listed_by_name(customer: httpx.Client) -> None:
    names = [category["name"] for category in customer.get("/categories").json()]
    assert names == sorted(names)
    assert set(SAMPLE_CATEGORIES) <= set(names)


def test_sample_reference_rows_carry_their_settings(customer: httpx.Client) -> None:
    assert customer.get("/categories/5").json()["sla_hours"] == 2
    critical = customer.get("/priorities/1").json()
    assert (critical["name"], critical["rank"], critical["sla_hours"]) == ("Critical", 1, 1)
    waiting = customer.get("/statuses/3").json()
    assert (waiting["pauses_sla"], waiting["is_closed"]) == (True, False)
    assert customer.get("/statuses/5").json()["is_closed"] is True


@pytest.mark.parametrize("path", ["/categories", "/priorities", "/statuses"])
@pytest.mark.parametrize("role", ["customer", "agent", "admin"])
def test_everyone_reads_reference_data(
    clients: dict[str, httpx.Client], role: str, path: str
) -> None:
    rows = clients[role].get(path).json()
    assert rows
    first = clients[role].get(f"{path}/{rows[0]['id']}")
    assert first.json() == rows[0]


# --- categories ---------------------------------------------------------------------------------


def test_admin_creates_category(admin: httpx.Client, db: Session) -> None:
    before = _count(db, Category)
    name = _name("Hardware")
    category = create_category(admin, name=name, description="Broken things", sla_hours=36)
    assert category == {
        "id": category["id"],
        "name": name,
        "description": "Broken things",
        "sla_hours": 36,
        "active": True,
        "calendar_id": None,
    }
    assert _count(db, Category) == before + 1
    assert category in admin.get("/categories").json()


def test_admin_patches_category_and_unsent_fields_stay(admin: httpx.Client) -> None:
    category = create_category(admin, description="Before")
    new_name = _name("Renamed")
    response = admin.patch(
        f"/categories/{category['id']}", json={"name": new_name, "sla_hours": 4.5}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {**category, "name": new_name, "sla_hours": 4.5}
    assert admin.get(f"/categories/{category['id']}").json() == response.json()


def test_duplicate_category_name_is_409_and_creates_nothing(
    admin: httpx.Client, db: Session
) -> None:
    before = _count(db, Category)
    _conflict(admin.post("/categories", json={"name": "Billing & Payments", "sla_hours": 1}))
    assert _count(db, Category) == before


def test_renaming_category_to_a_taken_name_is_409_and_changes_nothing(
    admin: httpx.Client,
) -> None:
    category = create_category(admin)
    _conflict(admin.patch(f"/categories/{category['id']}", json={"name": "General Support"}))
    assert admin.get(f"/categories/{category['id']}").json() == category


def test_resending_a_categorys_own_name_is_fine(admin: httpx.Client) -> None:
    category = create_category(admin)
    response = admin.patch(f"/categories/{category['id']}", json={"name": category["name"]})
    assert response.status_code == 200, response.text
    assert response.json() == category


def test_inactive_category_cannot_be_used_for_a_new_ticket(
    admin: httpx.Client, customer: httpx.Client, db: Session
) -> None:
    category = create_category(admin, active=False)
    before = _count(db, Ticket)
    response = customer.post(
        "/tickets",
        json={"title": "Help", "description": "Please", "category_id": category["id"]},
    )
    assert response.status_code == 422, response.text
    assert problem_of(response)["errors"][0]["field"] == "category_id"
    assert _count(db, Ticket) == before


def test_deactivated_category_cannot_be_used_for_a_new_ticket(
    admin: httpx.Client, agent: httpx.Client, db: Session
) -> None:
    category = create_category(admin)
    new_ticket(agent, category_id=category["id"])
    assert admin.patch(f"/categories/{category['id']}", json={"active": False}).json() == {
        **category,
        "active": False,
    }
    before = _count(db, Ticket)
    response = agent.post(
        "/tickets", json={"title": "Again", "description": "Hm", "category_id": category["id"]}
    )
    assert response.status_code == 422, response.text
    assert problem_of(response)["errors"][0]["field"] == "category_id"
    assert _count(db, Ticket) == before


def test_ticket_cannot_move_into_an_inactive_category(
    admin: httpx.Client, agent: httpx.Client
) -> None:
    category = create_category(admin, active=False)
    ticket = new_ticket(agent)
    response = agent.patch(f"/tickets/{ticket['id']}", json={"category_id": category["id"]})
    assert response.status_code == 422, response.text
    assert problem_of(response)["errors"][0]["field"] == "category_id"
    assert agent.get(f"/tickets/{ticket['id']}").json()["version"] == ticket["version"]


def test_tickets_already_in_a_deactivated_category_stay_readable(
    admin: httpx.Client, customer: httpx.Client
) -> None:
    category = create_category(admin)
    ticket = new_ticket(customer, category_id=category["id"])
    admin.patch(f"/categories/{category['id']}", json={"active": False})
    shown = customer.get(f"/tickets/{ticket['id']}").json()
    assert shown["category"] == {"id": category["id"], "name": category["name"]}


def test_inactive_category_is_still_listed_as_inactive(admin: httpx.Client) -> None:
    category = create_category(admin, active=False)
    listed = {row["id"]: row for row in admin.get("/categories").json()}
    assert listed[category["id"]]["active"] is False


def test_reactivated_category_can_be_used_again(
    admin: httpx.Client, customer: httpx.Client
) -> None:
    category = create_category(admin, active=False)
    admin.patch(f"/categories/{category['id']}", json={"active": True})
    ticket = new_ticket(customer, category_id=category["id"])
    assert ticket["category"]["id"] == category["id"]


# --- priorities ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def priority(clients: dict[str, httpx.Client]) -> dict[str, Any]:
    """The one priority level this session creates: the least urgent there can be."""
    body = {
        "name": _name("Someday"),
        "description": "No rush at all",
        "rank": 1000,
        "sla_hours": 720,
        "colour": "#9ca3af",
    }
    return _created(clients["admin"].post("/priorities", json=body))


def test_admin_creates_priority_listed_after_the_sample_levels(
    admin: httpx.Client, priority: dict[str, Any]
) -> None:
    assert {k: priority[k] for k in ("rank", "sla_hours", "colour", "description")} == {
        "rank": 1000,
        "sla_hours": 720,
        "colour": "#9ca3af",
        "description": "No rush at all",
    }
    names = [level["name"] for level in admin.get("/priorities").json()]
    assert names.index(priority["name"]) > names.index("Low")
    assert admin.get(f"/priorities/{priority['id']}").json() == priority


def test_admin_patches_priority_and_unsent_fields_stay(
    admin: httpx.Client, priority: dict[str, Any]
) -> None:
    new_name = _name("Eventually")
    response = admin.patch(
        f"/priorities/{priority['id']}",
        json={"name": new_name, "colour": "#ABCDEF", "sla_hours": 500},
    )
    assert response.status_code == 200, response.text
    changed = {**priority, "name": new_name, "colour": "#ABCDEF", "sla_hours": 500}
    assert response.json() == changed


def test_new_priority_can_be_given_to_a_ticket(
    agent: httpx.Client, priority: dict[str, Any]
) -> None:
    ticket = new_ticket(agent, priority_id=priority["id"])
    assert ticket["priority"]["id"] == priority["id"]
    assert ticket["priority"]["rank"] == 1000


def test_duplicate_priority_name_is_409_and_creates_nothing(
    admin: httpx.Client, db: Session
) -> None:
    before = _count(db, PriorityLevel)
    body = {"name": "High", "rank": 1000, "sla_hours": 1, "colour": "#000000"}
    _conflict(admin.post("/priorities", json=body))
    assert _count(db, PriorityLevel) == before


def test_renaming_priority_to_a_taken_name_is_409_and_changes_nothing(
    admin: httpx.Client, priority: dict[str, Any]
) -> None:
    before = admin.get(f"/priorities/{priority['id']}").json()
    _conflict(admin.patch(f"/priorities/{priority['id']}", json={"name": "Medium"}))
    assert admin.get(f"/priorities/{priority['id']}").json() == before


# --- statuses -----------------------------------------------------------------------------------


def test_admin_creates_status_listed_after_closed(admin: httpx.Client, db: Session) -> None:
    before = _count(db, Status)
    status = create_status(admin, description="Parked", colour="#123abc", position=951)
    assert status == {
        "id": status["id"],
        "name": status["name"],
        "description": "Parked",
        "colour": "#123abc",
        "is_closed": False,
        "pauses_sla": False,
        "position": 951,
    }
    assert _count(db, Status) == before + 1
    names = [row["name"] for row in admin.get("/statuses").json()]
    assert names.index(status["name"]) > names.index("Closed")


def test_admin_patches_status_and_unsent_fields_stay(admin: httpx.Client) -> None:
    status = create_status(admin)
    new_name = _name("Parked")
    response = admin.patch(
        f"/statuses/{status['id']}",
        json={"name": new_name, "description": "On hold", "position": 960, "pauses_sla": True},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        **status,
        "name": new_name,
        "description": "On hold",
        "position": 960,
        "pauses_sla": True,
    }
    assert admin.get(f"/statuses/{status['id']}").json() == response.json()


def test_duplicate_status_name_is_409_and_creates_nothing(admin: httpx.Client, db: Session) -> None:
    before = _count(db, Status)
    _conflict(admin.post("/statuses", json={"name": "Open", "colour": "#000000", "position": 999}))
    assert _count(db, Status) == before


def test_renaming_status_to_a_taken_name_is_409_and_changes_nothing(
    admin: httpx.Client,
) -> None:
    status = create_status(admin)
    _conflict(admin.patch(f"/statuses/{status['id']}", json={"name": "Resolved"}))
    assert admin.get(f"/statuses/{status['id']}").json() == status


def test_new_tickets_still_start_open_after_a_status_is_added(
    admin: httpx.Client, customer: httpx.Client
) -> None:
    create_status(admin, position=970)
    assert new_ticket(customer)["status"]["name"] == "Open"
