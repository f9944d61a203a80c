"""MCP tools over attachments: the files on a ticket and its comments, as REST lists them."""

from __future__ import annotations

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from sqlalchemy.orm import Session

from services.api.attachments import service
from services.api.attachments.schemas import AttachmentOut
from services.api.mcp.calls import add_tool, call_as_caller
from services.api.mcp.ticket_tools import TicketRef
from shared.models import User

_READ = ToolAnnotations(readOnlyHint=True, openWorldHint=False)


async def list_attachments(ctx: Context, ticket: TicketRef) -> list[AttachmentOut]:
    """The files on a ticket and on its comments (`comment_id`), with name, type and size.
    Customers see those on the ticket and its public comments only. Download the bytes over
    REST at `content_url` with the same API key."""

    def work(session: Session, caller: User) -> list[AttachmentOut]:
        return service.list_for_ticket(session, viewer=caller, ref=str(ticket))

    return await call_as_caller(ctx, work, write=False)


def register(server: MCPServer) -> None:
    add_tool(server, list_attachments, annotations=_READ)
