"""Reference data, users and keys come from each process's memory; a change made through one
API process is seen by another on its very next request."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.support.processes import ApiServer, start_api_server


@pytest.fixture(scope="module")
def second_server(seeded_database: str) -> Iterator[ApiServer]:
    server = start_api_server(env={"DATABASE_URL": seeded_database})
    yield server
    server.stop()


def _on(server: ApiServer, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )


def _new_agent(admin: httpx.Client) -> tuple[int, str]:
    email = f"cache-{uuid.uuid4().hex[:8]}@example.com"
    user = admin.post("/users", json={"name": "Cache Agent", "email": email, "role": "agent"})
    assert user.status_code == 201, user.text
    key = admin.post("/api-keys", json={"name": "cache", "user_id": user.json()["id"]})
    assert key.status_code == 201, key.text
    return user.json()["id"], key.json()["key"]


def test_a_key_revoked_on_one_process_is_refused_by_another_at_once(
    admin: httpx.Client, second_server: ApiServer
) -> None:
    _user_id, key = _new_agent(admin)
    with _on(second_server, key) as elsewhere:
        assert elsewhere.get("/users/me").status_code == 200  # now cached there
        key_id = next(
            k["id"]
            for k in admin.get("/api-keys").json()["items"]
            if k["name"] == "cache" and k["user_id"] == _user_id
        )
        assert admin.delete(f"/api-keys/{key_id}").status_code == 200
        assert elsewhere.get("/users/me").status_code == 401


def test_a_role_change_on_one_process_applies_on_another_at_once(
    admin: httpx.Client, second_server: ApiServer
) -> None:
    user_id, key = _new_agent(admin)
    with _on(second_server, key) as elsewhere:
        assert elsewhere.get("/stats").status_code == 200  # agents may read statistics
        assert admin.patch(f"/users/{user_id}", json={"role": "customer"}).status_code == 200
        assert elsewhere.get("/stats").status_code == 403
        assert elsewhere.get("/users/me").json()["role"] == "customer"


def test_a_deactivated_user_is_refused_by_another_process_at_once(
    admin: httpx.Client, second_server: ApiServer
) -> None:
    user_id, key = _new_agent(admin)
    with _on(second_server, key) as elsewhere:
        assert elsewhere.get("/users/me").status_code == 200
        assert admin.patch(f"/users/{user_id}", json={"active": False}).status_code == 200
        assert elsewhere.get("/users/me").status_code == 401
