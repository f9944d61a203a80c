"""The Model Context Protocol server: the helpdesk's tools for AI agents, served at /mcp."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, get_type_hints

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import CallToolResult, Icon, InputRequiredResult, ToolAnnotations
from pydantic import ValidationError
from starlette.types import ASGIApp

from services.api.mcp import (
    attachment_tools,
    automation_tools,
    bulk_tools,
    link_tools,
    macro_tools,
    mail_log_tools,
    mail_tools,
    participant_tools,
    reference_tools,
    ticket_tools,
    trigger_tools,
    workflow_tools,
)
from services.api.mcp.calls import invalid_input_message
from services.api.mcp.gate import BearerKeyGate
from services.api.schemas import control_character, control_character_message, is_long_text

INSTRUCTIONS = """\
A customer-support helpdesk. Every call acts as the user of the API key that authenticates the
connection, under the same rules as the REST API: customers see and change only their own
tickets (and read and reply on those they are copied on, as CC) and never see internal
comments; agents and admins handle every ticket. Use list_categories, list_priorities and
list_statuses to find valid ids. Tickets are named by id (42) or number (TKT-042). Results have
the REST API's shapes. A bot that cannot solve a ticket escalates it to a human with
escalate_ticket; suggest_articles and link_article tie tickets to the knowledge base.
follow_ticket / unfollow_ticket and add_cc / remove_cc manage who follows a ticket (staff) and
who is copied on it (customers). merge_tickets and link_tickets tie tickets to each other.
Staff can list the triggers (rules run on ticket events) and try one on a ticket with
test_trigger, which changes nothing; likewise the automations (time-based rules a scan runs)
with list_automations and test_automation. Staff apply macros (named bundles of actions, shared
or their own: list_macros) with apply_macro, after preview_macro if they wish, which changes
nothing. list_ticket_mail shows staff what was mailed to a ticket's requester and CCs, and
whether it was delivered.
"""


class TicketingServer(MCPServer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Per tool, the arguments that are long text (LONG_TEXT: tab and line breaks allowed).
        self._long_text: dict[str, frozenset[str]] = {}

    def add_tool(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        annotations: ToolAnnotations | None = None,
        icons: list[Icon] | None = None,
        meta: dict[str, Any] | None = None,
        structured_output: bool | None = None,
    ) -> None:
        super().add_tool(fn, name, title, description, annotations, icons, meta, structured_output)
        hints = get_type_hints(fn, include_extras=True)
        self._long_text[name or fn.__name__] = frozenset(
            argument for argument, hint in hints.items() if is_long_text(hint)
        )

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        """As the SDK's, but arguments that fail their schema are reported in the API's words
        (`field: message; …`) rather than as pydantic's multi-line dump, and a control
        character in any argument is refused before the tool runs, as in a REST request."""
        long_text = self._long_text.get(name, frozenset())
        for argument, value in arguments.items():
            lines_allowed = argument in long_text
            char = control_character(value, long_text=lines_allowed)
            if char is not None:
                message = control_character_message(char, long_text=lines_allowed)
                raise ToolError(
                    f"Error executing tool {name}: Invalid input: {argument}: {message}"
                )
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as error:
            if isinstance(error.__cause__, ValidationError):
                message = invalid_input_message(error.__cause__)
                raise ToolError(f"Error executing tool {name}: {message}") from error.__cause__
            raise


def create_mcp_server() -> MCPServer:
    server = TicketingServer(
        "ticketing", title="Ticketing helpdesk", instructions=INSTRUCTIONS, version="0.1.0"
    )
    ticket_tools.register(server)
    workflow_tools.register(server)
    participant_tools.register(server)
    link_tools.register(server)
    reference_tools.register(server)
    bulk_tools.register(server)
    trigger_tools.register(server)
    mail_tools.register(server)
    attachment_tools.register(server)
    macro_tools.register(server)
    automation_tools.register(server)
    mail_log_tools.register(server)
    return server


@dataclass(frozen=True)
class McpEndpoint:
    """The ASGI app to route /mcp to, and the session manager the app's lifespan must run."""

    app: ASGIApp
    session_manager: StreamableHTTPSessionManager

    def running(self) -> AbstractAsyncContextManager[None]:
        return self.session_manager.run()


def create_mcp_endpoint() -> McpEndpoint:
    server = create_mcp_server()
    # Stateless JSON: each POST is one self-contained exchange, so any API process (or replica)
    # can answer any call and nothing is kept between requests. DNS-rebinding protection
    # (checking Host/Origin) is for servers that trust whoever can reach them; this one
    # trusts only bearer keys, which a rebinding page cannot obtain, and must answer under
    # whatever host name it is deployed.
    server.streamable_http_app(
        stateless_http=True,
        json_response=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    manager = server.session_manager
    return McpEndpoint(app=BearerKeyGate(StreamableHTTPASGIApp(manager)), session_manager=manager)
