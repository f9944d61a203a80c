"""Invariant 6: a bad request gets a clear 4xx in the one problem+json shape and changes nothing.

Malformed, oversized, invalid, unknown-id, unauthenticated and forbidden requests are sent to
every write endpoint; each answer must name the field at fault (where there is one), and the
database must be exactly as it was before the request.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.models import (
    ApiKey,
    Category,
    IdempotencyKey,
    OutboxEvent,
    PriorityLevel,
    Status,
    Tag,
    Ticket,
    TicketComment,
    TicketHistory,
    User,
    ticket_tags,
)
from tests.helpers import new_ticket, problem_of
from tests.support.processes import ApiServer

ONE_MIB = 1024 * 1024
JOHN, JANE, SARAH = 1, 2, 4
LOW = 4
UNKNOWN_ID = 987_654
BEYOND_ANY_ID = 2**31  # one past the largest id (ids are 32-bit on PostgreSQL)


# --- the database, before and after -------------------------------------------------------------

_COUNTED: tuple[Any, ...] = (TicketComment, TicketHistory, OutboxEvent, IdempotencyKey, Tag, ApiKey)
_WHOLE_ROWS: tuple[Any, ...] = (Ticket, User, Category, PriorityLevel, Status)


def snapshot(db: Session) -> dict[str, Any]:
    """Every row a write endpoint could touch (whole rows for the small tables, counts else)."""
    db.rollback()  # end the read snapshot: see everything the server has committed
    state: dict[str, Any] = {}
    for model in _COUNTED:
        state[model.__tablename__] = db.scalar(select(func.count()).select_from(model))
    for model in _WHOLE_ROWS:
        table = model.__table__
        state[table.name] = db.execute(select(table).order_by(table.c.id)).all()
    state["ticket_tags"] = db.execute(
        select(ticket_tags).order_by(ticket_tags.c.ticket_id, ticket_tags.c.tag_id)
    ).all()
    return state


def refused(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    """Check the status and the problem shape; with `field`, that the problem names it."""
    assert response.status_code == status, response.text
    problem = problem_of(response)
    if field is not None:
        fields = [error["field"] for error in problem.get("errors", [])]
        assert any(name == field or name.endswith(f".{field}") for name in fields), problem
    return problem


# --- the write endpoints ------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # "{ticket}", "{user}", ... are filled from the `targets` fixture
    valid: dict[str, Any] = field(default_factory=dict)  # a body this endpoint would accept
    admin_only: bool = False

    def url(self, targets: dict[str, int]) -> str:
        return self.path.format(**targets)

    def body(self, overrides: dict[str, Any] | None = None, drop: str | None = None) -> Any:
        body = {**self.valid, **(overrides or {})}
        body.pop(drop or "", None)
        return body

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:10]}"


ENDPOINTS = {
    "create_ticket": Endpoint(
        "POST", "/tickets", {"title": "Printer on fire", "description": "Smoke", "category_id": 1}
    ),
    "patch_ticket": Endpoint("PATCH", "/tickets/{ticket}", {"title": "Printer still on fire"}),
    "put_ticket": Endpoint("PUT", "/tickets/{ticket}", {"title": "Printer still on fire"}),
    "comment": Endpoint("POST", "/tickets/{ticket}/comments", {"body": "Any news?"}),
    "create_user": Endpoint(
        "POST",
        "/users",
        {"name": "Nora Bad", "email": "nora.bad@example.com", "role": "customer"},
        admin_only=True,
    ),
    "patch_user": Endpoint("PATCH", "/users/{user}", {"name": "Nora Renamed"}, admin_only=True),
    "create_category": Endpoint(
        "POST", "/categories", {"name": "Never created", "sla_hours": 24}, admin_only=True
    ),
    "patch_category": Endpoint(
        "PATCH", "/categories/{category}", {"sla_hours": 12}, admin_only=True
    ),
    "create_priority": Endpoint(
        "POST",
        "/priorities",
        {"name": "Never created", "rank": 1000, "sla_hours": 48, "colour": "#aabbcc"},
        admin_only=True,
    ),
    "patch_priority": Endpoint(
        "PATCH", "/priorities/{priority}", {"description": "Whenever"}, admin_only=True
    ),
    "create_status": Endpoint(
        "POST",
        "/statuses",
        {"name": "Never created", "colour": "#aabbcc", "position": 990},
        admin_only=True,
    ),
    "patch_status": Endpoint("PATCH", "/statuses/{status}", {"position": 991}, admin_only=True),
}
ALL = pytest.mark.parametrize("endpoint", list(ENDPOINTS.values()), ids=str)


@pytest.fixture(scope="module")
def targets(clients: dict[str, httpx.Client]) -> dict[str, int]:
    """Rows for the PATCH/PUT/comment paths: John's ticket and harmless rows of our own.

    No priority is created: the default priority is the middle of the ranking, so adding levels
    would change it for every other test. Low (4) is the target; no request here may change it.
    """
    admin = clients["admin"]
    ticket = new_ticket(clients["customer"])
    made = {}
    for kind, path, body in [
        ("user", "/users", {"name": "Bad Input Target", "email": f"{uuid.uuid4().hex}@ex.com"}),
        ("category", "/categories", {"name": _unique("Bad input target"), "sla_hours": 24}),
        (
            "status",
            "/statuses",
            {"name": _unique("Bad input target"), "colour": "#abcdef", "position": 900},
        ),
    ]:
        response = admin.post(path, json=body)
        assert response.status_code == 201, response.text
        made[kind] = response.json()["id"]
    return {"ticket": ticket["id"], "priority": LOW, **made}


def send(
    client: httpx.Client,
    endpoint: Endpoint,
    targets: dict[str, int],
    **kwargs: Any,
) -> httpx.Response:
    return client.request(endpoint.method, endpoint.url(targets), **kwargs)


# --- malformed and oversized bodies -------------------------------------------------------------


@ALL
def test_malformed_json_is_400_and_changes_nothing(
    admin: httpx.Client, db: Session, targets: dict[str, int], endpoint: Endpoint
) -> None:
    before = snapshot(db)
    response = send(
        admin,
        endpoint,
        targets,
        content=b'{"title": "half a body',
        headers={"Content-Type": "application/json"},
    )
    refused(response, 400)
    assert snapshot(db) == before


@pytest.mark.parametrize(
    "content",
    [
        b"{",
        b"{'title': 'single quotes'}",
        b'{"title": "x",}',
        b'{"title": "x"} trailing',
        b'{"title": "\xff\xfe not utf-8"}',
    ],
    ids=["truncated", "single-quotes", "trailing-comma", "trailing-garbage", "not-utf8"],
)
def test_every_kind_of_broken_json_is_400(admin: httpx.Client, db: Session, content: bytes) -> None:
    before = snapshot(db)
    response = admin.post("/tickets", content=content, headers={"Content-Type": "application/json"})
    refused(response, 400)
    assert snapshot(db) == before


@pytest.mark.parametrize("body", [[], "a string", 42, None], ids=["list", "string", "int", "null"])
def test_a_body_that_is_not_an_object_is_422(admin: httpx.Client, db: Session, body: Any) -> None:
    before = snapshot(db)
    response = admin.post(
        "/tickets", content=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    refused(response, 422, "body")
    assert snapshot(db) == before


def _oversized() -> bytes:
    """A JSON object just over 1 MiB."""
    head, tail = b'{"title": "', b'"}'
    return head + b"x" * (ONE_MIB + 1 - len(head) - len(tail)) + tail


@pytest.fixture
def fresh_admin(api_server: ApiServer, api_keys: dict[str, str]) -> Iterator[httpx.Client]:
    """Its own connection: the server may close it after refusing a body it did not read."""
    with httpx.Client(
        base_url=api_server.base_url,
        headers={"Authorization": f"Bearer {api_keys['admin']}"},
        timeout=30,
    ) as client:
        yield client


@ALL
def test_body_over_one_mib_with_content_length_is_413_and_changes_nothing(
    fresh_admin: httpx.Client, db: Session, targets: dict[str, int], endpoint: Endpoint
) -> None:
    before = snapshot(db)
    body = _oversized()
    assert len(body) == ONE_MIB + 1
    response = send(
        fresh_admin, endpoint, targets, content=body, headers={"Content-Type": "application/json"}
    )
    assert response.request.headers["Content-Length"] == str(ONE_MIB + 1)
    refused(response, 413)
    assert snapshot(db) == before


@ALL
def test_body_over_one_mib_streamed_without_length_is_413_and_changes_nothing(
    fresh_admin: httpx.Client, db: Session, targets: dict[str, int], endpoint: Endpoint
) -> None:
    before = snapshot(db)
    body = _oversized()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    response = send(
        fresh_admin,
        endpoint,
        targets,
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert "Content-Length" not in response.request.headers
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    refused(response, 413)
    assert snapshot(db) == before


def test_body_of_exactly_one_mib_is_judged_on_its_content(
    fresh_admin: httpx.Client, db: Session
) -> None:
    before = snapshot(db)
    head = b'{"title": "t", "category_id": 1, "description": "'
    tail = b'"}'
    body = head + b"x" * (ONE_MIB - len(head) - len(tail)) + tail
    assert len(body) == ONE_MIB
    response = fresh_admin.post(
        "/tickets", content=body, headers={"Content-Type": "application/json"}
    )
    refused(response, 422, "description")
    assert snapshot(db) == before


# --- invalid fields -----------------------------------------------------------------------------


@ALL
def test_unknown_body_field_is_422_naming_it_and_changes_nothing(
    admin: httpx.Client, db: Session, targets: dict[str, int], endpoint: Endpoint
) -> None:
    before = snapshot(db)
    response = send(admin, endpoint, targets, json=endpoint.body({"surprise_field": "hello"}))
    refused(response, 422, "surprise_field")
    assert snapshot(db) == before


TAGS_21 = [f"tag{n}" for n in range(21)]

# (endpoint, overrides, field to drop, the field the problem must name)
INVALID: list[tuple[str, dict[str, Any], str | None, str]] = [
    # POST /tickets
    ("create_ticket", {}, "title", "title"),
    ("create_ticket", {}, "description", "description"),
    ("create_ticket", {}, "category_id", "category_id"),
    ("create_ticket", {"title": ""}, None, "title"),
    ("create_ticket", {"title": " \t\n "}, None, "title"),
    ("create_ticket", {"title": "x" * 201}, None, "title"),
    ("create_ticket", {"title": 42}, None, "title"),
    ("create_ticket", {"title": None}, None, "title"),
    ("create_ticket", {"description": ""}, None, "description"),
    ("create_ticket", {"description": "   "}, None, "description"),
    ("create_ticket", {"description": "x" * 20_001}, None, "description"),
    ("create_ticket", {"category_id": "billing"}, None, "category_id"),
    ("create_ticket", {"category_id": 1.5}, None, "category_id"),
    ("create_ticket", {"category_id": BEYOND_ANY_ID}, None, "category_id"),
    ("create_ticket", {"priority_id": [2]}, None, "priority_id"),
    ("create_ticket", {"priority_id": -(2**64)}, None, "priority_id"),
    ("create_ticket", {"user_id": 2**64}, None, "user_id"),
    ("create_ticket", {"tags": TAGS_21}, None, "tags"),
    ("create_ticket", {"tags": ",".join(TAGS_21)}, None, "tags"),
    ("create_ticket", {"tags": ["fine", "not<ok>"]}, None, "tags"),
    ("create_ticket", {"tags": "semi;colon"}, None, "tags"),
    ("create_ticket", {"tags": ["x" * 51]}, None, "tags"),
    ("create_ticket", {"tags": [1, 2]}, None, "tags"),
    ("create_ticket", {"tags": {"a": 1}}, None, "tags"),
    # PATCH /tickets/{id} (PUT gets the same cases below)
    ("patch_ticket", {"title": ""}, None, "title"),
    ("patch_ticket", {"title": "    "}, None, "title"),
    ("patch_ticket", {"title": "x" * 201}, None, "title"),
    ("patch_ticket", {"title": None}, None, "title"),
    ("patch_ticket", {"description": ""}, None, "description"),
    ("patch_ticket", {"description": "x" * 20_001}, None, "description"),
    ("patch_ticket", {"status_id": "open"}, None, "status_id"),
    ("patch_ticket", {"status_id": None}, None, "status_id"),
    ("patch_ticket", {"priority_id": None}, None, "priority_id"),
    ("patch_ticket", {"category_id": None}, None, "category_id"),
    ("patch_ticket", {"category_id": BEYOND_ANY_ID}, None, "category_id"),
    ("patch_ticket", {"assigned_to": "sarah"}, None, "assigned_to"),
    ("patch_ticket", {"tags": TAGS_21}, None, "tags"),
    ("patch_ticket", {"tags": ["ok", "$money$"]}, None, "tags"),
    # POST /tickets/{id}/comments
    ("comment", {}, "body", "body"),
    ("comment", {"body": ""}, None, "body"),
    ("comment", {"body": " \n\t "}, None, "body"),
    ("comment", {"body": "x" * 20_001}, None, "body"),
    ("comment", {"body": 12}, None, "body"),
    ("comment", {"body": None}, None, "body"),
    ("comment", {"internal": "sometimes"}, None, "internal"),
    # POST /users
    ("create_user", {}, "name", "name"),
    ("create_user", {}, "email", "email"),
    ("create_user", {"name": ""}, None, "name"),
    ("create_user", {"name": "   "}, None, "name"),
    ("create_user", {"name": "x" * 201}, None, "name"),
    ("create_user", {"email": "not-an-email"}, None, "email"),
    ("create_user", {"email": ""}, None, "email"),
    ("create_user", {"email": 42}, None, "email"),
    ("create_user", {"role": "superuser"}, None, "role"),
    ("create_user", {"active": "maybe"}, None, "active"),
    # PATCH /users/{id}
    ("patch_user", {"name": ""}, None, "name"),
    ("patch_user", {"name": "x" * 201}, None, "name"),
    ("patch_user", {"email": "nobody@"}, None, "email"),
    ("patch_user", {"role": "root"}, None, "role"),
    ("patch_user", {"active": [True]}, None, "active"),
    # POST /categories
    ("create_category", {}, "name", "name"),
    ("create_category", {}, "sla_hours", "sla_hours"),
    ("create_category", {"name": ""}, None, "name"),
    ("create_category", {"name": "  "}, None, "name"),
    ("create_category", {"name": "x" * 101}, None, "name"),
    ("create_category", {"description": "x" * 2001}, None, "description"),
    ("create_category", {"sla_hours": 0}, None, "sla_hours"),
    ("create_category", {"sla_hours": -4}, None, "sla_hours"),
    ("create_category", {"sla_hours": 8761}, None, "sla_hours"),
    ("create_category", {"sla_hours": "soon"}, None, "sla_hours"),
    ("create_category", {"active": "maybe"}, None, "active"),
    # PATCH /categories/{id}
    ("patch_category", {"name": "   "}, None, "name"),
    ("patch_category", {"name": "x" * 101}, None, "name"),
    ("patch_category", {"sla_hours": 0}, None, "sla_hours"),
    ("patch_category", {"sla_hours": -1}, None, "sla_hours"),
    # POST /priorities
    ("create_priority", {}, "colour", "colour"),
    ("create_priority", {}, "rank", "rank"),
    ("create_priority", {"colour": "red"}, None, "colour"),
    ("create_priority", {"colour": "#12345"}, None, "colour"),
    ("create_priority", {"colour": "#GGGGGG"}, None, "colour"),
    ("create_priority", {"colour": "#1234567"}, None, "colour"),
    ("create_priority", {"rank": 0}, None, "rank"),
    ("create_priority", {"rank": 1001}, None, "rank"),
    ("create_priority", {"rank": "top"}, None, "rank"),
    ("create_priority", {"sla_hours": 0}, None, "sla_hours"),
    ("create_priority", {"sla_hours": -1}, None, "sla_hours"),
    ("create_priority", {"name": "x" * 101}, None, "name"),
    # PATCH /priorities/{id}
    ("patch_priority", {"colour": "blue"}, None, "colour"),
    ("patch_priority", {"rank": 0}, None, "rank"),
    ("patch_priority", {"sla_hours": 0}, None, "sla_hours"),
    ("patch_priority", {"name": ""}, None, "name"),
    # POST /statuses
    ("create_status", {}, "colour", "colour"),
    ("create_status", {}, "position", "position"),
    ("create_status", {"colour": "green"}, None, "colour"),
    ("create_status", {"position": -1}, None, "position"),
    ("create_status", {"position": 1001}, None, "position"),
    ("create_status", {"name": ""}, None, "name"),
    ("create_status", {"name": "x" * 101}, None, "name"),
    ("create_status", {"is_closed": "maybe"}, None, "is_closed"),
    ("create_status", {"pauses_sla": {"yes": True}}, None, "pauses_sla"),
    # PATCH /statuses/{id}
    ("patch_status", {"colour": "#12"}, None, "colour"),
    ("patch_status", {"position": -1}, None, "position"),
    ("patch_status", {"name": "   "}, None, "name"),
]
INVALID += [("put_ticket", o, d, f) for e, o, d, f in list(INVALID) if e == "patch_ticket"]


def _case_id(case: tuple[str, dict[str, Any], str | None, str]) -> str:
    endpoint, overrides, drop, name = case
    if drop:
        return f"{endpoint}-missing-{drop}"
    value = repr(overrides[name])
    return f"{endpoint}-{name}={value[:12]}{'...' if len(value) > 12 else ''}"


@pytest.mark.parametrize("case", INVALID, ids=[_case_id(c) for c in INVALID])
def test_invalid_field_is_422_naming_it_and_changes_nothing(
    admin: httpx.Client,
    db: Session,
    targets: dict[str, int],
    case: tuple[str, dict[str, Any], str | None, str],
) -> None:
    name, overrides, drop, bad_field = case
    endpoint = ENDPOINTS[name]
    before = snapshot(db)
    response = send(admin, endpoint, targets, json=endpoint.body(overrides, drop))
    refused(response, 422, bad_field)
    assert snapshot(db) == before


# --- ids in the body that name nothing ----------------------------------------------------------

UNKNOWN_REFERENCES: list[tuple[str, dict[str, Any], str]] = [
    ("create_ticket", {"category_id": UNKNOWN_ID}, "category_id"),
    ("create_ticket", {"priority_id": UNKNOWN_ID}, "priority_id"),
    ("create_ticket", {"user_id": UNKNOWN_ID}, "user_id"),
    ("create_ticket", {"requester_id": UNKNOWN_ID}, "user_id"),
    ("create_ticket", {"assigned_to": UNKNOWN_ID}, "assigned_to"),
    ("create_ticket", {"assigned_to": JOHN}, "assigned_to"),  # a customer cannot be assignee
    ("patch_ticket", {"status_id": UNKNOWN_ID}, "status_id"),
    ("patch_ticket", {"priority_id": UNKNOWN_ID}, "priority_id"),
    ("patch_ticket", {"category_id": UNKNOWN_ID}, "category_id"),
    ("patch_ticket", {"assigned_to": UNKNOWN_ID}, "assigned_to"),
    ("patch_ticket", {"assignee_id": UNKNOWN_ID}, "assigned_to"),
    ("patch_ticket", {"assigned_to": JANE}, "assigned_to"),
    ("put_ticket", {"status_id": UNKNOWN_ID}, "status_id"),
    ("put_ticket", {"assigned_to": JOHN}, "assigned_to"),
]


@pytest.mark.parametrize(
    ("name", "overrides", "bad_field"),
    UNKNOWN_REFERENCES,
    ids=[f"{e}-{next(iter(o))}={next(iter(o.values()))}" for e, o, _ in UNKNOWN_REFERENCES],
)
def test_unknown_referenced_id_is_422_naming_it_and_changes_nothing(
    admin: httpx.Client,
    db: Session,
    targets: dict[str, int],
    name: str,
    overrides: dict[str, Any],
    bad_field: str,
) -> None:
    endpoint = ENDPOINTS[name]
    before = snapshot(db)
    response = send(admin, endpoint, targets, json=endpoint.body(overrides))
    refused(response, 422, bad_field)
    assert snapshot(db) == before


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_one_bad_reference_rejects_the_whole_update(
    agent: httpx.Client, db: Session, targets: dict[str, int], method: str
) -> None:
    before = snapshot(db)
    response = agent.request(
        method,
        f"/tickets/{targets['ticket']}",
        json={"title": "A good new title", "tags": ["fresh"], "category_id": UNKNOWN_ID},
    )
    refused(response, 422, "category_id")
    assert snapshot(db) == before


# --- ids in the path that name nothing ----------------------------------------------------------

UNKNOWN_PATHS = [
    ("GET", "/tickets/987654"),
    ("GET", "/tickets/TKT-987654"),
    ("PATCH", "/tickets/987654"),
    ("PUT", "/tickets/TKT-987654"),
    ("GET", "/tickets/987654/comments"),
    ("POST", "/tickets/987654/comments"),
    ("GET", "/tickets/987654/history"),
    ("GET", "/users/987654"),
    ("PATCH", "/users/987654"),
    ("GET", "/categories/987654"),
    ("PATCH", "/categories/987654"),
    ("GET", "/priorities/987654"),
    ("PATCH", "/priorities/987654"),
    ("GET", "/statuses/987654"),
    ("PATCH", "/statuses/987654"),
]
JUNK_PATHS = [
    ("GET", "/tickets/abc"),
    ("GET", "/tickets/TKT-abc"),
    ("GET", "/tickets/TKT-"),
    ("GET", "/tickets/-1"),
    ("GET", "/tickets/0"),
    ("GET", "/tickets/1.5"),
    ("GET", "/tickets/1e3"),
    ("GET", "/tickets/%C2%B2"),  # a superscript two: a digit to str.isdigit, not to int()
    ("GET", "/tickets/%D9%A1"),  # an Arabic-Indic one: not an ASCII id
    ("GET", "/tickets/99999999999999999999"),
    ("GET", "/tickets/TKT-99999999999999999999"),
    ("PATCH", "/tickets/abc"),
    ("PUT", "/tickets/abc"),
    ("GET", "/tickets/abc/comments"),
    ("POST", "/tickets/abc/comments"),
    ("GET", "/tickets/abc/history"),
    ("GET", "/users/abc"),
    ("GET", "/users/0"),
    ("GET", "/users/99999999999999999999"),
    ("GET", "/users/2147483648"),
    ("GET", "/tickets/2147483648"),
    ("PATCH", "/users/abc"),
    ("GET", "/categories/abc"),
    ("PATCH", "/categories/99999999999999999999"),
    ("GET", "/priorities/0"),
    ("PATCH", "/priorities/xyz"),
    ("GET", "/statuses/-1"),
]
_PATH_BODIES = {
    "tickets": {"title": "Never applied"},
    "comments": {"body": "Never written"},
    "users": {"name": "Never renamed"},
    "categories": {"description": "Never changed"},
    "priorities": {"description": "Never changed"},
    "statuses": {"description": "Never changed"},
}


def _valid_body_for(path: str) -> dict[str, Any]:
    kind = "comments" if path.endswith("/comments") else path.split("/")[1]
    return _PATH_BODIES[kind]


@pytest.mark.parametrize(
    ("method", "path"),
    UNKNOWN_PATHS + JUNK_PATHS,
    ids=[f"{m} {p}" for m, p in UNKNOWN_PATHS + JUNK_PATHS],
)
def test_path_naming_nothing_is_404_and_changes_nothing(
    admin: httpx.Client, db: Session, method: str, path: str
) -> None:
    before = snapshot(db)
    body = None if method == "GET" else _valid_body_for(path)
    refused(admin.request(method, path, json=body), 404)
    assert snapshot(db) == before


@pytest.mark.parametrize("role", ["admin", "anonymous"])
@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/no/such/thing"), ("POST", "/tickets/1/files")]
)
def test_unknown_path_is_a_404_problem(
    clients: dict[str, httpx.Client], role: str, method: str, path: str
) -> None:
    refused(clients[role].request(method, path, json={}), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/tickets/1"),
        ("POST", "/tickets/1"),
        ("DELETE", "/tickets/1/comments"),
        ("POST", "/tickets/1/history"),
        ("PUT", "/users/1"),
        ("DELETE", "/users/1"),
        ("PUT", "/categories/1"),
        ("DELETE", "/priorities/1"),
        ("DELETE", "/statuses/1"),
        ("PATCH", "/tickets"),
    ],
)
def test_wrong_method_is_a_405_problem_and_changes_nothing(
    admin: httpx.Client, db: Session, method: str, path: str
) -> None:
    before = snapshot(db)
    response = admin.request(method, path)
    refused(response, 405)
    assert response.headers["Allow"]
    assert snapshot(db) == before


# --- query parameters and headers ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "bad_field"),
    [
        ("/tickets", {"limit": 0}, "limit"),
        ("/tickets", {"limit": 1000}, "limit"),
        ("/tickets", {"limit": "ten"}, "limit"),
        ("/tickets", {"offset": -1}, "offset"),
        ("/tickets", {"sort": "bogus"}, "sort"),
        ("/tickets", {"sort": "-title"}, "sort"),
        ("/tickets", {"created_after": "notadate"}, "created_after"),
        ("/tickets", {"created_before": "2024-13-45"}, "created_before"),
        ("/tickets", {"breached": "maybe"}, "breached"),
        ("/tickets", {"status_id": "open"}, "status_id"),
        ("/tickets", {"priority_id": BEYOND_ANY_ID}, "priority_id"),
        ("/tickets", {"assigned_to": "me"}, "assigned_to"),
        ("/tickets", {"q": "x" * 201}, "q"),
        ("/tickets", {"tag": "x" * 51}, "tag"),
        ("/users", {"limit": 0}, "limit"),
        ("/users", {"limit": 201}, "limit"),
        ("/users", {"offset": -1}, "offset"),
        ("/users", {"role": "boss"}, "role"),
    ],
    ids=lambda value: str(value) if not isinstance(value, dict) else "&".join(map(str, value)),
)
def test_bad_query_parameter_is_422_naming_it(
    admin: httpx.Client, path: str, params: dict[str, Any], bad_field: str
) -> None:
    refused(admin.get(path, params=params), 422, bad_field)


@pytest.mark.parametrize("name", ["create_ticket", "comment"])
def test_idempotency_key_over_255_characters_is_422_and_changes_nothing(
    admin: httpx.Client, db: Session, targets: dict[str, int], name: str
) -> None:
    endpoint = ENDPOINTS[name]
    before = snapshot(db)
    response = send(
        admin, endpoint, targets, json=endpoint.body(), headers={"Idempotency-Key": "k" * 256}
    )
    refused(response, 422, "Idempotency-Key")
    assert snapshot(db) == before


def test_user_id_query_that_is_not_a_number_is_422(
    customer: httpx.Client, db: Session, targets: dict[str, int]
) -> None:
    before = snapshot(db)
    response = customer.patch(
        f"/tickets/{targets['ticket']}", params={"user_id": "john"}, json={"title": "Renamed"}
    )
    refused(response, 422, "user_id")
    assert snapshot(db) == before


# --- who is asking ------------------------------------------------------------------------------

BAD_AUTHORIZATION = {
    "missing": None,
    "basic-scheme": "Basic x",
    "basic-with-credentials": "Basic YWRtaW46YWRtaW4=",
    "bearer-without-key": "Bearer",
    "unknown-key": "Bearer tkt_this-key-was-never-issued",
    "key-without-scheme": "tkt_this-key-was-never-issued",
}


@pytest.mark.parametrize("authorization", BAD_AUTHORIZATION.values(), ids=BAD_AUTHORIZATION.keys())
@ALL
def test_write_without_a_valid_key_is_401_and_changes_nothing(
    api_server: ApiServer,
    db: Session,
    targets: dict[str, int],
    endpoint: Endpoint,
    authorization: str | None,
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    before = snapshot(db)
    with httpx.Client(base_url=api_server.base_url, headers=headers, timeout=30) as client:
        response = send(client, endpoint, targets, json=endpoint.body())
    refused(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert snapshot(db) == before


@pytest.mark.parametrize("authorization", BAD_AUTHORIZATION.values(), ids=BAD_AUTHORIZATION.keys())
@pytest.mark.parametrize("path", ["/tickets", "/tickets/1", "/users/me", "/categories"])
def test_read_without_a_valid_key_is_401(
    api_server: ApiServer, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    with httpx.Client(base_url=api_server.base_url, headers=headers, timeout=30) as client:
        response = client.get(path)
    refused(response, 401)


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS.values() if e.admin_only], ids=str)
@pytest.mark.parametrize("role", ["customer", "agent"])
def test_non_admin_changing_users_or_reference_data_is_403_and_changes_nothing(
    clients: dict[str, httpx.Client],
    db: Session,
    targets: dict[str, int],
    endpoint: Endpoint,
    role: str,
) -> None:
    valid = endpoint.body()
    if endpoint.path == "/users":
        valid["email"] = f"{uuid.uuid4().hex}@example.com"
    elif endpoint.method == "POST":
        valid["name"] = _unique("Forbidden")
    before = snapshot(db)
    refused(send(clients[role], endpoint, targets, json=valid), 403)
    assert snapshot(db) == before


FORBIDDEN_TO_CUSTOMERS: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    ("create_ticket", {"user_id": JANE}, {}, "user_id"),
    ("create_ticket", {"assigned_to": SARAH}, {}, "assigned_to"),
    ("create_ticket", {}, {"user_id": JANE}, "user_id"),
    ("patch_ticket", {"priority_id": 1}, {}, "priority_id"),
    ("patch_ticket", {"category_id": 2}, {}, "category_id"),
    ("patch_ticket", {"assigned_to": SARAH}, {}, "assigned_to"),
    ("patch_ticket", {"status_id": 2}, {}, "status_id"),
    ("put_ticket", {"priority_id": 1}, {}, "priority_id"),
    ("patch_ticket", {}, {"user_id": JANE}, "user_id"),
    ("comment", {"internal": True}, {}, "internal"),
    ("comment", {"is_internal": True}, {}, "internal"),
    ("comment", {}, {"user_id": SARAH}, "user_id"),
]


@pytest.mark.parametrize(
    ("name", "overrides", "params", "bad_field"),
    FORBIDDEN_TO_CUSTOMERS,
    ids=[f"{c[0]}-{c[3]}" + ("-query" if c[2] else "") for c in FORBIDDEN_TO_CUSTOMERS],
)
def test_customer_overstepping_on_own_ticket_is_403_naming_the_field_and_changes_nothing(
    customer: httpx.Client,
    db: Session,
    targets: dict[str, int],
    name: str,
    overrides: dict[str, Any],
    params: dict[str, Any],
    bad_field: str,
) -> None:
    endpoint = ENDPOINTS[name]
    before = snapshot(db)
    response = send(customer, endpoint, targets, json=endpoint.body(overrides), params=params)
    refused(response, 403, bad_field)
    assert snapshot(db) == before


@pytest.mark.parametrize("name", ["patch_ticket", "put_ticket", "comment"])
def test_customer_writing_to_another_customers_ticket_is_404_and_changes_nothing(
    other_customer: httpx.Client, db: Session, targets: dict[str, int], name: str
) -> None:
    endpoint = ENDPOINTS[name]
    before = snapshot(db)
    refused(send(other_customer, endpoint, targets, json=endpoint.body()), 404)
    assert snapshot(db) == before


def test_customer_listing_users_is_403(customer: httpx.Client) -> None:
    refused(customer.get("/users"), 403)
