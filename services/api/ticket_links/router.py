from __future__ import annotations

from fastapi import APIRouter, Response, status

from services.api.dependencies import ActingUser, CurrentUser, DbSession
from services.api.idempotency import respond_once
from services.api.responses import etag
from services.api.schemas import IdempotencyKeyHeader, IfMatchHeader, PathId
from services.api.ticket_links import merge, service
from services.api.ticket_links.schemas import LinkCreate, MergeOut, MergeRequest, TicketLinkOut
from shared.unit_of_work import run_sync

router = APIRouter(prefix="/tickets/{ticket_ref}", tags=["ticket links"])


@router.get("/links", response_model=list[TicketLinkOut])
async def list_links(
    ticket_ref: str, session: DbSession, viewer: CurrentUser
) -> list[TicketLinkOut]:
    """The ticket's links to other tickets, each with its kind as seen from this ticket."""
    return await run_sync(lambda: service.list_links(session, viewer=viewer, ref=ticket_ref))


@router.post("/links", response_model=TicketLinkOut, status_code=status.HTTP_201_CREATED)
async def add_link(
    ticket_ref: str, body: LinkCreate, session: DbSession, actor: ActingUser
) -> TicketLinkOut:
    """Link the ticket to another (agents and admins): related, duplicate_of, duplicated_by,
    parent_of or child_of."""
    return await run_sync(
        lambda: service.add_link(session, actor=actor, ref=ticket_ref, request=body)
    )


@router.delete("/links/{link_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_link(
    ticket_ref: str, link_id: PathId, session: DbSession, actor: ActingUser
) -> Response:
    """Remove a link from both its tickets (agents and admins); merged_into links stay."""
    await run_sync(
        lambda: service.remove_link(session, actor=actor, ref=ticket_ref, link_id=link_id)
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/merge",
    response_model=MergeOut,
    responses={200: {"headers": {"ETag": {"schema": {"type": "string"}}}}},
)
async def merge_ticket(
    ticket_ref: str,
    body: MergeRequest,
    session: DbSession,
    actor: ActingUser,
    if_match: IfMatchHeader = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Merge the ticket into another: its comments are copied there and it is closed with a
    merged_into link; send If-Match to refuse a stale merge."""

    def merge_once() -> tuple[MergeOut, dict[str, str]]:
        merged = merge.merge_ticket(
            session, actor=actor, ref=ticket_ref, request=body, if_match=if_match
        )
        return merged, etag(merged.ticket.version)

    return await run_sync(
        lambda: respond_once(
            session,
            user=actor,
            key=idempotency_key,
            path=f"/tickets/{ticket_ref}/merge",
            payload=body,
            status_code=status.HTTP_200_OK,
            action=merge_once,
        )
    )
