"""MCP tools over links between tickets and merging: the REST API's operations and rules."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field
from sqlalchemy.orm import Session

from services.api.mcp.calls import add_tool, call_as_caller, if_match, parse_input
from services.api.mcp.ticket_tools import ExpectedVersion, TicketRef
from services.api.schemas import Id
from services.api.ticket_links import merge, service
from services.api.ticket_links.schemas import (
    LinkCreate,
    MergeOut,
    MergeRequest,
    NewLinkKind,
    TicketLinkOut,
)
from shared.models import User

_READ = ToolAnnotations(readOnlyHint=True, openWorldHint=False)
_WRITE = ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=False)
_DESTRUCTIVE = ToolAnnotations(readOnlyHint=False, destructiveHint=True, openWorldHint=False)


async def merge_tickets(
    ctx: Context,
    ticket: Annotated[TicketRef, Field(description="The ticket to merge away (it is closed).")],
    into: Annotated[TicketRef, Field(description="The ticket that carries on.")],
    keep_public_comments: Annotated[
        bool | None,
        Field(
            description="Copy public comments as public (true) or as internal notes (false). "
            "Default: public when both tickets have the same requester, internal otherwise "
            "(agents and admins only)."
        ),
    ] = None,
    expected_version: ExpectedVersion = None,
) -> MergeOut:
    """Merge a ticket into another, e.g. a customer's second ticket about the same problem:
    its comments are copied onto `into` with their authors and times, and it is closed with
    a merged_into link. Customers may merge only their own tickets into their own. Fails if
    either ticket was merged already or `into` is closed. A merged ticket cannot be
    re-opened."""
    request = parse_input(
        MergeRequest, {"into": into, "keep_public_comments": keep_public_comments}
    )

    def work(session: Session, caller: User) -> MergeOut:
        return merge.merge_ticket(
            session,
            actor=caller,
            ref=str(ticket),
            request=request,
            if_match=if_match(expected_version),
        )

    return await call_as_caller(ctx, work, write=True)


async def link_tickets(
    ctx: Context,
    ticket: TicketRef,
    kind: Annotated[
        NewLinkKind,
        Field(
            description="How `ticket` relates to `other`: related, duplicate_of, "
            "duplicated_by, parent_of or child_of."
        ),
    ],
    other: Annotated[TicketRef, Field(description="The ticket to link to.")],
) -> TicketLinkOut:
    """Link two tickets (agents and admins only); the link shows on both, the other one
    reading the inverse kind (duplicate_of / duplicated_by, parent_of / child_of). Two
    tickets are linked once; a ticket has one parent and parents never form a cycle."""
    request = parse_input(LinkCreate, {"kind": kind, "ticket": other})

    def work(session: Session, caller: User) -> TicketLinkOut:
        return service.add_link(session, actor=caller, ref=str(ticket), request=request)

    return await call_as_caller(ctx, work, write=True)


async def unlink_tickets(
    ctx: Context,
    ticket: TicketRef,
    link_id: Annotated[Id, Field(description="The link's id (from list_ticket_links).")],
) -> list[TicketLinkOut]:
    """Remove a link between two tickets (agents and admins only); merged_into links, which
    record a merge, stay. Returns the ticket's remaining links."""

    def work(session: Session, caller: User) -> list[TicketLinkOut]:
        service.remove_link(session, actor=caller, ref=str(ticket), link_id=link_id)
        return service.list_links(session, viewer=caller, ref=str(ticket))

    return await call_as_caller(ctx, work, write=True)


async def list_ticket_links(ctx: Context, ticket: TicketRef) -> list[TicketLinkOut]:
    """The links of a ticket to other tickets, each with its kind as seen from this ticket
    (related, duplicate_of, duplicated_by, parent_of, child_of, merged_into, merged_from).
    Customers see links to their own tickets only."""

    def work(session: Session, caller: User) -> list[TicketLinkOut]:
        return service.list_links(session, viewer=caller, ref=str(ticket))

    return await call_as_caller(ctx, work, write=False)


def register(server: MCPServer) -> None:
    add_tool(server, merge_tickets, annotations=_DESTRUCTIVE)
    add_tool(server, link_tickets, annotations=_WRITE)
    add_tool(server, unlink_tickets, annotations=_DESTRUCTIVE)
    add_tool(server, list_ticket_links, annotations=_READ)
