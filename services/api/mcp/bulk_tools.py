"""MCP tool for staff: one change applied to many tickets, as POST /tickets/bulk."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field
from sqlalchemy.orm import Session

from services.api.bulk import service as bulk
from services.api.bulk.schemas import MAX_BULK_TICKETS, BulkOutcome, BulkUpdate
from services.api.mcp.calls import add_tool, call_as_caller, parse_input, problem_message
from services.api.schemas import Id
from services.api.tickets.schemas import TAGS_DESCRIPTION
from shared.errors import DomainError
from shared.models import User

_BULK_WRITE = ToolAnnotations(
    readOnlyHint=False, destructiveHint=False, idempotentHint=True, openWorldHint=False
)


async def bulk_update_tickets(
    ctx: Context,
    tickets: Annotated[
        list[Any],
        Field(
            min_length=1,
            max_length=MAX_BULK_TICKETS,
            description="The tickets (1-500, each once): ids (42), numbers (TKT-042) or "
            '{"id": 42, "version": 3} to refuse a ticket changed since version 3.',
        ),
    ],
    status_id: Annotated[Id | None, Field(description="The new status (list_statuses).")] = None,
    priority_id: Annotated[
        Id | None, Field(description="The new priority (list_priorities).")
    ] = None,
    category_id: Annotated[
        Id | None, Field(description="The new category (list_categories).")
    ] = None,
    assignee_id: Annotated[Id | None, Field(description="The agent or admin to assign.")] = None,
    unassign: Annotated[bool, Field(description="true: unassign every ticket.")] = False,
    add_tags: Annotated[
        list[str] | None, Field(description="Tags to add. " + TAGS_DESCRIPTION)
    ] = None,
    remove_tags: Annotated[list[str] | None, Field(description="Tags to remove.")] = None,
    custom_fields: Annotated[
        dict[str, Any] | None,
        Field(max_length=50, description="Custom field values by key; null clears one."),
    ] = None,
    macro_id: Annotated[
        Id | None,
        Field(description="A macro (list_macros) to apply to each ticket, instead of changes."),
    ] = None,
) -> BulkOutcome:
    """Apply one change to many tickets at once (agents and admins): status, priority,
    category, assignee, tags added or removed, custom fields. Each ticket is changed as
    a single update would change it; one that cannot be (unknown, stale version, a field
    required to resolve missing) is left as it was and the others still change. Or, with
    macro_id and no other change, apply one macro to each ticket as apply_macro would. Returns
    an outcome per ticket (`status` 200, 404, 412, 422...) and the counts changed,
    unchanged and failed."""
    changes: dict[str, Any] = {
        name: value
        for name, value in {
            "status_id": status_id,
            "priority_id": priority_id,
            "category_id": category_id,
            "add_tags": add_tags,
            "remove_tags": remove_tags,
            "custom_fields": custom_fields,
        }.items()
        if value is not None
    }
    if assignee_id is not None and unassign:
        raise ToolError("Invalid input: send assignee_id or unassign, not both")
    if assignee_id is not None or unassign:
        changes["assigned_to"] = None if unassign else assignee_id
    body: dict[str, Any] = {"tickets": tickets}
    if changes or macro_id is None:
        body["changes"] = changes
    if macro_id is not None:
        body["macro_id"] = macro_id
    request = parse_input(BulkUpdate, body)

    def caller(_session: Session, user: User) -> User:
        return user

    actor = await call_as_caller(ctx, caller, write=False)
    try:
        return await bulk.bulk_outcome(actor=actor, request=request)
    except DomainError as error:
        raise ToolError(problem_message(error)) from error


def register(server: MCPServer) -> None:
    add_tool(server, bulk_update_tickets, annotations=_BULK_WRITE)
