"""The API-key lifecycle: create (shown once), list (never the secret), revoke (at once),
expiry, last use; through the API and the `ticketing api-key` commands."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.models import ApiKey
from tests.helpers import problem_of
from tests.support.processes import BIN, ApiServer, ticketing, wait_until

CUSTOMER_ID, OTHER_CUSTOMER_ID, AGENT_ID = 1, 2, 4


def _new_key(client: httpx.Client, **body: Any) -> dict[str, Any]:
    response = client.post("/api-keys", json={"name": "integration", **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


def _as(server: ApiServer, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )


def _key_count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(ApiKey)) or 0


def _listed(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api-keys", params={"limit": 200, **params})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def test_a_new_key_is_shown_once_and_works(customer: httpx.Client, api_server: ApiServer) -> None:
    created = _new_key(customer, name="  crm sync  ")
    assert created["key"].startswith("tkt_")
    assert created["prefix"] == created["key"][:12]
    assert created["name"] == "crm sync"
    assert created["user_id"] == CUSTOMER_ID
    assert created["state"] == "active"
    assert created["expires_at"] is None
    with _as(api_server, created["key"]) as client:
        assert client.get("/users/me").json()["id"] == CUSTOMER_ID


def test_listings_never_contain_a_secret(
    customer: httpx.Client, admin: httpx.Client, db: Session
) -> None:
    created = _new_key(customer)
    key_hash = db.scalar(select(ApiKey.key_hash).where(ApiKey.id == created["id"]))
    for client in (customer, admin):
        response = client.get("/api-keys", params={"limit": 200, "user_id": CUSTOMER_ID})
        assert created["key"] not in response.text
        assert str(key_hash) not in response.text
        listed = [item for item in response.json()["items"] if item["id"] == created["id"]]
        assert listed
        assert "key" not in listed[0]
        assert listed[0]["prefix"] == created["prefix"]


def test_non_admins_list_only_their_own_keys(
    customer: httpx.Client, other_customer: httpx.Client, agent: httpx.Client
) -> None:
    theirs = _new_key(other_customer)
    for client, user_id in ((customer, CUSTOMER_ID), (agent, AGENT_ID)):
        items = _listed(client)
        assert items
        assert {item["user_id"] for item in items} == {user_id}
        assert theirs["id"] not in {item["id"] for item in items}


def test_admins_list_everyones_keys_and_filter_by_user(
    admin: httpx.Client, other_customer: httpx.Client
) -> None:
    theirs = _new_key(other_customer)
    everyone = _listed(admin)
    assert {CUSTOMER_ID, OTHER_CUSTOMER_ID, AGENT_ID} <= {item["user_id"] for item in everyone}
    filtered = _listed(admin, user_id=OTHER_CUSTOMER_ID)
    assert {item["user_id"] for item in filtered} == {OTHER_CUSTOMER_ID}
    assert theirs["id"] in {item["id"] for item in filtered}
    assert all(item["user_email"] == "jane.smith@example.com" for item in filtered)


def test_a_non_admin_cannot_list_another_users_keys(customer: httpx.Client) -> None:
    response = customer.get("/api-keys", params={"user_id": OTHER_CUSTOMER_ID})
    assert response.status_code == 403
    assert problem_of(response)["errors"][0]["field"] == "user_id"


def test_a_revoked_key_is_refused_on_the_very_next_request(
    agent: httpx.Client, api_server: ApiServer
) -> None:
    created = _new_key(agent)
    with _as(api_server, created["key"]) as client:
        assert client.get("/users/me").status_code == 200
        revoked = agent.delete(f"/api-keys/{created['id']}")
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["state"] == "revoked"
        refused = client.get("/users/me")
        assert refused.status_code == 401
        problem_of(refused)


def test_revoking_twice_keeps_the_first_revocation(agent: httpx.Client) -> None:
    created = _new_key(agent)
    first = agent.delete(f"/api-keys/{created['id']}").json()
    again = agent.delete(f"/api-keys/{created['id']}")
    assert again.status_code == 200
    assert again.json()["revoked_at"] == first["revoked_at"]


def test_a_key_can_revoke_itself(customer: httpx.Client, api_server: ApiServer) -> None:
    created = _new_key(customer)
    with _as(api_server, created["key"]) as client:
        assert client.delete(f"/api-keys/{created['id']}").status_code == 200
        assert client.get("/api-keys").status_code == 401


def test_nobody_but_an_admin_revokes_another_users_key(
    customer: httpx.Client,
    agent: httpx.Client,
    other_customer: httpx.Client,
    admin: httpx.Client,
    db: Session,
) -> None:
    theirs = _new_key(other_customer)
    for client in (customer, agent):
        response = client.delete(f"/api-keys/{theirs['id']}")
        assert response.status_code == 404
        problem_of(response)
    assert db.scalar(select(ApiKey.revoked_at).where(ApiKey.id == theirs["id"])) is None
    assert admin.delete(f"/api-keys/{theirs['id']}").json()["state"] == "revoked"


def test_an_admin_creates_a_key_for_another_user(
    admin: httpx.Client, api_server: ApiServer
) -> None:
    created = _new_key(admin, user_id=OTHER_CUSTOMER_ID, name="for jane")
    assert created["user_id"] == OTHER_CUSTOMER_ID
    with _as(api_server, created["key"]) as client:
        assert client.get("/users/me").json()["email"] == "jane.smith@example.com"


@pytest.mark.parametrize("role", ["customer", "agent"])
def test_a_non_admin_cannot_create_a_key_for_another_user(
    role: str, clients: dict[str, httpx.Client], db: Session
) -> None:
    before = _key_count(db)
    response = clients[role].post("/api-keys", json={"name": "x", "user_id": OTHER_CUSTOMER_ID})
    assert response.status_code == 403
    assert problem_of(response)["errors"][0]["field"] == "user_id"
    assert _key_count(db) == before


def test_a_key_stops_working_when_it_expires(customer: httpx.Client, api_server: ApiServer) -> None:
    expires_at = datetime.now(UTC) + timedelta(seconds=2)
    created = _new_key(customer, expires_at=expires_at.isoformat())
    assert datetime.fromisoformat(created["expires_at"]) == expires_at
    with _as(api_server, created["key"]) as client:
        assert client.get("/users/me").status_code == 200
        wait_until(lambda: client.get("/users/me").status_code == 401, timeout=15, what="expiry")
    listed = [item for item in _listed(customer) if item["id"] == created["id"]]
    assert listed[0]["state"] == "expired"


def test_expires_in_days_sets_the_expiry(customer: httpx.Client) -> None:
    created = _new_key(customer, expires_in_days=30)
    lifetime = datetime.fromisoformat(created["expires_at"]) - datetime.now(UTC)
    assert timedelta(days=29, hours=23) < lifetime <= timedelta(days=30)


def test_a_key_made_with_an_expiring_key_expires_with_it(
    customer: httpx.Client, api_server: ApiServer
) -> None:
    creator = _new_key(customer, expires_in_days=7)
    with _as(api_server, creator["key"]) as client:
        inherited = _new_key(client)
        sooner = _new_key(client, expires_in_days=1)
    expires_at = datetime.fromisoformat(creator["expires_at"])
    assert datetime.fromisoformat(inherited["expires_at"]) == expires_at
    assert datetime.fromisoformat(sooner["expires_at"]) < expires_at


@pytest.mark.parametrize(
    ("expiry", "field"),
    [
        ({"expires_in_days": 8}, "expires_in_days"),
        ({"expires_at": (datetime.now(UTC) + timedelta(days=30)).isoformat()}, "expires_at"),
    ],
)
def test_a_key_cannot_make_a_key_that_outlives_it(
    expiry: dict[str, Any], field: str, admin: httpx.Client, api_server: ApiServer, db: Session
) -> None:
    creator = _new_key(admin, expires_in_days=7)
    before = _key_count(db)
    with _as(api_server, creator["key"]) as client:
        refused = client.post(
            "/api-keys", json={"name": "longer", "user_id": CUSTOMER_ID, **expiry}
        )
    assert refused.status_code == 422
    assert [error["field"] for error in problem_of(refused)["errors"]] == [field]
    assert creator["expires_at"][:10] in problem_of(refused)["detail"]
    assert _key_count(db) == before


def test_last_use_is_recorded_without_a_write_per_request(
    agent: httpx.Client, api_server: ApiServer, db: Session
) -> None:
    created = _new_key(agent)
    assert created["last_used_at"] is None
    with _as(api_server, created["key"]) as client:
        assert client.get("/users/me").status_code == 200

        def last_used_at() -> datetime | None:
            return db.scalar(select(ApiKey.last_used_at).where(ApiKey.id == created["id"]))

        wait_until(lambda: last_used_at() is not None, timeout=10, what="last_used_at")
        first = last_used_at()
        assert first is not None
        assert abs(datetime.now(UTC) - first) < timedelta(seconds=30)
        for _ in range(5):
            assert client.get("/users/me").status_code == 200
        # Within the minute, further uses do not write it again.
        assert last_used_at() == first
    listed = [item for item in _listed(agent) if item["id"] == created["id"]]
    assert datetime.fromisoformat(listed[0]["last_used_at"]) == first


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": 5}, "name"),
        ({"name": "a", "expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "a", "expires_at": "2099-01-01T00:00:00"}, "expires_at"),
        ({"name": "a", "expires_at": "9999-12-31T23:59:59Z"}, "expires_at"),
        ({"name": "a", "expires_at": "soon"}, "expires_at"),
        ({"name": "a", "expires_in_days": 0}, "expires_in_days"),
        ({"name": "a", "expires_in_days": 10**12}, "expires_in_days"),
        ({"name": "a", "expires_in_days": 1, "expires_at": "2099-01-01T00:00:00Z"}, ""),
        ({"name": "a", "user_id": 999_999}, "user_id"),
        ({"name": "a", "user_id": 2**40}, "user_id"),
        ({"name": "a", "user_id": "jane"}, "user_id"),
        ({"name": "a", "key": "tkt_chosen"}, "key"),
    ],
)
def test_bad_key_requests_are_refused_and_create_nothing(
    body: dict[str, Any], field: str, admin: httpx.Client, db: Session
) -> None:
    before = _key_count(db)
    response = admin.post("/api-keys", json=body)
    assert response.status_code == 422, response.text
    problem = problem_of(response)
    if field:
        assert field in {error["field"] for error in problem["errors"]}
    assert _key_count(db) == before


def test_malformed_and_oversized_bodies_are_refused(admin: httpx.Client, db: Session) -> None:
    before = _key_count(db)
    malformed = admin.post(
        "/api-keys", content=b'{"name": ', headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 400
    problem_of(malformed)
    oversized = admin.post("/api-keys", json={"name": "a" * 5_000_000})
    assert oversized.status_code == 413
    problem_of(oversized)
    assert _key_count(db) == before


@pytest.mark.parametrize("path", ["/api-keys/999999", "/api-keys/0", "/api-keys/abc"])
def test_revoking_an_unknown_key_is_not_found(path: str, admin: httpx.Client) -> None:
    response = admin.delete(path)
    assert response.status_code == 404
    problem_of(response)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api-keys"), ("POST", "/api-keys"), ("DELETE", "/api-keys/1")],
)
def test_key_management_needs_a_key(
    method: str, path: str, anonymous: httpx.Client, db: Session
) -> None:
    revoked_before = db.scalar(select(func.count()).where(ApiKey.revoked_at.is_not(None)))
    response = anonymous.request(method, path, json={"name": "x"} if method == "POST" else None)
    assert response.status_code == 401
    problem_of(response)
    assert db.scalar(select(func.count()).where(ApiKey.revoked_at.is_not(None))) == revoked_before


def _cli(*args: str, database: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "ticketing"), "api-key", *args],
        env={**os.environ, "DATABASE_URL": database},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_creates_lists_and_revokes_keys(api_server: ApiServer, seeded_database: str) -> None:
    env = {"DATABASE_URL": seeded_database}
    key = ticketing(
        "api-key",
        "create",
        "--email",
        "bob.wilson@example.com",
        "--name",
        "cli test",
        "--expires-in-days",
        "7",
        env=env,
    ).strip()
    with _as(api_server, key) as client:
        assert client.get("/users/me").json()["email"] == "bob.wilson@example.com"
        row = client.get("/api-keys").json()["items"][-1]
        assert row["prefix"] == key[:12]
        expires_in = datetime.fromisoformat(row["expires_at"]) - datetime.now(UTC)
        assert timedelta(days=6, hours=23) < expires_in <= timedelta(days=7)

        listing = ticketing("api-key", "list", "--email", "bob.wilson@example.com", env=env)
        line = next(line for line in listing.splitlines() if line.split()[0] == str(row["id"]))
        assert key[:12] in line
        assert "active" in line
        assert "cli test" in line
        assert key not in listing
        everyone = ticketing("api-key", "list", env=env)
        assert "admin@example.com" in everyone
        assert "bob.wilson@example.com" in everyone

        revoked = _cli("revoke", str(row["id"]), database=seeded_database)
        assert revoked.returncode == 0, revoked.stderr
        assert client.get("/users/me").status_code == 401
        listing = ticketing("api-key", "list", "--email", "bob.wilson@example.com", env=env)
        line = next(line for line in listing.splitlines() if line.split()[0] == str(row["id"]))
        assert "revoked" in line


@pytest.mark.parametrize(
    "args",
    [
        ("revoke", "999999"),
        ("revoke", "abc"),
        ("list", "--email", "nobody@example.com"),
        ("create", "--email", "john.doe@example.com", "--expires-in-days", "0"),
        ("create", "--email", "john.doe@example.com", "--name", "x" * 101),
    ],
)
def test_cli_refuses_bad_input_and_prints_no_key(
    args: tuple[str, ...], seeded_database: str, db: Session
) -> None:
    before = _key_count(db)
    result = _cli(*args, database=seeded_database)
    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr
    assert _key_count(db) == before
