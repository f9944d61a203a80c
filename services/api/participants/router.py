from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from services.api.dependencies import CurrentUser, DbSession
from services.api.participants import service
from services.api.participants.schemas import CcAdd, FollowerAdd, ParticipantOut
from services.api.schemas import PathId

router = APIRouter(prefix="/tickets/{ticket_ref}", tags=["followers and CCs"])

_ALREADY: dict[int | str, dict[str, Any]] = {
    200: {"model": ParticipantOut, "description": "Already there; nothing changed"}
}


def _added(entry: ParticipantOut, created: bool) -> Response:
    return Response(
        entry.model_dump_json(),
        status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        media_type="application/json",
    )


@router.get("/followers", response_model=list[ParticipantOut])
def list_followers(
    ticket_ref: str, session: DbSession, viewer: CurrentUser
) -> list[ParticipantOut]:
    """The agents and admins following a ticket (agents and admins only)."""
    return service.list_followers(session, viewer=viewer, ref=ticket_ref)


@router.post(
    "/followers",
    response_model=ParticipantOut,
    status_code=status.HTTP_201_CREATED,
    responses=_ALREADY,
)
def add_follower(
    ticket_ref: str, session: DbSession, actor: CurrentUser, body: FollowerAdd | None = None
) -> Response:
    """Follow a ticket, or add another agent or admin as a follower: 201, or 200 if they
    already were."""
    entry, created = service.add_follower(
        session, actor=actor, ref=ticket_ref, user_id=body.user_id if body else None
    )
    return _added(entry, created)


@router.delete("/followers/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_follower(
    ticket_ref: str, user_id: PathId, session: DbSession, actor: CurrentUser
) -> Response:
    """Stop a user following a ticket (agents and admins)."""
    service.remove_follower(session, actor=actor, ref=ticket_ref, user_id=user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/ccs", response_model=list[ParticipantOut])
def list_ccs(ticket_ref: str, session: DbSession, viewer: CurrentUser) -> list[ParticipantOut]:
    """The customers copied on a ticket (anyone who may see the ticket)."""
    return service.list_ccs(session, viewer=viewer, ref=ticket_ref)


@router.post(
    "/ccs", response_model=ParticipantOut, status_code=status.HTTP_201_CREATED, responses=_ALREADY
)
def add_cc(ticket_ref: str, body: CcAdd, session: DbSession, actor: CurrentUser) -> Response:
    """Copy a customer on a ticket (agents and admins): they see it and its public
    conversation and may reply; 201, or 200 if they already were."""
    entry, created = service.add_cc(session, actor=actor, ref=ticket_ref, user_id=body.user_id)
    return _added(entry, created)


@router.delete("/ccs/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_cc(ticket_ref: str, user_id: PathId, session: DbSession, actor: CurrentUser) -> Response:
    """Remove a CC: staff any, the requester from their ticket, a CC themselves."""
    service.remove_cc(session, actor=actor, ref=ticket_ref, user_id=user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
