"""The MCP server at /mcp, driven by the official SDK's client over streamable HTTP."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import ClientSession, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent, TextResourceContents
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.api.auth.keys import create_api_key
from shared.models import OutboxEvent, Ticket, TicketComment, TicketHistory
from shared.search_index import index_ticket
from shared.unit_of_work import transaction
from tests.api.routing_support import new_category, new_user, set_pool
from tests.helpers import new_ticket, problem_of
from tests.support.processes import ApiServer

TICKET_TOOLS = {
    "create_ticket",
    "get_ticket",
    "list_comments",
    "list_tickets",
    "search_tickets",
    "add_comment",
    "change_status",
    "assign_ticket",
}
WORKFLOW_TOOLS = {"escalate_ticket", "suggest_articles", "link_article"}
REFERENCE_TOOLS = {"list_categories", "list_priorities", "list_statuses"}


@asynccontextmanager
async def mcp_session(server: ApiServer, key: str | None) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        streamable_http_client(f"{server.base_url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


Scenario = Callable[[ClientSession], Awaitable[Any]]


def run_as(server: ApiServer, key: str, scenario: Scenario) -> Any:
    """Run `scenario` in an initialised MCP session authenticated with `key`."""

    async def main() -> Any:
        async with mcp_session(server, key) as session:
            return await scenario(session)

    return anyio.run(main)


def call(server: ApiServer, key: str, tool: str, **arguments: Any) -> CallToolResult:
    async def scenario(session: ClientSession) -> CallToolResult:
        return await session.call_tool(tool, arguments)

    result = run_as(server, key, scenario)
    assert isinstance(result, CallToolResult)
    return result


def ok(result: CallToolResult) -> Any:
    """The structured result of a successful call (also sent as JSON text)."""
    assert not result.is_error, result.content
    texts = [json.loads(block.text) for block in result.content if isinstance(block, TextContent)]
    assert len(texts) == len(result.content)
    structured = result.structured_content
    # A list comes as {"result": [...]} (structured content is an object), one text per item.
    if isinstance(structured, dict) and set(structured) == {"result"}:
        assert texts == structured["result"]
        return structured["result"]
    assert texts == [structured]
    return structured


def error_text(result: CallToolResult) -> str:
    assert result.is_error, result.structured_content
    text = result.content[0]
    assert isinstance(text, TextContent)
    return text.text


@pytest.fixture
def keys(api_keys: dict[str, str]) -> dict[str, str]:
    return api_keys


# --- discovery --------------------------------------------------------------------------------


def test_lists_every_tool_with_a_description_and_input_schema(
    api_server: ApiServer, keys: dict[str, str]
) -> None:
    async def scenario(session: ClientSession) -> Any:
        return (await session.list_tools()).tools

    tools = {tool.name: tool for tool in run_as(api_server, keys["agent"], scenario)}

    assert TICKET_TOOLS | WORKFLOW_TOOLS | REFERENCE_TOOLS <= tools.keys()
    for tool in tools.values():
        assert len(tool.description or "") > 40, tool.name
        assert "\n" not in (tool.description or ""), tool.name
        assert tool.input_schema["type"] == "object"
        assert tool.output_schema is not None, tool.name
    create = tools["create_ticket"].input_schema
    assert set(create["required"]) == {"title", "description", "category_id"}
    assert create["properties"]["category_id"]["minimum"] == 1
    assert "internal" in tools["add_comment"].input_schema["properties"]
    assert tools["get_ticket"].annotations is not None
    assert tools["get_ticket"].annotations.read_only_hint is True


def test_reference_data_is_offered_as_tools_and_resources(
    api_server: ApiServer, keys: dict[str, str], customer: httpx.Client
) -> None:
    async def scenario(session: ClientSession) -> tuple[Any, Any]:
        statuses = await session.call_tool("list_statuses", {})
        resource = await session.read_resource("ticketing://statuses")
        return statuses, resource

    statuses, resource = run_as(api_server, keys["customer"], scenario)

    expected = customer.get("/statuses").json()
    assert ok(statuses) == expected
    contents = resource.contents[0]
    assert isinstance(contents, TextResourceContents)
    assert json.loads(contents.text) == expected
    assert ok(call(api_server, keys["customer"], "list_categories")) == (
        customer.get("/categories").json()
    )
    assert ok(call(api_server, keys["customer"], "list_priorities")) == (
        customer.get("/priorities").json()
    )


# --- tickets ----------------------------------------------------------------------------------


def test_customer_creates_a_ticket_shaped_as_the_rest_api_returns_it(
    api_server: ApiServer, keys: dict[str, str], customer: httpx.Client, db: Session
) -> None:
    created = ok(
        call(
            api_server,
            keys["customer"],
            "create_ticket",
            title="Cannot log in from the mobile app",
            description="The app says my password is wrong; the website accepts it.",
            category_id=1,
            tags=["Mobile", "login"],
        )
    )

    assert created["requester"]["email"] == "john.doe@example.com"
    assert created["tags"] == ["login", "mobile"]
    assert created["priority"]["name"] == "Medium"
    assert customer.get(f"/tickets/{created['id']}").json() == created
    db.rollback()
    events = db.scalars(
        select(OutboxEvent.event_type).where(OutboxEvent.ticket_id == created["id"])
    )
    assert list(events) == ["ticket.created"]


def test_search_finds_a_ticket_created_through_mcp(
    api_server: ApiServer, keys: dict[str, str]
) -> None:
    word = f"zq{uuid.uuid4().hex[:10]}"
    created = ok(
        call(
            api_server,
            keys["agent"],
            "create_ticket",
            title=f"Invoice {word} shows the wrong VAT",
            description="The VAT rate on the last invoice is 19% instead of 20%.",
            category_id=2,
        )
    )
    # The worker indexes on ticket.created; here the same function runs in-process.
    with transaction() as session:
        index_ticket(session, ticket_id=created["id"])

    found = ok(call(api_server, keys["agent"], "search_tickets", query=word))

    assert found["total"] == 1
    assert found["items"][0]["ticket"]["id"] == created["id"]
    assert "<mark>" in found["items"][0]["title_highlighted"]


def test_list_tickets_filters_like_the_rest_list(
    api_server: ApiServer, keys: dict[str, str], agent: httpx.Client
) -> None:
    tag = f"t{uuid.uuid4().hex[:8]}"
    first = new_ticket(agent, tags=[tag], priority_id=1)
    new_ticket(agent, tags=[tag], priority_id=4)

    page = ok(call(api_server, keys["agent"], "list_tickets", tag=tag, priority_id=1))

    assert page == agent.get("/tickets", params={"tag": tag, "priority_id": 1}).json()
    assert [item["id"] for item in page["items"]] == [first["id"]]


def test_customer_lists_only_their_own_tickets(
    api_server: ApiServer, keys: dict[str, str], other_customer: httpx.Client
) -> None:
    janes = new_ticket(other_customer)

    page = ok(call(api_server, keys["customer"], "list_tickets", limit=200))

    assert janes["id"] not in {item["id"] for item in page["items"]}
    assert {item["requester"]["email"] for item in page["items"]} == {"john.doe@example.com"}


def test_agent_comments_publicly_and_internally(
    api_server: ApiServer, keys: dict[str, str], customer: httpx.Client, db: Session
) -> None:
    ticket = new_ticket(customer)

    async def scenario(session: ClientSession) -> tuple[Any, Any]:
        reply = await session.call_tool(
            "add_comment", {"ticket": ticket["number"], "body": "We are looking into it."}
        )
        note = await session.call_tool(
            "add_comment",
            {"ticket": ticket["id"], "body": "Probably the SSO change.", "internal": True},
        )
        return reply, note

    reply, note = run_as(api_server, keys["agent"], scenario)

    assert ok(reply)["internal"] is False
    assert ok(note)["internal"] is True
    assert ok(reply)["author"]["email"] == "sarah.johnson@example.com"
    seen_by_customer = ok(call(api_server, keys["customer"], "list_comments", ticket=ticket["id"]))
    assert [comment["body"] for comment in seen_by_customer] == ["We are looking into it."]
    assert customer.get(f"/tickets/{ticket['id']}").json()["first_response_at"] is not None
    db.rollback()
    assert db.scalar(select(TicketComment.is_internal).where(TicketComment.id == ok(note)["id"]))


def test_customer_cannot_write_an_internal_comment(
    api_server: ApiServer, keys: dict[str, str], customer: httpx.Client, db: Session
) -> None:
    ticket = new_ticket(customer)

    result = call(
        api_server, keys["customer"], "add_comment", ticket=ticket["id"], body="x", internal=True
    )

    assert "customers cannot write internal comments" in error_text(result)
    db.rollback()
    assert (
        db.scalars(select(TicketComment).where(TicketComment.ticket_id == ticket["id"])).all() == []
    )


def test_agent_changes_status_and_assigns_with_history(
    api_server: ApiServer, keys: dict[str, str], customer: httpx.Client, db: Session
) -> None:
    ticket = new_ticket(customer)

    in_progress = ok(
        call(api_server, keys["agent"], "change_status", ticket=ticket["number"], status_id=2)
    )
    assigned = ok(
        call(
            api_server,
            keys["agent"],
            "assign_ticket",
            ticket=ticket["id"],
            assignee_id=5,
            expected_version=in_progress["version"],
        )
    )

    assert in_progress["status"]["name"] == "In Progress"
    assert assigned["assignee"]["name"] == "Mike Chen"
    assert customer.get(f"/tickets/{ticket['id']}").json()["assignee"]["id"] == 5
    db.rollback()
    fields = db.scalars(
        select(TicketHistory.field)
        .where(TicketHistory.ticket_id == ticket["id"])
        .order_by(TicketHistory.id)
    )
    assert list(fields) == ["created", "status", "assignee"]
    unassigned = ok(
        call(api_server, keys["agent"], "assign_ticket", ticket=ticket["id"], assignee_id=None)
    )
    assert unassigned["assignee"] is None


def test_a_stale_expected_version_changes_nothing(
    api_server: ApiServer, keys: dict[str, str], customer: httpx.Client
) -> None:
    ticket = new_ticket(customer)
    customer.patch(f"/tickets/{ticket['id']}", json={"title": "Edited meanwhile"})

    result = call(
        api_server,
        keys["agent"],
        "change_status",
        ticket=ticket["id"],
        status_id=2,
        expected_version=ticket["version"],
    )

    assert "Precondition failed" in error_text(result)
    assert customer.get(f"/tickets/{ticket['id']}").json()["status"]["id"] == ticket["status"]["id"]


# --- escalation and the knowledge base ---------------------------------------------------------


def test_a_bot_escalates_a_ticket_to_a_human_of_the_pool(
    api_server: ApiServer,
    keys: dict[str, str],
    admin: httpx.Client,
    agent: httpx.Client,
    db: Session,
) -> None:
    category = new_category(admin)
    bot = new_user(admin, is_bot=True)
    human = new_user(admin)
    set_pool(admin, category["id"], [bot["id"], human["id"]])
    ticket = new_ticket(agent, category_id=category["id"], assigned_to=bot["id"], user_id=1)
    with transaction() as session:
        _row, bot_key = create_api_key(session, email=bot["email"], name="tests-mcp-bot")

    escalated = ok(
        call(
            api_server,
            bot_key,
            "escalate_ticket",
            ticket=ticket["number"],
            reason="The customer asks for a refund, which needs a human.",
            priority_id=2,
        )
    )

    assert escalated["escalated_from"]["id"] == bot["id"]
    assert escalated["escalated_to"]["id"] == human["id"]
    assert escalated["comment"]["internal"] is True
    assert escalated["ticket"]["priority"]["id"] == 2
    assert agent.get(f"/tickets/{ticket['id']}").json() == escalated["ticket"]
    db.rollback()
    events = db.scalars(select(OutboxEvent.event_type).where(OutboxEvent.ticket_id == ticket["id"]))
    assert "ticket.escalated" in list(events)


def test_customer_cannot_escalate(
    api_server: ApiServer, keys: dict[str, str], customer: httpx.Client
) -> None:
    ticket = new_ticket(customer)

    result = call(api_server, keys["customer"], "escalate_ticket", ticket=ticket["id"], reason="x")

    assert "Forbidden: customers cannot escalate tickets" in error_text(result)
    assert customer.get(f"/tickets/{ticket['id']}").json()["version"] == ticket["version"]


def test_agent_links_a_suggested_article_to_a_ticket(
    api_server: ApiServer, keys: dict[str, str], agent: httpx.Client, customer: httpx.Client
) -> None:
    topic = "kb" + uuid.uuid4().hex[:10].translate(str.maketrans("0123456789", "ghijklmnop"))
    response = agent.post(
        "/articles",
        json={
            "title": f"Resetting a {topic} password",
            "body": f"Open the {topic} settings and choose *Reset password*.",
            "published": True,
        },
    )
    assert response.status_code == 201, response.text
    article = response.json()
    ticket = new_ticket(customer, title=f"My {topic} password no longer works")

    async def scenario(session: ClientSession) -> tuple[CallToolResult, CallToolResult]:
        suggested = await session.call_tool("suggest_articles", {"ticket": ticket["id"]})
        linked = await session.call_tool(
            "link_article", {"ticket": ticket["number"], "article_id": article["id"]}
        )
        return suggested, linked

    suggested, linked = run_as(api_server, keys["agent"], scenario)

    assert ok(suggested) == agent.get(f"/tickets/{ticket['id']}/suggested-articles").json()
    assert ok(suggested)[0]["article"]["id"] == article["id"]
    assert ok(linked)["article"]["id"] == article["id"]
    assert customer.get(f"/tickets/{ticket['id']}/articles").json() == [ok(linked)]
    refused = call(
        api_server, keys["customer"], "link_article", ticket=ticket["id"], article_id=article["id"]
    )
    assert refused.is_error


def test_concurrent_mcp_and_rest_writes_all_commit(
    api_server: ApiServer, keys: dict[str, str], db: Session
) -> None:
    # Far more writers than the server's worker threads: MCP writes that skipped the REST
    # routes' database gate would fill every thread waiting for SQLite's one write connection
    # while a REST request holding it waits for a thread to commit on (fails without the gate).
    marker = f"mixed-{uuid.uuid4().hex[:8]}"
    each = 150
    body = {"description": "Many writers at once", "category_id": 3}

    async def through_mcp(i: int, outcomes: list[bool]) -> None:
        async with mcp_session(api_server, keys["agent"]) as session:
            result = await session.call_tool(
                "create_ticket", {**body, "title": f"{marker} mcp {i}"}
            )
            outcomes.append(not result.is_error)

    async def through_rest(i: int, client: httpx2.AsyncClient, outcomes: list[bool]) -> None:
        response = await client.post("/tickets", json={**body, "title": f"{marker} rest {i}"})
        outcomes.append(response.status_code == 201)

    async def main() -> tuple[list[bool], list[bool]]:
        mcp_outcomes: list[bool] = []
        rest_outcomes: list[bool] = []
        headers = {"Authorization": f"Bearer {keys['agent']}"}
        with anyio.fail_after(120):
            async with (
                httpx2.AsyncClient(
                    base_url=api_server.base_url, headers=headers, timeout=60
                ) as rest,
                anyio.create_task_group() as group,
            ):
                for i in range(each):
                    group.start_soon(through_mcp, i, mcp_outcomes)
                    group.start_soon(through_rest, i, rest, rest_outcomes)
        return mcp_outcomes, rest_outcomes

    mcp_outcomes, rest_outcomes = anyio.run(main)

    assert mcp_outcomes == [True] * each
    assert rest_outcomes == [True] * each
    db.rollback()
    created = db.scalar(select(func.count()).where(Ticket.title.startswith(marker)))
    assert created == 2 * each


# --- role rules -------------------------------------------------------------------------------


def test_customer_is_refused_another_customers_ticket(
    api_server: ApiServer, keys: dict[str, str], other_customer: httpx.Client
) -> None:
    janes = new_ticket(other_customer)

    async def scenario(session: ClientSession) -> list[CallToolResult]:
        return [
            await session.call_tool("get_ticket", {"ticket": janes["number"]}),
            await session.call_tool("list_comments", {"ticket": janes["id"]}),
            await session.call_tool("add_comment", {"ticket": janes["id"], "body": "Hello"}),
            await session.call_tool("change_status", {"ticket": janes["id"], "status_id": 5}),
        ]

    for result in run_as(api_server, keys["customer"], scenario):
        assert "Not found: no ticket" in error_text(result)
    assert other_customer.get(f"/tickets/{janes['id']}").json()["comment_count"] == 0


def test_customer_cannot_assign_tickets(
    api_server: ApiServer, keys: dict[str, str], customer: httpx.Client
) -> None:
    ticket = new_ticket(customer)

    result = call(api_server, keys["customer"], "assign_ticket", ticket=ticket["id"], assignee_id=4)

    assert "Forbidden: customers cannot change assigned_to" in error_text(result)
    assert customer.get(f"/tickets/{ticket['id']}").json()["assignee"] is None


def test_a_request_without_a_valid_key_is_refused_with_401(
    api_server: ApiServer, anonymous: httpx.Client
) -> None:
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"},
        },
    }
    headers = {"Accept": "application/json, text/event-stream"}
    for authorization in (None, "Bearer tkt_not-a-key", "Basic dXNlcjpwYXNz"):
        sent = {**headers, "Authorization": authorization} if authorization else headers
        response = anonymous.post("/mcp", json=initialize, headers=sent)
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == "Bearer"
        problem_of(response)


@pytest.mark.parametrize("method", ["GET", "DELETE", "PUT"])
def test_anything_but_post_is_405_at_once_instead_of_an_endless_stream(
    api_server: ApiServer, keys: dict[str, str], method: str
) -> None:
    headers = {
        "Authorization": f"Bearer {keys['customer']}",
        "Accept": "text/event-stream",
        "Mcp-Session-Id": "none",
    }
    # A stream held open would run into the read timeout instead of answering.
    with httpx.Client(base_url=api_server.base_url, timeout=5) as client:
        response = client.request(method, "/mcp", headers=headers)
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == "POST"
    problem_of(response)


def test_the_sdk_client_cannot_connect_with_a_bad_key(api_server: ApiServer) -> None:
    async def connect() -> None:
        async with mcp_session(api_server, "tkt_revoked-or-invented"):
            pass

    with pytest.raises(BaseExceptionGroup) as refused:
        anyio.run(connect)
    # The SDK reports the 401 answer to `initialize` as an MCP error.
    assert any(isinstance(error, MCPError) for error in _leaves(refused.value))


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


# --- bad input --------------------------------------------------------------------------------


def test_bad_arguments_are_a_tool_error_naming_the_field(
    api_server: ApiServer, keys: dict[str, str]
) -> None:
    async def scenario(session: ClientSession) -> list[CallToolResult]:
        return [
            await session.call_tool(
                "create_ticket", {"title": "", "description": "x", "category_id": 1}
            ),
            await session.call_tool(
                "create_ticket", {"title": "t", "description": "d", "category_id": 999_999}
            ),
            await session.call_tool(
                "create_ticket",
                {"title": "t", "description": "d", "category_id": 1, "tags": ["bad/tag"]},
            ),
            await session.call_tool("get_ticket", {"ticket": "TKT-999999"}),
            await session.call_tool("change_status", {"ticket": "1", "status_id": "open"}),
        ]

    empty_title, unknown_category, bad_tag, missing, wrong_type = run_as(
        api_server, keys["agent"], scenario
    )

    assert error_text(empty_title) == (
        "Error executing tool create_ticket: Invalid input: "
        "title: String should have at least 1 character"
    )
    assert "no active category with id 999999 (field: category_id)" in error_text(unknown_category)
    assert "Invalid input: tags: Value error, tag 'bad/tag' must be" in error_text(bad_tag)
    assert "Not found: no ticket TKT-999999" in error_text(missing)
    assert "Invalid input: status_id: Input should be a valid integer" in error_text(wrong_type)


def test_a_customer_cannot_create_a_ticket_for_someone_else(
    api_server: ApiServer, keys: dict[str, str], db: Session
) -> None:
    title = f"Impersonation {uuid.uuid4().hex[:8]}"

    result = call(
        api_server,
        keys["customer"],
        "create_ticket",
        title=title,
        description="d",
        category_id=1,
        requester_id=2,
    )

    assert "customers create tickets for themselves only (field: user_id)" in error_text(result)
    db.rollback()
    assert db.scalar(select(Ticket).where(Ticket.title == title)) is None
