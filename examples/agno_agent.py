"""An Agno agent that works the helpdesk through the api's MCP server (`/mcp`).

The agent acts as the user of its API key, under that user's role: give it an agent's key (an
AI agent is an agent user with `is_bot` set) to triage and answer tickets, or a customer's key
to file and follow up the customer's own tickets.

Run it against a running api (`make run`, or `ticketing serve`):

    pip install -e '.[dev]' openai           # agno and the model provider's client
    export TICKETING_API_KEY=tkt_...          # ticketing api-key create --email ...
    export OPENAI_API_KEY=sk-...
    python examples/agno_agent.py "Which open tickets are about logging in? Reply to the oldest."

Settings (environment):
    TICKETING_URL        the api's base URL (default http://127.0.0.1:8000)
    TICKETING_API_KEY    the bearer key the agent acts with (required)
    TICKETING_AGENT_MODEL  an Agno model string "<provider>:<model id>"
                         (default openai:gpt-4o-mini; e.g. anthropic:claude-sonnet-4-5,
                         ollama:llama3.1 — install that provider's client package)
"""

from __future__ import annotations

import asyncio
import os
import sys

from agno.agent import Agent
from agno.tools.mcp import MCPTools
from agno.tools.mcp.params import StreamableHTTPClientParams

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_MODEL = "openai:gpt-4o-mini"
INSTRUCTIONS = [
    "You are a support agent working in a ticketing system through its tools.",
    "Look up valid category, priority and status ids with list_categories, list_priorities "
    "and list_statuses before using them.",
    "Search for existing tickets before creating a new one about the same problem.",
    "Write public replies the customer can read; put your reasoning in internal comments.",
    "When you cannot solve a ticket, escalate it to a human with a clear reason.",
]


def ticketing_tools(*, url: str, api_key: str) -> MCPTools:
    """Agno's MCP toolkit connected to the api's /mcp endpoint with a bearer key."""
    return MCPTools(
        transport="streamable-http",
        server_params=StreamableHTTPClientParams(
            url=f"{url.rstrip('/')}/mcp",
            headers={"Authorization": f"Bearer {api_key}"},
        ),
    )


async def run(prompt: str) -> None:
    api_key = os.environ.get("TICKETING_API_KEY")
    if not api_key:
        sys.exit("set TICKETING_API_KEY (create one with: ticketing api-key create --email ...)")
    url = os.environ.get("TICKETING_URL", DEFAULT_URL)
    async with ticketing_tools(url=url, api_key=api_key) as tools:
        agent = Agent(
            model=os.environ.get("TICKETING_AGENT_MODEL", DEFAULT_MODEL),
            tools=[tools],
            instructions=INSTRUCTIONS,
            markdown=True,
        )
        await agent.aprint_response(prompt, stream=True)


def main() -> None:
    prompt = " ".join(sys.argv[1:]) or "List my open tickets, most urgent first."
    asyncio.run(run(prompt))


if __name__ == "__main__":
    main()
