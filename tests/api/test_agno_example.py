"""The Agno example's MCP toolkit connects to the running api and finds the helpdesk's tools."""

from __future__ import annotations

import json
from typing import Any

import anyio

from examples.agno_agent import ticketing_tools
from tests.api.test_mcp import REFERENCE_TOOLS, TICKET_TOOLS
from tests.support.processes import ApiServer


def test_agno_mcp_tools_connect_and_list_the_tools(
    api_server: ApiServer, api_keys: dict[str, str]
) -> None:
    async def connect() -> tuple[set[str], Any]:
        async with ticketing_tools(url=api_server.base_url, api_key=api_keys["agent"]) as tools:
            assert tools.session is not None
            statuses = await tools.session.call_tool("list_statuses", {})
            return set(tools.functions), statuses

    names, statuses = anyio.run(connect)

    assert TICKET_TOOLS | REFERENCE_TOOLS <= names
    assert not statuses.is_error
    names_in_order = [json.loads(block.text)["name"] for block in statuses.content]
    assert names_in_order[:2] == ["Open", "In Progress"]


def test_agno_mcp_tools_are_refused_with_a_bad_key(api_server: ApiServer) -> None:
    async def connect() -> set[str]:
        tools = ticketing_tools(url=api_server.base_url, api_key="tkt_not-a-key")
        await tools.connect()  # Agno logs the failure and leaves the toolkit without tools.
        try:
            return set(tools.functions)
        finally:
            await tools.close()

    assert anyio.run(connect) == set()
