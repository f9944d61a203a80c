"""Users carry an is_bot flag: AI agents are agent users with it set, and only agents may be."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy.orm import Session

from shared.models import User
from tests.api.routing_support import new_user
from tests.helpers import problem_of


def _email() -> str:
    return f"bot.{uuid.uuid4().hex[:10]}@example.com"


def test_admin_creates_a_bot_agent_and_everyone_staff_sees_the_flag(
    admin: httpx.Client, agent: httpx.Client, db: Session
) -> None:
    bot = new_user(admin, is_bot=True)

    assert bot["is_bot"] is True
    assert agent.get(f"/users/{bot['id']}").json()["is_bot"] is True
    row = db.get(User, bot["id"])
    assert row is not None
    assert row.is_bot


def test_users_are_not_bots_by_default(admin: httpx.Client) -> None:
    response = admin.post("/users", json={"name": "Plain", "email": _email(), "role": "agent"})
    assert response.status_code == 201
    assert response.json()["is_bot"] is False


@pytest.mark.parametrize("role", ["customer", "admin"])
def test_only_agents_may_be_created_as_bots(admin: httpx.Client, db: Session, role: str) -> None:
    email = _email()
    response = admin.post(
        "/users", json={"name": "Wrong Bot", "email": email, "role": role, "is_bot": True}
    )

    assert response.status_code == 422
    problem = problem_of(response)
    assert problem["errors"][0]["field"] == "is_bot"
    assert "only agent users may be bots" in problem["detail"]
    db.rollback()
    assert db.query(User).filter(User.email == email).count() == 0


def test_admin_turns_an_agent_into_a_bot_and_back(admin: httpx.Client) -> None:
    user = new_user(admin)
    assert admin.patch(f"/users/{user['id']}", json={"is_bot": True}).json()["is_bot"] is True
    assert admin.patch(f"/users/{user['id']}", json={"is_bot": False}).json()["is_bot"] is False


def test_a_customer_cannot_be_flagged_as_a_bot(admin: httpx.Client, db: Session) -> None:
    user = new_user(admin, role="customer")
    response = admin.patch(f"/users/{user['id']}", json={"is_bot": True})
    assert response.status_code == 422
    assert problem_of(response)["errors"][0]["field"] == "is_bot"
    db.rollback()
    row = db.get(User, user["id"])
    assert row is not None
    assert not row.is_bot


def test_a_bot_cannot_change_role_without_dropping_the_flag(
    admin: httpx.Client, db: Session
) -> None:
    bot = new_user(admin, is_bot=True)

    refused = admin.patch(f"/users/{bot['id']}", json={"role": "admin"})
    assert refused.status_code == 422
    assert problem_of(refused)["errors"][0]["field"] == "role"
    db.rollback()
    row = db.get(User, bot["id"])
    assert row is not None
    assert row.role.value == "agent"

    both = admin.patch(f"/users/{bot['id']}", json={"role": "admin", "is_bot": False})
    assert both.status_code == 200
    assert (both.json()["role"], both.json()["is_bot"]) == ("admin", False)


def test_agents_cannot_set_the_flag(admin: httpx.Client, agent: httpx.Client) -> None:
    user = new_user(admin)
    assert agent.patch(f"/users/{user['id']}", json={"is_bot": True}).status_code == 403
    assert admin.get(f"/users/{user['id']}").json()["is_bot"] is False


@pytest.mark.parametrize("value", ["yes please", 2, None])
def test_a_malformed_flag_is_422(admin: httpx.Client, value: object) -> None:
    body = {"name": "Odd", "email": _email(), "role": "agent", "is_bot": value}
    response = admin.post("/users", json=body)
    assert response.status_code == 422
    assert problem_of(response)["errors"][0]["field"] == "is_bot"


def test_list_filters_by_the_flag(admin: httpx.Client) -> None:
    bot = new_user(admin, is_bot=True)
    human = new_user(admin)
    bots = admin.get("/users", params={"is_bot": "true", "limit": 200}).json()["items"]
    humans = admin.get("/users", params={"is_bot": "false", "limit": 200}).json()["items"]
    assert bot["id"] in [u["id"] for u in bots]
    assert all(u["is_bot"] for u in bots)
    assert human["id"] in [u["id"] for u in humans]
    assert not any(u["is_bot"] for u in humans)
