"""MCP tools over tickets and comments: the REST API's operations, shapes and rules."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field
from sqlalchemy.orm import Session

from services.api.comments import service as comments
from services.api.comments.schemas import CommentBody, CommentCreate, CommentOut
from services.api.mcp.calls import add_tool, call_as_caller, if_match, parse_input
from services.api.schemas import Id, Page
from services.api.search import service as search
from services.api.search.schemas import SearchHit, SearchParams
from services.api.tickets import service as tickets
from services.api.tickets.schemas import (
    TAGS_DESCRIPTION,
    TicketCreate,
    TicketFilters,
    TicketSort,
    TicketText,
    TicketUpdate,
    Title,
)
from shared.models import User
from shared.ticket_view import TicketView

TicketRef = Annotated[
    int | Annotated[str, Field(min_length=1, max_length=40)],
    Field(description="The ticket's numeric id (42) or its number (TKT-042)."),
]
ExpectedVersion = Annotated[
    int | None,
    Field(
        ge=1,
        description="The ticket's `version` as last read; when given and the ticket has changed "
        "since, the call fails instead of overwriting (omit to change it regardless).",
    ),
]
# Filters shared by list_tickets and search_tickets (the REST list's query parameters).
StatusFilter = Annotated[
    Id | None, Field(description="Only tickets in this status (list_statuses).")
]
PriorityFilter = Annotated[
    Id | None, Field(description="Only tickets of this priority (list_priorities).")
]
CategoryFilter = Annotated[
    Id | None, Field(description="Only tickets in this category (list_categories).")
]
AssigneeFilter = Annotated[Id | None, Field(description="Only tickets assigned to this user id.")]
RequesterFilter = Annotated[Id | None, Field(description="Only tickets requested by this user id.")]
TagFilter = Annotated[str | None, Field(max_length=50, description="Only tickets with this tag.")]
CreatedAfter = Annotated[
    datetime | None, Field(description="Only tickets created at or after this moment (ISO 8601).")
]
CreatedBefore = Annotated[
    datetime | None, Field(description="Only tickets created before this moment (ISO 8601).")
]
BreachedFilter = Annotated[
    bool | None, Field(description="true: only tickets whose SLA is breached; false: only others.")
]
CustomValues = Annotated[
    dict[str, Any] | None,
    Field(
        max_length=50,
        description='Custom field values by key ({"order_id": "A-17"}, see list_custom_fields); '
        "null for a key clears it.",
    ),
]
CustomFilters = Annotated[
    dict[str, str] | None,
    Field(
        max_length=20,
        description='Custom field filters as GET /tickets takes them: {"cf_<key>": "value"} '
        "(text, dropdown, checkbox), cf_<key>__gte / cf_<key>__lte (integer, decimal, date).",
    ),
]
Limit = Annotated[int, Field(ge=1, le=200, description="Page size (1-200).")]
Offset = Annotated[int, Field(ge=0, le=1_000_000_000, description="How many results to skip.")]

_READ = ToolAnnotations(readOnlyHint=True, openWorldHint=False)
_WRITE = ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=False)
_IDEMPOTENT_WRITE = ToolAnnotations(
    readOnlyHint=False, destructiveHint=False, idempotentHint=True, openWorldHint=False
)


def _filters(**values: Any) -> dict[str, Any]:
    """The MCP filter names in the REST API's spelling, unset ones left out."""
    renamed = {"assignee_id": "assigned_to", "requester_id": "user_id"}
    return {renamed.get(name, name): value for name, value in values.items() if value is not None}


