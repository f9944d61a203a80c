"""Control characters (NUL, the other C0 controls, DEL) are a 422 in every text of every request,
on both engines, and nothing is stored; tab and line breaks are text only in the long fields
people write paragraphs in (descriptions, comment and article bodies, escalation reasons)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from mcp.types import TextContent
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.models import Ticket, TicketComment
from shared.models.base import Base
from tests.api.test_mcp import call, ok
from tests.helpers import new_ticket, problem_of
from tests.support.processes import ApiServer

# Tables with whole rows compared (a PATCH that slipped through changes one); the others by
# count. api_keys is counted only: its last_used_at moves in the background.
_WHOLE_ROWS = (
    "users",
    "categories",
    "priority_levels",
    "statuses",
    "business_calendars",
    "webhook_endpoints",
    "articles",
    "assignment_pools",
    "assignment_pool_members",
    "tickets",
)


def snapshot(db: Session) -> dict[str, Any]:
    db.rollback()
    state: dict[str, Any] = {}
    for table in Base.metadata.sorted_tables:
        if table.name in _WHOLE_ROWS:
            state[table.name] = db.execute(select(table).order_by(*table.primary_key)).all()
        else:
            state[table.name] = db.scalar(select(func.count()).select_from(table))
    return state


def refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    problem = problem_of(response)
    fields = [error["field"] for error in problem.get("errors", [])]
    assert any(name == field or name.startswith(f"{field}.") for name in fields), problem


def _unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def targets(clients: dict[str, httpx.Client]) -> dict[str, int]:
    admin = clients["admin"]
    made = {"ticket": new_ticket(clients["customer"])["id"]}
    for kind, path, body in [
        ("user", "/users", {"name": "Control Target", "email": f"{uuid.uuid4().hex}@ex.com"}),
        ("category", "/categories", {"name": _unique("Control target"), "sla_hours": 24}),
        ("webhook", "/webhooks", {"url": "http://93.184.216.34/hooks/control"}),
        ("article", "/articles", {"title": _unique("Control target"), "body": "Body"}),
        (
            "calendar",
            "/calendars",
            {
                "name": _unique("Control target"),
                "timezone": "Europe/Paris",
                "weekly_hours": {"mon": [["09:00", "17:00"]]},
            },
        ),
    ]:
        response = admin.post(path, json=body)
        assert response.status_code == 201, response.text
        made[kind] = response.json()["id"]
    return made


BAD = {"NUL": "\x00", "ESC": "\x1b", "DEL": "\x7f", "BS": "\x08"}
LINE_BREAKS = {"tab": "\t", "LF": "\n", "CR": "\r"}

# (method, path, a body the endpoint accepts, the text fields to spoil, the long-text ones)
BODIES: list[tuple[str, str, dict[str, Any], list[str], list[str]]] = [
    (
        "POST",
        "/tickets",
        {"title": "Printer", "description": "Smoke", "category_id": 1, "tags": ["a"]},
        ["title", "tags"],
        ["description"],
    ),
    ("PATCH", "/tickets/{ticket}", {"title": "Printer"}, ["title"], ["description"]),
    ("PUT", "/tickets/{ticket}", {"title": "Printer"}, ["title"], []),
    ("POST", "/tickets/{ticket}/comments", {"body": "Any news?"}, [], ["body"]),
    ("POST", "/tickets/{ticket}/escalate", {"reason": "Stuck"}, [], ["reason"]),
    ("POST", "/tickets/{ticket}/articles", {"article_id": 1}, [], []),
    ("POST", "/users", {"name": "N", "email": "n@example.com"}, ["name", "email"], []),
    ("PATCH", "/users/{user}", {"name": "N"}, ["name"], []),
    ("POST", "/categories", {"name": "C", "sla_hours": 24}, ["name"], ["description"]),
    ("PATCH", "/categories/{category}", {"name": "C"}, ["name"], ["description"]),
    (
        "POST",
        "/priorities",
        {"name": "P", "rank": 1000, "sla_hours": 48, "colour": "#aabbcc"},
        ["name", "colour"],
        ["description"],
    ),
    ("PATCH", "/priorities/4", {"name": "P"}, ["name"], ["description"]),
    (
        "POST",
        "/statuses",
        {"name": "S", "colour": "#aabbcc", "position": 990},
        ["name"],
        ["description"],
    ),
    (
        "POST",
        "/calendars",
        {"name": "K", "timezone": "UTC", "weekly_hours": {"mon": [["09:00", "17:00"]]}},
        ["name", "timezone"],
        [],
    ),
    ("PATCH", "/calendars/{calendar}", {"name": "K"}, ["name", "timezone"], []),
    (
        "PUT",
        "/categories/{category}/assignment",
        {"strategy": "round_robin", "member_ids": []},
        ["strategy"],
        [],
    ),
    ("POST", "/webhooks", {"url": "http://93.184.216.34/x"}, ["url"], ["description"]),
    ("PATCH", "/webhooks/{webhook}", {"url": "http://93.184.216.34/y"}, ["url"], ["description"]),
    (
        "POST",
        "/articles",
        {"title": "A", "body": "B", "tags": "x,y"},
        ["title", "tags"],
        ["body"],
    ),
    ("PATCH", "/articles/{article}", {"title": "A"}, ["title"], ["body"]),
    ("POST", "/api-keys", {"name": "K"}, ["name"], []),
]

CASES = [
    pytest.param(method, path, valid, field, char, id=f"{method} {path} {field} {name}")
    for method, path, valid, short, long in BODIES
    for field in short + long
    for name, char in BAD.items()
] + [
    pytest.param(method, path, valid, field, char, id=f"{method} {path} {field} {name}")
    for method, path, valid, short, _long in BODIES
    for field in short
    for name, char in LINE_BREAKS.items()
]


def _spoil(value: Any, char: str) -> Any:
    if isinstance(value, list):
        return [*value[:-1], _spoil(value[-1], char)]
    return f"x{char}y" if not isinstance(value, str) else f"{value[:1]}{char}{value[1:]}"


@pytest.mark.parametrize(("method", "path", "valid", "field", "char"), CASES)
def test_a_control_character_in_a_body_is_422_naming_the_field_and_stores_nothing(
    admin: httpx.Client,
    db: Session,
    targets: dict[str, int],
    method: str,
    path: str,
    valid: dict[str, Any],
    field: str,
    char: str,
) -> None:
    body = {**valid, field: _spoil(valid.get(field, "text"), char)}
    before = snapshot(db)
    response = admin.request(method, path.format(**targets), json=body)
    refused(response, field)
    assert snapshot(db) == before


def test_a_control_character_in_a_dict_key_is_refused(admin: httpx.Client, db: Session) -> None:
    before = snapshot(db)
    response = admin.post(
        "/calendars",
        json={"name": "K", "timezone": "UTC", "weekly_hours": {"mon\x00": [["09:00", "17:00"]]}},
    )
    refused(response, "weekly_hours")
    assert snapshot(db) == before


def test_long_text_keeps_its_tabs_and_line_breaks(
    agent: httpx.Client, db: Session, targets: dict[str, int]
) -> None:
    ticket = agent.post(
        "/tickets",
        json={"title": "Two lines", "description": "first\tline\r\nsecond line", "category_id": 1},
    )
    assert ticket.status_code == 201, ticket.text
    assert ticket.json()["description"] == "first\tline\r\nsecond line"
    comment = agent.post(f"/tickets/{ticket.json()['id']}/comments", json={"body": "a\nb"})
    assert comment.status_code == 201, comment.text
    db.rollback()
    assert db.scalar(
        select(TicketComment.body).where(TicketComment.id == comment.json()["id"])
    ) == ("a\nb")


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/tickets", {"q": "\x00"}, "q"),
        ("/tickets", {"q": "printer\x00"}, "q"),
        ("/tickets", {"q": "a\nb"}, "q"),
        ("/tickets", {"tag": "x\x1b"}, "tag"),
        ("/tickets", {"sort": "id\x00"}, "sort"),
        ("/search", {"query": "printer\x00"}, "query"),
        ("/articles", {"tag": "\x7f"}, "tag"),
        ("/articles/search", {"query": "\x00"}, "query"),
        ("/webhooks/1/deliveries", {"status": "failed\x00"}, "status"),
        ("/tickets", {"\x00": "x"}, "\x00"),
    ],
)
def test_a_control_character_in_a_query_parameter_is_422_naming_it(
    admin: httpx.Client, path: str, params: dict[str, str], field: str
) -> None:
    response = admin.get(path, params=params)
    assert response.status_code == 422, response.text
    assert problem_of(response)["errors"][0]["field"] == field


def test_a_nul_in_the_search_text_no_longer_matches_every_ticket(agent: httpx.Client) -> None:
    new_ticket(agent)
    assert agent.get("/tickets", params={"q": "\x00"}).status_code == 422
    assert agent.get("/tickets", params={"q": "no such text anywhere"}).json()["total"] == 0


def _tool_error(result: Any) -> str:
    assert result.is_error, result.content
    return " ".join(block.text for block in result.content if isinstance(block, TextContent))


@pytest.mark.parametrize(
    ("tool", "arguments", "argument"),
    [
        ("create_ticket", {"title": "a\x00b", "description": "d", "category_id": 1}, "title"),
        ("create_ticket", {"title": "a\tb", "description": "d", "category_id": 1}, "title"),
        ("create_ticket", {"title": "t", "description": "d\x00", "category_id": 1}, "description"),
        (
            "create_ticket",
            {"title": "t", "description": "d", "category_id": 1, "tags": ["\x01"]},
            "tags",
        ),
        ("add_comment", {"ticket": "{ticket}", "body": "a\x00b"}, "body"),
        ("escalate_ticket", {"ticket": "{ticket}", "reason": "\x1b"}, "reason"),
        ("get_ticket", {"ticket": "TKT-\x00"}, "ticket"),
        ("list_tickets", {"q": "\x00"}, "q"),
        ("search_tickets", {"query": "printer\x00"}, "query"),
    ],
)
def test_a_control_character_in_an_mcp_tool_argument_is_refused_and_stores_nothing(
    api_server: ApiServer,
    api_keys: dict[str, str],
    db: Session,
    targets: dict[str, int],
    tool: str,
    arguments: dict[str, Any],
    argument: str,
) -> None:
    filled = {
        name: value.format(**targets) if isinstance(value, str) and "{" in value else value
        for name, value in arguments.items()
    }
    before = snapshot(db)
    message = _tool_error(call(api_server, api_keys["admin"], tool, **filled))
    assert argument in message
    assert "control character" in message
    assert snapshot(db) == before


def test_an_mcp_comment_keeps_its_line_breaks(
    api_server: ApiServer, api_keys: dict[str, str], db: Session, targets: dict[str, int]
) -> None:
    comment = ok(
        call(api_server, api_keys["agent"], "add_comment", ticket=targets["ticket"], body="a\r\nb")
    )
    assert comment["body"] == "a\r\nb"
    db.rollback()
    assert db.get(Ticket, targets["ticket"]) is not None
