"""MCP tools for followers and CCs: the REST API's operations and rules (agents and admins)."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field
from sqlalchemy.orm import Session

from services.api.mcp.calls import add_tool, call_as_caller
from services.api.mcp.ticket_tools import TicketRef
from services.api.participants import service
from services.api.participants.schemas import ParticipantOut, ParticipantRemoved
from services.api.schemas import Id
from shared.models import User

_IDEMPOTENT_WRITE = ToolAnnotations(
    readOnlyHint=False, destructiveHint=False, idempotentHint=True, openWorldHint=False
)
_REMOVE = ToolAnnotations(
    readOnlyHint=False, destructiveHint=True, idempotentHint=True, openWorldHint=False
)

Staff = Annotated[
    Id | None, Field(description="The agent or admin (a user id); defaults to the caller.")
]
Customer = Annotated[Id, Field(description="The customer's user id (not the requester).")]


async def follow_ticket(ctx: Context, ticket: TicketRef, user_id: Staff = None) -> ParticipantOut:
    """Follow a ticket, or make another agent or admin follow it (agents and admins only).
    Followers are shown to staff only; following again changes nothing."""

    def work(session: Session, caller: User) -> ParticipantOut:
        entry, _added = service.add_follower(
            session, actor=caller, ref=str(ticket), user_id=user_id
        )
        return entry

    return await call_as_caller(ctx, work, write=True)


async def unfollow_ticket(
    ctx: Context, ticket: TicketRef, user_id: Staff = None
) -> ParticipantRemoved:
    """Stop following a ticket, or stop another agent or admin following it (agents and
    admins only)."""

    def work(session: Session, caller: User) -> ParticipantRemoved:
        who = user_id or caller.id
        ticket_id = service.remove_follower(session, actor=caller, ref=str(ticket), user_id=who)
        return ParticipantRemoved(ticket_id=ticket_id, user_id=who)

    return await call_as_caller(ctx, work, write=True)


async def add_cc(ctx: Context, ticket: TicketRef, user_id: Customer) -> ParticipantOut:
    """Copy a customer on a ticket (agents and admins only): a CC sees the ticket and its
    public conversation as its requester does and may reply publicly, but cannot change it.
    Adding them again changes nothing."""

    def work(session: Session, caller: User) -> ParticipantOut:
        entry, _added = service.add_cc(session, actor=caller, ref=str(ticket), user_id=user_id)
        return entry

    return await call_as_caller(ctx, work, write=True)


async def remove_cc(ctx: Context, ticket: TicketRef, user_id: Customer) -> ParticipantRemoved:
    """Remove a customer copied on a ticket: they lose access to it (agents and admins; a
    requester may remove their ticket's CCs, a CC themselves)."""

    def work(session: Session, caller: User) -> ParticipantRemoved:
        ticket_id = service.remove_cc(session, actor=caller, ref=str(ticket), user_id=user_id)
        return ParticipantRemoved(ticket_id=ticket_id, user_id=user_id)

    return await call_as_caller(ctx, work, write=True)


def register(server: MCPServer) -> None:
    add_tool(server, follow_ticket, annotations=_IDEMPOTENT_WRITE)
    add_tool(server, unfollow_ticket, annotations=_REMOVE)
    add_tool(server, add_cc, annotations=_IDEMPOTENT_WRITE)
    add_tool(server, remove_cc, annotations=_REMOVE)
