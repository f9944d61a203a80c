"""Automations through the API: admins write them, staff read and test them, customers never."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from shared.clock import utcnow
from shared.models import Automation, AutomationFiring, Ticket, TicketComment, TicketHistory
from tests.api.test_mcp import call as mcp_call
from tests.api.test_mcp import error_text, ok
from tests.helpers import new_ticket, problem_of
from tests.support.processes import ApiServer

WAITING, RESOLVED, HIGH = 3, 4, 2


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def made(admin: httpx.Client) -> Iterator[list[int]]:
    """Ids of the automations a test made, deleted afterwards."""
    ids: list[int] = []
    yield ids
    for automation_id in ids:
        admin.delete(f"/automations/{automation_id}")


def body_of(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": unique("automation"),
        "active": False,
        "conditions": {
            "time": [{"kind": "hours_since", "anchor": "status_entered", "hours": 72}],
            "all": [{"kind": "field", "field": "status_id", "value": WAITING}],
        },
        "actions": [
            {"kind": "set_status", "status_id": RESOLVED},
            {"kind": "add_note", "body": "No reply for 72 hours."},
        ],
    }
    body.update(overrides)
    return body


def new_automation(admin: httpx.Client, made: list[int], **overrides: Any) -> dict[str, Any]:
    response = admin.post("/automations", json=body_of(**overrides))
    assert response.status_code == 201, response.text
    made.append(response.json()["id"])
    return dict(response.json())


def error_fields(response: httpx.Response) -> list[str]:
    return [error["field"] for error in problem_of(response).get("errors", [])]


def count_automations(db: Session) -> int:
    return int(db.scalar(select(func.count()).select_from(Automation)) or 0)


def test_admin_creates_an_automation_and_staff_read_it(
    admin: httpx.Client, agent: httpx.Client, made: list[int]
) -> None:
    automation = new_automation(admin, made, position=3, description="Tidy up")

    assert automation["position"] == 3
    assert automation["active"] is False
    assert automation["conditions"]["time"] == [
        {"kind": "hours_since", "anchor": "status_entered", "hours": 72.0}
    ]
    assert agent.get(f"/automations/{automation['id']}").json() == automation
    assert automation["id"] in [a["id"] for a in agent.get("/automations").json()]


def test_admin_changes_and_deletes_an_automation(admin: httpx.Client, made: list[int]) -> None:
    automation = new_automation(admin, made)
    changed = admin.patch(
        f"/automations/{automation['id']}",
        json={
            "active": True,
            "conditions": {
                "time": [
                    {
                        "kind": "hours_until",
                        "anchor": "resolution_due",
                        "operator": "<=",
                        "hours": 1.5,
                    }
                ]
            },
        },
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["active"] is True
    assert changed.json()["conditions"]["time"][0]["hours"] == 1.5
    assert changed.json()["actions"] == automation["actions"]

    assert admin.delete(f"/automations/{automation['id']}").status_code == 204
    assert admin.get(f"/automations/{automation['id']}").status_code == 404


def test_customers_never_see_automations_and_agents_cannot_write_them(
    admin: httpx.Client, agent: httpx.Client, customer: httpx.Client, db: Session, made: list[int]
) -> None:
    automation = new_automation(admin, made)
    before = count_automations(db)

    assert customer.get("/automations").status_code == 403
    assert customer.get(f"/automations/{automation['id']}").status_code == 403
    assert (
        customer.post(f"/automations/{automation['id']}/test", json={"ticket": "1"}).status_code
        == 403
    )
    assert agent.post("/automations", json=body_of()).status_code == 403
    assert agent.patch(f"/automations/{automation['id']}", json={"active": True}).status_code == 403
    assert agent.delete(f"/automations/{automation['id']}").status_code == 403
    assert agent.get(f"/automations/{automation['id']}/failures").status_code == 403
    assert count_automations(db) == before
    assert admin.get(f"/automations/{automation['id']}").json()["active"] is False


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"actions": [{"kind": "set_status", "status_id": 999}]}, "actions.0.status_id"),
        ({"actions": [{"kind": "set_assignee", "assignee_id": 1}]}, "actions.0.assignee_id"),
        (
            {"actions": [{"kind": "escalate", "priority_id": 77}]},
            "actions.0.priority_id",
        ),
        (
            {
                "conditions": {
                    "time": [{"kind": "hours_since", "anchor": "created", "hours": 1}],
                    "all": [{"kind": "field", "field": "category_id", "value": 999}],
                }
            },
            "conditions.all.0.value",
        ),
        (
            {
                "conditions": {
                    "time": [{"kind": "hours_since", "anchor": "created", "hours": 1}],
                    "all": [{"kind": "changed", "field": "status_id"}],
                }
            },
            "conditions.all.0.kind",
        ),
        ({"actions": [{"kind": "send_to_webhook", "endpoint_id": 1}]}, "actions.0"),
    ],
)
def test_unusable_references_are_refused_naming_the_field(
    admin: httpx.Client, db: Session, change: dict[str, Any], field: str
) -> None:
    before = count_automations(db)

    response = admin.post("/automations", json=body_of(**change))

    assert response.status_code == 422, response.text
    assert any(name.startswith(field) for name in error_fields(response)), response.text
    assert count_automations(db) == before


@pytest.mark.parametrize(
    "conditions",
    [
        {"time": []},
        {"all": [{"kind": "tag", "tag": "x"}]},
        {"time": [{"kind": "hours_since", "anchor": "created", "hours": -1}]},
        {"time": [{"kind": "hours_since", "anchor": "created", "hours": 10**9}]},
        {"time": [{"kind": "hours_since", "anchor": "created", "hours": "NaN"}]},
        {"time": [{"kind": "hours_since", "anchor": "birthday", "hours": 1}]},
        {"time": [{"kind": "hours_until", "anchor": "created", "hours": 1}]},
        {"time": [{"kind": "hours_since", "anchor": "created", "operator": ">", "hours": 1}]},
        {"time": [{"kind": "hours_since", "anchor": "created", "hours": 1, "extra": 1}]},
    ],
)
def test_malformed_time_conditions_are_refused(
    admin: httpx.Client, db: Session, conditions: dict[str, Any]
) -> None:
    before = count_automations(db)

    response = admin.post("/automations", json=body_of(conditions=conditions))

    assert response.status_code == 422, response.text
    assert all(name.startswith("conditions") for name in error_fields(response)), response.text
    assert count_automations(db) == before


def test_bad_names_and_oversized_input_are_refused(
    admin: httpx.Client, db: Session, made: list[int]
) -> None:
    taken = new_automation(admin, made)
    before = count_automations(db)

    duplicate = admin.post("/automations", json=body_of(name=taken["name"]))
    control = admin.post("/automations", json=body_of(name="bad\x07name"))
    oversized = admin.post(
        "/automations", json=body_of(actions=[{"kind": "add_note", "body": "x" * 5001}])
    )
    too_many = admin.post(
        "/automations", json=body_of(actions=[{"kind": "add_tags", "tags": ["a"]}] * 51)
    )
    null_actions = admin.patch(f"/automations/{taken['id']}", json={"actions": None})

    assert duplicate.status_code == 409
    assert control.status_code == 422
    assert error_fields(control) == ["name"]
    assert oversized.status_code == 422
    assert too_many.status_code == 422
    assert null_actions.status_code == 422
    assert count_automations(db) == before
    assert admin.get(f"/automations/{taken['id']}").json()["actions"] == taken["actions"]


def test_unknown_automations_are_404(admin: httpx.Client) -> None:
    assert admin.get("/automations/987654").status_code == 404
    assert admin.patch("/automations/987654", json={"active": True}).status_code == 404
    assert admin.delete("/automations/987654").status_code == 404
    assert admin.post("/automations/987654/test", json={"ticket": "1"}).status_code == 404
    assert admin.get("/automations/987654/failures").status_code == 404


def test_dry_run_says_whether_it_would_act_and_changes_nothing(
    admin: httpx.Client, agent: httpx.Client, db: Session, made: list[int]
) -> None:
    automation = new_automation(admin, made)
    ticket = new_ticket(agent)
    agent.patch(f"/tickets/{ticket['id']}", json={"status_id": WAITING})

    fresh = agent.post(f"/automations/{automation['id']}/test", json={"ticket": ticket["number"]})
    db.execute(
        update(Ticket)
        .where(Ticket.id == ticket["id"])
        .values(status_changed_at=utcnow() - timedelta(hours=73))
    )
    db.commit()
    old = agent.post(f"/automations/{automation['id']}/test", json={"ticket": str(ticket["id"])})

    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["matches"] is False
    assert fresh.json()["time_conditions_hold"] is False
    assert fresh.json()["conditions_hold"] is True
    assert old.json()["matches"] is True
    assert old.json()["occurrence"].startswith("status_entered@")
    assert [a["kind"] for a in old.json()["actions"]] == ["set_status", "add_note"]
    assert old.json()["actions"][0]["would_change"] is True
    assert db.scalar(select(Ticket.status_id).where(Ticket.id == ticket["id"])) == WAITING
    assert not db.scalar(
        select(func.count()).where(AutomationFiring.automation_id == automation["id"])
    )
    assert not db.scalar(
        select(func.count()).where(
            TicketComment.ticket_id == ticket["id"], TicketComment.is_internal.is_(True)
        )
    )
    assert not db.scalar(
        select(func.count()).where(TicketHistory.actor_automation_id == automation["id"])
    )


def test_dry_run_of_an_unknown_ticket_names_the_ticket(
    admin: httpx.Client, made: list[int]
) -> None:
    automation = new_automation(admin, made)

    response = admin.post(f"/automations/{automation['id']}/test", json={"ticket": "TKT-999999"})
    malformed = admin.post(f"/automations/{automation['id']}/test", json={"ticket": ""})

    assert response.status_code == 422
    assert error_fields(response) == ["ticket"]
    assert malformed.status_code == 422


def test_the_seed_ships_the_two_examples_disabled(agent: httpx.Client) -> None:
    seeded = {a["name"]: a for a in agent.get("/automations").json()}

    waiting = seeded["Resolve after 72 h waiting on the customer"]
    unassigned = seeded["Escalate unassigned tickets after 1 h"]
    assert waiting["active"] is False
    assert unassigned["active"] is False
    assert waiting["conditions"]["time"][0]["anchor"] == "status_entered"
    assert [a["kind"] for a in waiting["actions"]] == ["set_status", "add_note"]
    assert [a["kind"] for a in unassigned["actions"]] == ["escalate"]


def test_agents_list_and_test_automations_over_mcp(
    admin: httpx.Client,
    agent: httpx.Client,
    api_server: ApiServer,
    api_keys: dict[str, str],
    made: list[int],
) -> None:
    automation = new_automation(admin, made)
    ticket = new_ticket(agent)

    listed = ok(mcp_call(api_server, api_keys["agent"], "list_automations"))
    tested = ok(
        mcp_call(
            api_server,
            api_keys["agent"],
            "test_automation",
            automation_id=automation["id"],
            ticket=ticket["number"],
        )
    )

    assert automation["id"] in [a["id"] for a in listed]
    assert tested["automation_id"] == automation["id"]
    assert tested["matches"] is False
    assert tested["conditions_hold"] is False  # the ticket is Open, not Waiting on Customer


def test_customers_cannot_use_the_automation_tools(
    admin: httpx.Client, api_server: ApiServer, api_keys: dict[str, str], made: list[int]
) -> None:
    automation = new_automation(admin, made)

    listed = mcp_call(api_server, api_keys["customer"], "list_automations")
    tested = mcp_call(
        api_server,
        api_keys["customer"],
        "test_automation",
        automation_id=automation["id"],
        ticket=1,
    )

    assert "Forbidden" in error_text(listed)
    assert "Forbidden" in error_text(tested)
