"""Mail out for staff's agents: what was mailed to a ticket's requester and CCs."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field
from sqlalchemy.orm import Session

from services.api.mail_out import service as mail_out
from services.api.mail_out.schemas import OutboundMailOut
from services.api.mcp.calls import add_tool, call_as_caller
from services.api.mcp.ticket_tools import TicketRef
from shared.models import User

_READ = ToolAnnotations(readOnlyHint=True, idempotentHint=True, openWorldHint=False)


async def list_ticket_mail(
    ctx: Context,
    ticket: TicketRef,
    limit: Annotated[int, Field(ge=1, le=200, description="At most this many.")] = 50,
) -> list[OutboundMailOut]:
    """The mail sent (or still being sent) to a ticket's requester and CCs, newest first (staff
    only): kind (acknowledgement, reply, resolution), recipient, subject, the text and HTML as
    sent, status (pending, sent, failed), the SMTP server's last reply and every attempt."""

    def work(session: Session, caller: User) -> list[OutboundMailOut]:
        rows, _total = mail_out.ticket_mail(
            session, viewer=caller, ref=str(ticket), limit=limit, offset=0
        )
        return [OutboundMailOut.model_validate(row) for row in rows]

    return await call_as_caller(ctx, work, write=False)


def register(server: MCPServer) -> None:
    add_tool(server, list_ticket_mail, annotations=_READ)
