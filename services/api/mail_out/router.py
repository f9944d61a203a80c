from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.api.dependencies import CurrentUser, DbSession
from services.api.mail_out import service
from services.api.mail_out.schemas import OutboundMailOut
from services.api.schemas import Limit, Offset, Page
from shared.models import MailKind, MailStatus

router = APIRouter(prefix="/mail-out", tags=["mail out"])
ticket_router = APIRouter(prefix="/tickets/{ticket_ref}/mail", tags=["mail out"])


@ticket_router.get("", response_model=Page[OutboundMailOut])
def list_ticket_mail(
    ticket_ref: str,
    session: DbSession,
    viewer: CurrentUser,
    limit: Annotated[Limit, Query()] = 50,
    offset: Annotated[Offset, Query()] = 0,
) -> Page[OutboundMailOut]:
    """The mail sent (or being sent) for a ticket, newest first, with every attempt (staff)."""
    rows, total = service.ticket_mail(
        session, viewer=viewer, ref=ticket_ref, limit=limit, offset=offset
    )
    items = [OutboundMailOut.model_validate(row) for row in rows]
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.get("", response_model=Page[OutboundMailOut])
def list_mail_out(
    session: DbSession,
    viewer: CurrentUser,
    ticket: Annotated[str | None, Query(max_length=40, description="An id or TKT- number.")] = None,
    status: MailStatus | None = None,
    kind: MailKind | None = None,
    to: Annotated[str | None, Query(max_length=254, description="A recipient address.")] = None,
    limit: Annotated[Limit, Query()] = 50,
    offset: Annotated[Offset, Query()] = 0,
) -> Page[OutboundMailOut]:
    """Every outbound message, newest first, by ticket, status, kind or recipient (admins)."""
    rows, total = service.all_mail(
        session,
        viewer=viewer,
        ticket=ticket,
        status=status,
        kind=kind,
        to_address=to,
        limit=limit,
        offset=offset,
    )
    items = [OutboundMailOut.model_validate(row) for row in rows]
    return Page(items=items, total=total, limit=limit, offset=offset)
