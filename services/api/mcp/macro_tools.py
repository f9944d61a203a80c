"""Macros for staff's agents: list them, see what one would do to a ticket, apply it."""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field
from sqlalchemy.orm import Session

from services.api.macros import service as macros
from services.api.macros.schemas import MacroApplied, MacroFilters, MacroOut
from services.api.mcp.calls import add_tool, call_as_caller, if_match
from services.api.mcp.ticket_tools import ExpectedVersion, TicketRef
from shared.models import User

_READ = ToolAnnotations(readOnlyHint=True, idempotentHint=True, openWorldHint=False)
_WRITE = ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=False)
MacroId = Annotated[int, Field(ge=1, le=2_147_483_647, description="The macro's id.")]


async def list_macros(
    ctx: Context,
    scope: Annotated[
        Literal["all", "shared", "mine"],
        Field(description="shared: the team's macros; mine: your own; all: both."),
    ] = "all",
    active: Annotated[bool | None, Field(description="Only active (or inactive) ones.")] = None,
) -> list[MacroOut]:
    """The macros you may apply (staff only): the shared ones and your own, by name, each
    with its actions and how often it was used."""

    def work(session: Session, caller: User) -> list[MacroOut]:
        filters = MacroFilters(scope=scope, active=active)
        rows = macros.list_macros(session, viewer=caller, filters=filters)
        return [MacroOut.model_validate(row) for row in rows]

    return await call_as_caller(ctx, work, write=False)


async def preview_macro(
    ctx: Context,
    ticket: TicketRef,
    macro_id: MacroId,
    expected_version: ExpectedVersion = None,
) -> MacroApplied:
    """What applying a macro to a ticket would do (staff only): the ticket as it would be
    and the comments that would be added. Nothing is changed."""

    def work(session: Session, caller: User) -> MacroApplied:
        return macros.preview_macro(
            session,
            actor=caller,
            ref=str(ticket),
            macro_id=macro_id,
            if_match=if_match(expected_version),
        )

    return await call_as_caller(ctx, work, write=True)


async def apply_macro(
    ctx: Context,
    ticket: TicketRef,
    macro_id: MacroId,
    expected_version: ExpectedVersion = None,
) -> MacroApplied:
    """Apply a macro to a ticket as you (staff only): its field changes as one update, its
    notes and replies written by you. Returns the ticket and the comments added."""

    def work(session: Session, caller: User) -> MacroApplied:
        return macros.apply_macro(
            session,
            actor=caller,
            ref=str(ticket),
            macro_id=macro_id,
            if_match=if_match(expected_version),
        )

    return await call_as_caller(ctx, work, write=True)


def register(server: MCPServer) -> None:
    add_tool(server, list_macros, annotations=_READ)
    add_tool(server, preview_macro, annotations=_READ)
    add_tool(server, apply_macro, annotations=_WRITE)
