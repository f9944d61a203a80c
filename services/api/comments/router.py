from __future__ import annotations

from fastapi import APIRouter, Response, status

from services.api.comments import service
from services.api.comments.schemas import CommentCreate, CommentOut
from services.api.dependencies import ActingUser, CurrentUser, DbSession
from services.api.idempotency import respond_once
from services.api.schemas import IdempotencyKeyHeader
from shared.unit_of_work import run_sync

router = APIRouter(prefix="/tickets/{ticket_ref}/comments", tags=["comments"])


@router.get("", response_model=list[CommentOut])
def list_comments(ticket_ref: str, session: DbSession, viewer: CurrentUser) -> list[CommentOut]:
    """The conversation on a ticket (customers see public comments only)."""
    return service.list_comments(session, viewer=viewer, ref=ticket_ref)


@router.post("", response_model=CommentOut, status_code=status.HTTP_201_CREATED)
async def add_comment(
    ticket_ref: str,
    body: CommentCreate,
    session: DbSession,
    actor: ActingUser,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Comment on a ticket; `internal: true` makes an agents-only note."""
    return await run_sync(
        lambda: respond_once(
            session,
            user=actor,
            key=idempotency_key,
            path=f"/tickets/{ticket_ref}/comments",
            payload=body,
            status_code=status.HTTP_201_CREATED,
            action=lambda: (
                service.add_comment(session, actor=actor, ref=ticket_ref, request=body),
                {},
            ),
        )
    )