async def create_ticket(
    ctx: Context,
    title: Annotated[Title, Field(description="A one-line summary (1-200 characters).")],
    description: Annotated[
        TicketText, Field(description="The problem in full (1-20,000 characters).")
    ],
    category_id: Annotated[Id, Field(description="The category's id (see list_categories).")],
    priority_id: Annotated[
        Id | None,
        Field(description="The priority's id (see list_priorities); defaults to Medium."),
    ] = None,
    tags: Annotated[list[str] | None, Field(description=TAGS_DESCRIPTION)] = None,
    requester_id: Annotated[
        Id | None,
        Field(
            description="The customer the ticket is for; defaults to the caller. Only agents "
            "and admins may name someone else."
        ),
    ] = None,
    assignee_id: Annotated[
        Id | None,
        Field(description="An agent or admin to assign at once (agents and admins only)."),
    ] = None,
    custom_fields: CustomValues = None,
) -> TicketView:
    """Open a new ticket. Returns the ticket as `GET /tickets/{id}` does: number, status,
    priority, SLA due times and `version`."""
    request = parse_input(
        TicketCreate,
        {
            "title": title,
            "description": description,
            "category_id": category_id,
            "priority_id": priority_id,
            "tags": tags,
            "user_id": requester_id,
            "assigned_to": assignee_id,
            "custom_fields": custom_fields,
        },
    )

    def work(session: Session, caller: User) -> TicketView:
        return tickets.create_ticket(session, actor=caller, request=request)

    return await call_as_caller(ctx, work, write=True)


async def get_ticket(ctx: Context, ticket: TicketRef) -> TicketView:
    """Read one ticket: title, description, requester, assignee, category, priority, status,
    tags, comment count, SLA state and due times, and its `version`. Customers see their own
    tickets only."""

    def work(session: Session, caller: User) -> TicketView:
        return tickets.read_ticket(session, viewer=caller, ref=str(ticket))

    return await call_as_caller(ctx, work, write=False)


async def list_comments(ctx: Context, ticket: TicketRef) -> list[CommentOut]:
    """The conversation on a ticket, oldest first. Customers see public comments only; agents
    also see internal notes (`internal: true`)."""

    def work(session: Session, caller: User) -> list[CommentOut]:
        return comments.list_comments(session, viewer=caller, ref=str(ticket))

    return await call_as_caller(ctx, work, write=False)


