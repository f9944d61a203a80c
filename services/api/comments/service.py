"""Comments: the conversation on a ticket, public replies and agents' internal notes."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.api.attachments.schemas import AttachmentOut
from services.api.attachments.service import comment_attachments
from services.api.comments import repository
from services.api.comments.schemas import CommentCreate, CommentOut
from services.api.tickets import access
from services.api.tickets.service import get_visible_ticket
from shared.clock import utcnow
from shared.event_types import CommentData, TicketCommented
from shared.models import TicketComment, User
from shared.ticket_changes import HistoryEntry, record_ticket_change
from shared.ticket_view import staff_view, user_ref


def comment_out(
    comment: TicketComment, attachments: list[AttachmentOut] | None = None
) -> CommentOut:
    return CommentOut(
        id=comment.id,
        ticket_id=comment.ticket_id,
        author=user_ref(comment.author),
        body=comment.body,
        internal=comment.is_internal,
        created_at=comment.created_at,
        attachments=attachments or [],
    )


def add_comment(session: Session, *, actor: User, ref: str, request: CommentCreate) -> CommentOut:
    ticket = get_visible_ticket(session, viewer=actor, ref=ref)
    access.ensure_may_comment(actor, internal=request.internal)
    now = utcnow()
    comment_id = repository.insert_comment(
        session,
        ticket_id=ticket.id,
        author_id=actor.id,
        body=request.body,
        internal=request.internal,
        at=now,
    )
    history = [HistoryEntry("comment", None, str(comment_id), internal=request.internal)]
    # The first public reply from the support side is the first response the SLA measures.
    if actor.role.is_staff and not request.internal and ticket.first_response_at is None:
        ticket.first_response_at = now
        ticket.updated_at = now
        history.append(HistoryEntry("first_response_at", None, now.isoformat()))
    author = user_ref(actor)
    out = CommentOut(
        id=comment_id,
        ticket_id=ticket.id,
        author=author,
        body=request.body,
        internal=request.internal,
        created_at=now,
    )
    commented = TicketCommented(
        ticket=staff_view(session, ticket),
        actor=author,
        comment=CommentData.model_validate(out, from_attributes=True),
    )
    record_ticket_change(
        session,
        ticket_id=ticket.id,
        actor_id=actor.id,
        at=now,
        history=history,
        events=[commented],
    )
    return out


def list_comments(session: Session, *, viewer: User, ref: str) -> list[CommentOut]:
    ticket = get_visible_ticket(session, viewer=viewer, ref=ref)
    comments = repository.comments_of(
        session, ticket_id=ticket.id, include_internal=viewer.role.is_staff
    )
    # One query for every comment's files: the comments are the ones the viewer may see.
    attachments = comment_attachments(session, comment_ids=[comment.id for comment in comments])
    return [comment_out(comment, attachments.get(comment.id)) for comment in comments]
