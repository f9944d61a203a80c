"""Builders for the routing tests: a category of their own, new agents and bots, their keys."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from services.api.auth.keys import create_api_key
from shared.unit_of_work import transaction


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def new_category(admin: httpx.Client) -> dict[str, Any]:
    response = admin.post("/categories", json={"name": unique("Routing"), "sla_hours": 8})
    assert response.status_code == 201, response.text
    return dict(response.json())


def new_user(admin: httpx.Client, *, role: str = "agent", is_bot: bool = False) -> dict[str, Any]:
    body = {
        "name": unique("Bot" if is_bot else "Agent"),
        "email": f"{uuid.uuid4().hex[:12]}@example.com",
        "role": role,
        "is_bot": is_bot,
    }
    response = admin.post("/users", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def set_pool(
    admin: httpx.Client, category_id: int, member_ids: list[int], strategy: str = "round_robin"
) -> dict[str, Any]:
    response = admin.put(
        f"/categories/{category_id}/assignment",
        json={"strategy": strategy, "member_ids": member_ids},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


@contextmanager
def client_of(base_url: str, email: str) -> Iterator[httpx.Client]:
    """A client with a fresh API key of the user (made in-process, as the CLI does)."""
    with transaction() as session:
        _row, key = create_api_key(session, email=email, name="tests-routing")
    with httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as client:
        yield client