async def list_tickets(
    ctx: Context,
    status_id: StatusFilter = None,
    priority_id: PriorityFilter = None,
    category_id: CategoryFilter = None,
    assignee_id: AssigneeFilter = None,
    requester_id: RequesterFilter = None,
    tag: TagFilter = None,
    created_after: CreatedAfter = None,
    created_before: CreatedBefore = None,
    breached: BreachedFilter = None,
    q: Annotated[
        str | None,
        Field(max_length=200, description="Plain text that the title or description contains."),
    ] = None,
    sort: Annotated[
        TicketSort, Field(description="Order; a leading '-' means descending.")
    ] = TicketSort.CREATED_AT_DESC,
    custom_field_filters: CustomFilters = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[TicketView]:
    """List the tickets the caller may see (customers: their own), filtered, sorted and
    paginated. Returns `{items, total, limit, offset}` as `GET /tickets` does."""
    filters = parse_input(
        TicketFilters,
        _filters(
            status_id=status_id,
            priority_id=priority_id,
            category_id=category_id,
            assignee_id=assignee_id,
            requester_id=requester_id,
            tag=tag,
            created_after=created_after,
            created_before=created_before,
            breached=breached,
            q=q,
            sort=sort,
            limit=limit,
            offset=offset,
        ),
    )

    def work(session: Session, caller: User) -> Page[TicketView]:
        items, total = tickets.list_tickets(
            session, viewer=caller, filters=filters, custom_filters=custom_field_filters
        )
        return Page(items=items, total=total, limit=filters.limit, offset=filters.offset)

    return await call_as_caller(ctx, work, write=False)


async def search_tickets(
    ctx: Context,
    query: Annotated[
        str,
        Field(
            min_length=1,
            max_length=200,
            description="Full-text query over title, description, public comments and tags: "
            'words (all must match), "exact phrases" and prefix* matches.',
        ),
    ],
    status_id: StatusFilter = None,
    priority_id: PriorityFilter = None,
    category_id: CategoryFilter = None,
    assignee_id: AssigneeFilter = None,
    requester_id: RequesterFilter = None,
    tag: TagFilter = None,
    created_after: CreatedAfter = None,
    created_before: CreatedBefore = None,
    breached: BreachedFilter = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[SearchHit]:
    """Full-text search over the tickets the caller may see, best match first. Each hit has the
    ticket, a relevance `score` (null for customers), a `snippet` and the highlighted title
    (HTML: the text escaped, matches in <mark>).
    Returns `{items, total, limit, offset}` as `GET /search` does."""
    params = parse_input(
        SearchParams,
        _filters(
            query=query,
            status_id=status_id,
            priority_id=priority_id,
            category_id=category_id,
            assignee_id=assignee_id,
            requester_id=requester_id,
            tag=tag,
            created_after=created_after,
            created_before=created_before,
            breached=breached,
            limit=limit,
            offset=offset,
        ),
    )

    def work(session: Session, caller: User) -> Page[SearchHit]:
        hits, total = search.search_tickets(session, viewer=caller, params=params)
        return Page(items=hits, total=total, limit=params.limit, offset=params.offset)

    return await call_as_caller(ctx, work, write=False)


async def add_comment(
    ctx: Context,
    ticket: TicketRef,
    body: Annotated[CommentBody, Field(description="The comment text (1-20,000 characters).")],
    internal: Annotated[
        bool,
        Field(
            description="true: an internal note for agents only, never shown to the customer "
            "(agents and admins only). false: a public reply the customer sees."
        ),
    ] = False,
) -> CommentOut:
    """Comment on a ticket. An agent's first public reply sets the ticket's first response
    time (the SLA's first-response target)."""
    request = parse_input(CommentCreate, {"body": body, "internal": internal})

    def work(session: Session, caller: User) -> CommentOut:
        return comments.add_comment(session, actor=caller, ref=str(ticket), request=request)

    return await call_as_caller(ctx, work, write=True)


async def _update(
    ctx: Context, ticket: int | str, fields: dict[str, Any], expected_version: int | None
) -> TicketView:
    request = parse_input(TicketUpdate, fields)

    def work(session: Session, caller: User) -> TicketView:
        return tickets.update_ticket(
            session,
            actor=caller,
            ref=str(ticket),
            request=request,
            if_match=if_match(expected_version),
        )

    return await call_as_caller(ctx, work, write=True)


async def change_status(
    ctx: Context,
    ticket: TicketRef,
    status_id: Annotated[Id, Field(description="The new status's id (see list_statuses).")],
    expected_version: ExpectedVersion = None,
    custom_fields: CustomValues = None,
) -> TicketView:
    """Move a ticket to another status (e.g. In Progress, Resolved). Closing statuses set the
    resolution time and need the custom fields required to resolve (send them in
    `custom_fields`); customers may only close their own ticket or re-open a closed one.
    Returns the updated ticket."""
    fields: dict[str, Any] = {"status_id": status_id}
    if custom_fields:
        fields["custom_fields"] = custom_fields
    return await _update(ctx, ticket, fields, expected_version)


async def set_custom_fields(
    ctx: Context,
    ticket: TicketRef,
    custom_fields: Annotated[
        dict[str, Any],
        Field(
            min_length=1,
            max_length=50,
            description='Values by key ({"order_id": "A-17"}); null clears a value.',
        ),
    ],
    expected_version: ExpectedVersion = None,
) -> TicketView:
    """Set or clear custom field values of a ticket (see list_custom_fields for the keys,
    types and options). Customers may set the fields marked customer_editable only.
    Returns the updated ticket."""
    return await _update(ctx, ticket, {"custom_fields": custom_fields}, expected_version)


async def assign_ticket(
    ctx: Context,
    ticket: TicketRef,
    assignee_id: Annotated[
        Id | None,
        Field(description="The agent or admin to assign; null unassigns the ticket."),
    ],
    expected_version: ExpectedVersion = None,
) -> TicketView:
    """Assign a ticket to an agent or admin, or unassign it (agents and admins only).
    Returns the updated ticket."""
    return await _update(ctx, ticket, {"assigned_to": assignee_id}, expected_version)


def register(server: MCPServer) -> None:
    add_tool(server, create_ticket, annotations=_WRITE)
    add_tool(server, get_ticket, annotations=_READ)
    add_tool(server, list_comments, annotations=_READ)
    add_tool(server, list_tickets, annotations=_READ)
    add_tool(server, search_tickets, annotations=_READ)
    add_tool(server, add_comment, annotations=_WRITE)
    add_tool(server, change_status, annotations=_IDEMPOTENT_WRITE)
    add_tool(server, assign_ticket, annotations=_IDEMPOTENT_WRITE)
    add_tool(server, set_custom_fields, annotations=_IDEMPOTENT_WRITE)
