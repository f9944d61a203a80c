from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from services.api.custom_fields.values import filter_parameters
from services.api.dependencies import ActingUser, CurrentUser, DbSession
from services.api.idempotency import respond_once
from services.api.responses import etag, json_response
from services.api.schemas import IdempotencyKeyHeader, IfMatchHeader, Page
from services.api.tickets import service
from services.api.tickets.schemas import HistoryOut, TicketCreate, TicketFilters, TicketUpdate
from shared.ticket_view import TicketView
from shared.unit_of_work import run_sync

router = APIRouter(prefix="/tickets", tags=["tickets"])

TicketRef = Annotated[str, "a numeric id or a TKT- number"]


@router.get("", response_model=Page[TicketView])
async def list_tickets(
    request: Request,
    session: DbSession,
    viewer: CurrentUser,
    filters: Annotated[TicketFilters, Query()],
) -> Response:
    """List the tickets the caller may see, filtered, sorted and paginated; `cf_<key>=value`
    (text, dropdown, checkbox) and `cf_<key>__gte` / `__lte` (integer, decimal, date) filter
    on custom fields."""
    custom = filter_parameters(request.query_params)
    items, total = await run_sync(
        lambda: service.list_tickets(session, viewer=viewer, filters=filters, custom_filters=custom)
    )
    return json_response(Page(items=items, total=total, limit=filters.limit, offset=filters.offset))


@router.post(
    "",
    response_model=TicketView,
    status_code=status.HTTP_201_CREATED,
    responses={201: {"headers": {"ETag": {"schema": {"type": "string"}}}}},
)
async def create_ticket(
    body: TicketCreate,
    session: DbSession,
    actor: ActingUser,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Create a ticket."""

    def create() -> tuple[TicketView, dict[str, str]]:
        view = service.create_ticket(session, actor=actor, request=body)
        return view, {**etag(view.version), "Location": f"/tickets/{view.id}"}

    return await run_sync(
        lambda: respond_once(
            session,
            user=actor,
            key=idempotency_key,
            path="/tickets",
            payload=body,
            status_code=status.HTTP_201_CREATED,
            action=create,
        )
    )


@router.get("/{ticket_ref}", response_model=TicketView)
async def get_ticket(ticket_ref: TicketRef, session: DbSession, viewer: CurrentUser) -> Response:
    """Get a ticket by id or number (TKT-001), with names, tags and SLA state."""
    view = await run_sync(lambda: service.read_ticket(session, viewer=viewer, ref=ticket_ref))
    return json_response(view, headers=etag(view.version))


async def _update(
    ticket_ref: str,
    body: TicketUpdate,
    session: DbSession,
    actor: ActingUser,
    if_match: str | None,
) -> Response:
    view = await run_sync(
        lambda: service.update_ticket(
            session, actor=actor, ref=ticket_ref, request=body, if_match=if_match
        )
    )
    return json_response(view, headers=etag(view.version))


@router.patch("/{ticket_ref}", response_model=TicketView)
async def patch_ticket(
    ticket_ref: TicketRef,
    body: TicketUpdate,
    session: DbSession,
    actor: ActingUser,
    if_match: IfMatchHeader = None,
) -> Response:
    """Change some fields of a ticket; send If-Match to refuse a stale write."""
    return await _update(ticket_ref, body, session, actor, if_match)


@router.put("/{ticket_ref}", response_model=TicketView)
async def put_ticket(
    ticket_ref: TicketRef,
    body: TicketUpdate,
    session: DbSession,
    actor: ActingUser,
    if_match: IfMatchHeader = None,
) -> Response:
    """Change a ticket (as PATCH: only the fields sent change, as in the original API)."""
    return await _update(ticket_ref, body, session, actor, if_match)


@router.get("/{ticket_ref}/history", response_model=list[HistoryOut])
def get_history(ticket_ref: TicketRef, session: DbSession, viewer: CurrentUser) -> list[HistoryOut]:
    """The audit trail: every change, who made it and when."""
    return service.ticket_history(session, viewer=viewer, ref=ticket_ref)
