"""Comments: the conversation on a ticket, public replies and agents' internal notes."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.api.comments import repository
from services.api.comments.schemas import CommentCreate, CommentOut
from services.api.tickets import access
from services.api.tickets.service import get_visible_ticket
from shared.clock import utcnow
from shared.events import EventType, record_event
from shared.models import TicketComment, TicketHistory, User
from shared.ticket_view import ticket_event_data, user_ref


def comment_out(comment: TicketComment) -> CommentOut:
    return CommentOut(
        id=comment.id,
        ticket_id=comment.ticket_id,
        author=user_ref(comment.author),
        body=comment.body,
        internal=comment.is_internal,
        created_at=comment.created_at,
    )


def add_comment(session: Session, *, actor: User, ref: str, request: CommentCreate) -> CommentOut:
    ticket = get_visible_ticket(session, viewer=actor, ref=ref)
    access.ensure_may_comment(actor, internal=request.internal)
    now = utcnow()
    comment = TicketComment(
        ticket_id=ticket.id,
        author=actor,
        body=request.body,
        is_internal=request.internal,
        created_at=now,
    )
    session.add(comment)
    session.flush()
    history = [
        TicketHistory(
            ticket_id=ticket.id,
            actor_id=actor.id,
            created_at=now,
            field="comment",
            new_value=str(comment.id),
            is_internal=request.internal,
        )
    ]
    # The first public reply from the support side is the first response the SLA measures.
    if actor.role.is_staff and not request.internal and ticket.first_response_at is None:
        ticket.first_response_at = now
        ticket.updated_at = now
        history.append(
            TicketHistory(
                ticket_id=ticket.id,
                actor_id=actor.id,
                created_at=now,
                field="first_response_at",
                new_value=now.isoformat(),
            )
        )
    session.add_all(history)
    session.flush()
    out = comment_out(comment)
    data = ticket_event_data(session, ticket, actor=actor, comment=out.model_dump(mode="json"))
    record_event(session, EventType.TICKET_COMMENTED, data, ticket_id=ticket.id, occurred_at=now)
    return out


def list_comments(session: Session, *, viewer: User, ref: str) -> list[CommentOut]:
    ticket = get_visible_ticket(session, viewer=viewer, ref=ref)
    comments = repository.comments_of(
        session, ticket_id=ticket.id, include_internal=viewer.role.is_staff
    )
    return [comment_out(comment) for comment in comments]
