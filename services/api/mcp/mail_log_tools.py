"""The mail log for admins' agents: which messages were quarantined or dropped, and why."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field
from sqlalchemy.orm import Session

from services.api.mail import service as mail
from services.api.mail.schemas import MailFilters, MailMessageOut
from services.api.mcp.calls import add_tool, call_as_caller
from services.api.schemas import Page
from shared.models import MailOutcome, User

_READ = ToolAnnotations(readOnlyHint=True, idempotentHint=True, openWorldHint=False)


async def list_mail_messages(
    ctx: Context,
    outcome: Annotated[
        MailOutcome | None,
        Field(
            description="quarantined (unreadable mail), dropped (auto-replies, bounces, "
            "loops), ticket_created or commented; none: every message."
        ),
    ] = None,
    limit: Annotated[int, Field(ge=1, le=200)] = 50,
    offset: Annotated[int, Field(ge=0, le=1_000_000_000)] = 0,
) -> Page[MailMessageOut]:
    """The mail taken in, newest first (admins only): sender, subject, what it became and,
    for quarantined or dropped mail, the reason."""

    def work(session: Session, caller: User) -> Page[MailMessageOut]:
        filters = MailFilters(outcome=outcome, limit=limit, offset=offset)
        items, total = mail.list_messages(session, viewer=caller, filters=filters)
        return Page(items=items, total=total, limit=limit, offset=offset)

    return await call_as_caller(ctx, work, write=False)


def register(server: MCPServer) -> None:
    add_tool(server, list_mail_messages, annotations=_READ)
