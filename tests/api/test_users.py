"""Admins run the people on the desk: create, rename, re-role and deactivate users.

Every user made here is new (unique email); the six sample users are never changed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.api.auth.keys import create_api_key
from shared.models import Role, User
from shared.unit_of_work import transaction
from tests.helpers import problem_of
from tests.support.processes import ApiServer

JOHN, JANE, SARAH, MIKE, ADMIN = 1, 2, 4, 5, 6


def _email(prefix: str = "user") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}@example.com"


def create_user(admin: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"name": "Pat Example", "email": _email(), **fields}
    response = admin.post("/users", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _user_count(db: Session) -> int:
    db.rollback()
    return int(db.scalar(select(func.count()).select_from(User)) or 0)


def _user_row(db: Session, user_id: int) -> tuple[Any, ...]:
    db.rollback()
    row = db.execute(
        select(User.name, User.email, User.role, User.active).where(User.id == user_id)
    ).one()
    return tuple(row)


@pytest.fixture
def key_for(api_server: ApiServer) -> Iterator[Any]:
    """Make an API key for a user (in-process, as the CLI does) and a client that sends it."""
    made: list[httpx.Client] = []

    def make(email: str) -> httpx.Client:
        with transaction() as session:
            _row, key = create_api_key(session, email=email, name="tests-users")
        client = httpx.Client(
            base_url=api_server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


# --- create -------------------------------------------------------------------------------------


def test_admin_creates_user_with_the_given_fields(admin: httpx.Client) -> None:
    email = _email("sam")
    user = create_user(admin, name="Sam Agent", email=email, role="agent", active=True)
    assert user["name"] == "Sam Agent"
    assert user["email"] == email
    assert user["role"] == "agent"
    assert user["active"] is True
    assert user["created_at"]
    assert admin.get(f"/users/{user['id']}").json() == user


def test_new_user_defaults_to_an_active_customer(admin: httpx.Client) -> None:
    user = create_user(admin)
    assert user["role"] == "customer"
    assert user["active"] is True


def test_new_users_email_is_stored_lowercase_and_name_trimmed(
    admin: httpx.Client, db: Session
) -> None:
    email = _email("Mixed.Case")
    user = create_user(admin, name="  Lee Spaces  ", email=email.upper())
    assert user["email"] == email.lower()
    assert user["name"] == "Lee Spaces"
    assert _user_row(db, user["id"])[:2] == ("Lee Spaces", email.lower())


def test_new_user_is_in_the_database(admin: httpx.Client, db: Session) -> None:
    before = _user_count(db)
    user = create_user(admin, name="Row Check", role="admin")
    assert _user_count(db) == before + 1
    assert _user_row(db, user["id"]) == ("Row Check", user["email"], Role.ADMIN, True)


@pytest.mark.parametrize("transform", [str.upper, str.title, lambda e: f"  {e}  "])
def test_duplicate_email_is_409_whatever_its_case_and_creates_nothing(
    admin: httpx.Client, db: Session, transform: Any
) -> None:
    email = _email("twin")
    create_user(admin, email=email)
    before = _user_count(db)
    response = admin.post("/users", json={"name": "Twin", "email": transform(email)})
    assert response.status_code == 409, response.text
    assert problem_of(response)["errors"][0]["field"] == "email"
    assert _user_count(db) == before


def test_sample_users_email_in_capitals_is_409(admin: httpx.Client, db: Session) -> None:
    before = _user_count(db)
    response = admin.post("/users", json={"name": "Not John", "email": "JOHN.DOE@EXAMPLE.COM"})
    assert response.status_code == 409
    problem_of(response)
    assert _user_count(db) == before


# --- change -------------------------------------------------------------------------------------


def test_admin_renames_a_user_and_the_rest_stays(admin: httpx.Client, db: Session) -> None:
    user = create_user(admin, name="Old Name", role="agent")
    response = admin.patch(f"/users/{user['id']}", json={"name": "New Name"})
    assert response.status_code == 200, response.text
    assert response.json() == {**user, "name": "New Name"}
    assert _user_row(db, user["id"]) == ("New Name", user["email"], Role.AGENT, True)


@pytest.mark.parametrize(
    ("start", "end"), [("customer", "agent"), ("agent", "admin"), ("admin", "customer")]
)
def test_admin_changes_a_users_role(admin: httpx.Client, db: Session, start: str, end: str) -> None:
    user = create_user(admin, role=start)
    response = admin.patch(f"/users/{user['id']}", json={"role": end})
    assert response.status_code == 200, response.text
    assert response.json()["role"] == end
    assert _user_row(db, user["id"])[2] == Role(end)


def test_admin_deactivates_and_reactivates_a_user(admin: httpx.Client, db: Session) -> None:
    user = create_user(admin)
    assert admin.patch(f"/users/{user['id']}", json={"active": False}).json()["active"] is False
    assert _user_row(db, user["id"])[3] is False
    assert admin.patch(f"/users/{user['id']}", json={"active": True}).json()["active"] is True
    assert _user_row(db, user["id"])[3] is True


def test_admin_changes_a_users_email_lowercased(admin: httpx.Client) -> None:
    user = create_user(admin)
    new_email = _email("Moved")
    response = admin.patch(f"/users/{user['id']}", json={"email": new_email})
    assert response.status_code == 200, response.text
    assert response.json()["email"] == new_email.lower()


def test_changing_email_to_another_users_in_other_case_is_409_and_changes_nothing(
    admin: httpx.Client, db: Session
) -> None:
    taken = create_user(admin)
    user = create_user(admin)
    before = _user_row(db, user["id"])
    response = admin.patch(f"/users/{user['id']}", json={"email": taken["email"].upper()})
    assert response.status_code == 409, response.text
    assert problem_of(response)["errors"][0]["field"] == "email"
    assert _user_row(db, user["id"]) == before


def test_resending_a_users_own_email_in_capitals_is_fine(admin: httpx.Client) -> None:
    user = create_user(admin)
    response = admin.patch(f"/users/{user['id']}", json={"email": user["email"].upper()})
    assert response.status_code == 200, response.text
    assert response.json()["email"] == user["email"]


def test_deactivated_users_key_is_refused_with_401(admin: httpx.Client, key_for: Any) -> None:
    user = create_user(admin, name="Soon Gone", role="agent")
    client = key_for(user["email"])
    assert client.get("/users/me").json()["id"] == user["id"]

    assert admin.patch(f"/users/{user['id']}", json={"active": False}).status_code == 200
    for response in (client.get("/users/me"), client.get("/tickets")):
        assert response.status_code == 401
        problem_of(response)


def test_reactivated_users_key_works_again(admin: httpx.Client, key_for: Any) -> None:
    user = create_user(admin, role="agent")
    client = key_for(user["email"])
    admin.patch(f"/users/{user['id']}", json={"active": False})
    assert client.get("/users/me").status_code == 401
    admin.patch(f"/users/{user['id']}", json={"active": True})
    assert client.get("/users/me").json()["id"] == user["id"]


def test_user_created_inactive_cannot_use_a_key(admin: httpx.Client, key_for: Any) -> None:
    user = create_user(admin, active=False)
    response = key_for(user["email"]).get("/users/me")
    assert response.status_code == 401
    problem_of(response)


def test_demoted_admin_loses_admin_powers_at_once(admin: httpx.Client, key_for: Any) -> None:
    user = create_user(admin, role="admin")
    client = key_for(user["email"])
    assert client.get("/users").status_code == 200
    admin.patch(f"/users/{user['id']}", json={"role": "customer"})
    response = client.get("/users")
    assert response.status_code == 403
    problem_of(response)


# --- an admin cannot lock themselves out --------------------------------------------------------


def test_admin_cannot_deactivate_themselves(admin: httpx.Client, db: Session) -> None:
    before = _user_row(db, ADMIN)
    response = admin.patch(f"/users/{ADMIN}", json={"active": False})
    assert response.status_code == 403, response.text
    assert problem_of(response)["errors"][0]["field"] == "active"
    assert _user_row(db, ADMIN) == before


@pytest.mark.parametrize("role", ["agent", "customer"])
def test_admin_cannot_demote_themselves(admin: httpx.Client, db: Session, role: str) -> None:
    before = _user_row(db, ADMIN)
    response = admin.patch(f"/users/{ADMIN}", json={"role": role, "name": "Demoted Admin"})
    assert response.status_code == 403, response.text
    assert problem_of(response)["errors"][0]["field"] == "role"
    assert _user_row(db, ADMIN) == before


def test_admin_may_resend_their_own_role_and_active_flag(admin: httpx.Client) -> None:
    response = admin.patch(f"/users/{ADMIN}", json={"role": "admin", "active": True})
    assert response.status_code == 200, response.text
    assert response.json()["role"] == "admin"
    assert response.json()["active"] is True


def test_admin_may_demote_another_admin(admin: httpx.Client) -> None:
    other = create_user(admin, role="admin")
    response = admin.patch(f"/users/{other['id']}", json={"role": "agent", "active": False})
    assert response.status_code == 200, response.text
    assert (response.json()["role"], response.json()["active"]) == ("agent", False)


# --- read ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["customer", "agent", "admin"])
def test_list_filtered_by_role_has_only_that_role_and_all_of_it(
    admin: httpx.Client, db: Session, role: str
) -> None:
    create_user(admin, role=role)
    page = admin.get("/users", params={"role": role, "limit": 200}).json()
    db.rollback()
    expected = list(db.scalars(select(User.id).where(User.role == Role(role)).order_by(User.id)))
    assert [user["id"] for user in page["items"]] == expected
    assert {user["role"] for user in page["items"]} == {role}
    assert page["total"] == len(expected)


def test_agents_filter_includes_the_sample_agents(agent: httpx.Client) -> None:
    ids = [user["id"] for user in agent.get("/users", params={"role": "agent"}).json()["items"]]
    assert {SARAH, MIKE} <= set(ids)
    assert JOHN not in ids


def test_list_pages_walk_every_user_once_in_id_order(admin: httpx.Client, db: Session) -> None:
    for _ in range(3):
        create_user(admin)
    db.rollback()
    all_ids = list(db.scalars(select(User.id).order_by(User.id)))
    seen: list[int] = []
    offset = 0
    while True:
        page = admin.get("/users", params={"limit": 2, "offset": offset}).json()
        assert (page["limit"], page["offset"], page["total"]) == (2, offset, len(all_ids))
        if not page["items"]:
            break
        assert len(page["items"]) <= 2
        seen += [user["id"] for user in page["items"]]
        offset += 2
    assert seen == all_ids


def test_list_offset_past_the_end_is_an_empty_page(admin: httpx.Client) -> None:
    page = admin.get("/users", params={"offset": 1_000_000}).json()
    assert page["items"] == []
    assert page["total"] >= 6


def test_list_without_params_uses_default_limit(agent: httpx.Client) -> None:
    page = agent.get("/users").json()
    assert (page["limit"], page["offset"]) == (50, 0)
    assert len(page["items"]) == min(50, page["total"])


@pytest.mark.parametrize(
    ("role", "user_id", "name"),
    [
        ("customer", JOHN, "John Doe"),
        ("other_customer", JANE, "Jane Smith"),
        ("agent", SARAH, "Sarah Johnson"),
        ("other_agent", MIKE, "Mike Chen"),
        ("admin", ADMIN, "Admin User"),
    ],
)
def test_users_me_is_the_keys_user(
    clients: dict[str, httpx.Client], role: str, user_id: int, name: str
) -> None:
    me = clients[role].get("/users/me").json()
    assert (me["id"], me["name"]) == (user_id, name)
    assert me["role"] == ("admin" if role == "admin" else role.removeprefix("other_"))


def test_customer_reads_themselves_but_no_one_else(customer: httpx.Client) -> None:
    assert customer.get(f"/users/{JOHN}").json()["name"] == "John Doe"
    for other in (JANE, SARAH, ADMIN):
        response = customer.get(f"/users/{other}")
        assert response.status_code == 404
        problem_of(response)


def test_agent_reads_any_user(agent: httpx.Client) -> None:
    assert agent.get(f"/users/{JOHN}").json()["email"] == "john.doe@example.com"
