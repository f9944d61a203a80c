"""Admins configure each category's assignment pool; agents may read it; customers may not.

Every test works on a category and agents of its own, so pools never leak between tests.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.models import AssignmentPool, AssignmentPoolMember
from tests.api.routing_support import new_category, new_user, set_pool
from tests.helpers import problem_of

SARAH, MIKE, ADMIN, JOHN = 4, 5, 6, 1


def _members(db: Session, category_id: int) -> list[int]:
    return list(
        db.scalars(
            select(AssignmentPoolMember.user_id)
            .where(AssignmentPoolMember.category_id == category_id)
            .order_by(AssignmentPoolMember.position)
        )
    )


def test_admin_sets_a_pool_and_agents_read_it(
    admin: httpx.Client, agent: httpx.Client, db: Session
) -> None:
    category = new_category(admin)
    bot = new_user(admin, is_bot=True)

    pool = set_pool(admin, category["id"], [bot["id"], SARAH], strategy="least_open")

    assert pool["strategy"] == "least_open"
    assert [(m["id"], m["is_bot"], m["eligible"]) for m in pool["members"]] == [
        (bot["id"], True, True),
        (SARAH, False, True),
    ]
    assert _members(db, category["id"]) == [bot["id"], SARAH]
    read = agent.get(f"/categories/{category['id']}/assignment")
    assert read.status_code == 200
    assert read.json() == pool
    listed = agent.get("/assignment-pools")
    assert listed.status_code == 200
    assert pool in listed.json()


def test_put_replaces_the_members_and_their_order(admin: httpx.Client, db: Session) -> None:
    category = new_category(admin)
    set_pool(admin, category["id"], [SARAH, MIKE])

    pool = set_pool(admin, category["id"], [MIKE, ADMIN], strategy="round_robin")

    assert [m["id"] for m in pool["members"]] == [MIKE, ADMIN]
    assert _members(db, category["id"]) == [MIKE, ADMIN]


def test_an_empty_member_list_is_a_pool_that_assigns_nobody(admin: httpx.Client) -> None:
    category = new_category(admin)
    assert set_pool(admin, category["id"], [])["members"] == []


def test_delete_removes_the_pool(admin: httpx.Client, db: Session) -> None:
    category = new_category(admin)
    set_pool(admin, category["id"], [SARAH])

    assert admin.delete(f"/categories/{category['id']}/assignment").status_code == 204

    assert admin.get(f"/categories/{category['id']}/assignment").status_code == 404
    assert db.get(AssignmentPool, category["id"]) is None
    assert _members(db, category["id"]) == []
    assert admin.delete(f"/categories/{category['id']}/assignment").status_code == 404


def test_a_category_without_a_pool_is_404_with_a_clear_detail(admin: httpx.Client) -> None:
    category = new_category(admin)
    response = admin.get(f"/categories/{category['id']}/assignment")
    assert response.status_code == 404
    assert "no assignment pool" in problem_of(response)["detail"]


@pytest.mark.parametrize("path", ["/categories/999999/assignment", "/categories/abc/assignment"])
def test_unknown_category_is_404_for_every_method(admin: httpx.Client, path: str) -> None:
    assert admin.get(path).status_code == 404
    body = {"strategy": "round_robin", "member_ids": [SARAH]}
    assert admin.put(path, json=body).status_code == 404
    assert admin.delete(path).status_code == 404


def test_deactivated_members_are_shown_as_not_eligible(admin: httpx.Client) -> None:
    category = new_category(admin)
    leaving = new_user(admin)
    set_pool(admin, category["id"], [leaving["id"], SARAH])
    assert admin.patch(f"/users/{leaving['id']}", json={"active": False}).status_code == 200

    pool = admin.get(f"/categories/{category['id']}/assignment").json()

    assert [(m["id"], m["active"], m["eligible"]) for m in pool["members"]] == [
        (leaving["id"], False, False),
        (SARAH, True, True),
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"strategy": "random", "member_ids": [SARAH]}, "strategy"),
        ({"member_ids": [SARAH]}, "strategy"),
        ({"strategy": "round_robin"}, "member_ids"),
        ({"strategy": "round_robin", "member_ids": "4"}, "member_ids"),
        ({"strategy": "round_robin", "member_ids": [0]}, "member_ids.0"),
        ({"strategy": "round_robin", "member_ids": [SARAH, SARAH]}, "member_ids"),
        ({"strategy": "round_robin", "member_ids": list(range(1, 102))}, "member_ids"),
        ({"strategy": "round_robin", "member_ids": [SARAH], "extra": 1}, "extra"),
    ],
)
def test_malformed_pools_are_422_and_change_nothing(
    admin: httpx.Client, db: Session, body: dict[str, Any], field: str
) -> None:
    category = new_category(admin)
    set_pool(admin, category["id"], [MIKE])

    response = admin.put(f"/categories/{category['id']}/assignment", json=body)

    assert response.status_code == 422, response.text
    assert field in [error["field"] for error in problem_of(response)["errors"]]
    assert _members(db, category["id"]) == [MIKE]


@pytest.mark.parametrize("who", ["customer", "unknown", "inactive"])
def test_members_must_be_active_agents_or_admins(
    admin: httpx.Client, db: Session, who: str
) -> None:
    category = new_category(admin)
    if who == "customer":
        member = JOHN
    elif who == "unknown":
        member = 999_999
    else:
        member = new_user(admin)["id"]
        admin.patch(f"/users/{member}", json={"active": False})

    response = admin.put(
        f"/categories/{category['id']}/assignment",
        json={"strategy": "round_robin", "member_ids": [SARAH, member]},
    )

    assert response.status_code == 422
    assert problem_of(response)["errors"][0]["field"] == "member_ids.1"
    assert db.get(AssignmentPool, category["id"]) is None


@pytest.mark.parametrize("role", ["agent", "customer"])
def test_only_admins_change_pools(
    admin: httpx.Client, clients: dict[str, httpx.Client], db: Session, role: str
) -> None:
    category = new_category(admin)
    client = clients[role]
    path = f"/categories/{category['id']}/assignment"

    put = client.put(path, json={"strategy": "round_robin", "member_ids": [SARAH]})
    assert put.status_code == 403
    assert db.get(AssignmentPool, category["id"]) is None
    set_pool(admin, category["id"], [SARAH])
    assert client.delete(path).status_code == 403
    assert db.get(AssignmentPool, category["id"]) is not None


def test_customers_cannot_read_pools(admin: httpx.Client, customer: httpx.Client) -> None:
    category = new_category(admin)
    set_pool(admin, category["id"], [SARAH])
    assert customer.get(f"/categories/{category['id']}/assignment").status_code == 403
    assert customer.get("/assignment-pools").status_code == 403


def test_anonymous_is_401(anonymous: httpx.Client) -> None:
    assert anonymous.get("/assignment-pools").status_code == 401
    assert (
        anonymous.put(
            "/categories/1/assignment", json={"strategy": "round_robin", "member_ids": []}
        ).status_code
        == 401
    )


def test_pool_count_unchanged_by_refused_writes(
    admin: httpx.Client, agent: httpx.Client, db: Session
) -> None:
    before = db.scalar(select(func.count()).select_from(AssignmentPool))
    agent.put("/categories/1/assignment", json={"strategy": "round_robin", "member_ids": [4]})
    admin.put("/categories/1/assignment", json={"strategy": "nope", "member_ids": [4]})
    assert db.scalar(select(func.count()).select_from(AssignmentPool)) == before
