"""Comments: the conversation on a ticket, public replies and agents' internal notes."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.api.attachments.schemas import AttachmentOut
from services.api.attachments.service import comment_attachments
from services.api.comments import repository
from services.api.comments.schemas import CommentCreate, CommentOut
from services.api.tickets import access
from services.api.tickets.service import get_visible_ticket
from shared.comment_creation import write_comment
from shared.models import TicketComment, User
from shared.ticket_view import user_ref


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
    comment = write_comment(
        session, ticket=ticket, actor=actor, body=request.body, internal=request.internal
    )
    return CommentOut.model_validate(comment, from_attributes=True)


def list_comments(session: Session, *, viewer: User, ref: str) -> list[CommentOut]:
    ticket = get_visible_ticket(session, viewer=viewer, ref=ref)
    comments = repository.comments_of(
        session, ticket_id=ticket.id, include_internal=viewer.role.is_staff
    )
    # One query for every comment's files: the comments are the ones the viewer may see.
    attachments = comment_attachments(session, comment_ids=[comment.id for comment in comments])
    return [comment_out(comment, attachments.get(comment.id)) for comment in comments]
