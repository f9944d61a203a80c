from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from services.api.dependencies import ActingUser, CurrentUser, DbSession
from services.api.macros import service
from services.api.macros.schemas import (
    MacroApplied,
    MacroCreate,
    MacroFilters,
    MacroOut,
    MacroUpdate,
)
from services.api.responses import etag, json_response
from services.api.schemas import IfMatchHeader, PathId
from shared.models import Macro
from shared.unit_of_work import run_sync

router = APIRouter(tags=["macros"])


@router.get("/macros", response_model=list[MacroOut])
def list_macros(
    session: DbSession, user: CurrentUser, filters: Annotated[MacroFilters, Query()]
) -> list[Macro]:
    """The shared macros and your own, by name (agents and admins); `scope=shared|mine`."""
    return service.list_macros(session, viewer=user, filters=filters)


@router.get("/macros/{macro_id}", response_model=MacroOut)
def get_macro(macro_id: PathId, session: DbSession, user: CurrentUser) -> Macro:
    """Get a shared macro or one of yours."""
    return service.get_macro(session, viewer=user, macro_id=macro_id)


@router.post("/macros", response_model=MacroOut, status_code=status.HTTP_201_CREATED)
def create_macro(body: MacroCreate, session: DbSession, user: ActingUser) -> Macro:
    """Create a macro of your own, or a shared one (`shared: true`, admins)."""
    return service.create_macro(session, actor=user, fields=body)


@router.patch("/macros/{macro_id}", response_model=MacroOut)
def update_macro(
    macro_id: PathId, body: MacroUpdate, session: DbSession, user: ActingUser
) -> Macro:
    """Change one of your macros, or a shared one (admins)."""
    return service.update_macro(session, actor=user, macro_id=macro_id, fields=body)


@router.delete("/macros/{macro_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_macro(macro_id: PathId, session: DbSession, user: ActingUser) -> Response:
    """Delete one of your macros, or a shared one (admins); tickets keep what it did."""
    service.delete_macro(session, actor=user, macro_id=macro_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


TicketRef = Annotated[str, "a numeric id or a TKT- number"]


@router.post("/tickets/{ticket_ref}/macros/{macro_id}", response_model=MacroApplied)
async def apply_macro(
    ticket_ref: TicketRef,
    macro_id: PathId,
    session: DbSession,
    actor: ActingUser,
    if_match: IfMatchHeader = None,
) -> Response:
    """Apply a macro to a ticket as you (one edit, its notes and replies written by you);
    send If-Match to refuse a stale write. Returns the ticket and the comments added."""
    applied = await run_sync(
        lambda: service.apply_macro(
            session, actor=actor, ref=ticket_ref, macro_id=macro_id, if_match=if_match
        )
    )
    return json_response(applied, headers=etag(applied.ticket.version))


@router.post("/tickets/{ticket_ref}/macros/{macro_id}/preview", response_model=MacroApplied)
async def preview_macro(
    ticket_ref: TicketRef,
    macro_id: PathId,
    session: DbSession,
    actor: ActingUser,
    if_match: IfMatchHeader = None,
) -> Response:
    """What applying the macro would do: the ticket as it would be and the comments that
    would be added. Nothing is written, no event is sent, no use is counted."""
    applied = await run_sync(
        lambda: service.preview_macro(
            session, actor=actor, ref=ticket_ref, macro_id=macro_id, if_match=if_match
        )
    )
    return json_response(applied)
