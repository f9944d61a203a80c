"""Adding a comment to a ticket: the row, its history and the `ticket.commented` event, one
copy for every writer (the API's REST and MCP replies, mail in). The caller checks access."""

from __future__ import annotations

from sqlalchemy.orm import Session

from shared.clock import utcnow
from shared.event_types import CommentData, TicketCommented
from shared.models import Ticket, User
from shared.ticket_changes import HistoryEntry, record_ticket_change
from shared.ticket_view import staff_view, user_ref
from shared.ticket_writes import insert_comment


def write_comment(
    session: Session, *, ticket: Ticket, actor: User, body: str, internal: bool
) -> CommentData:
    """Add a public reply or an internal note by `actor`; the first public reply from the
    support side is the first response the SLA measures."""
    now = utcnow()
    comment_id = insert_comment(
        session, ticket_id=ticket.id, author_id=actor.id, body=body, internal=internal, at=now
    )
    history = [HistoryEntry("comment", None, str(comment_id), internal=internal)]
    if actor.role.is_staff and not internal and ticket.first_response_at is None:
        ticket.first_response_at = now
        ticket.updated_at = now
        history.append(HistoryEntry("first_response_at", None, now.isoformat()))
    comment = CommentData(
        id=comment_id,
        ticket_id=ticket.id,
        author=user_ref(actor),
        body=body,
        internal=internal,
        created_at=now,
    )
    commented = TicketCommented(
        ticket=staff_view(session, ticket), actor=user_ref(actor), comment=comment
    )
    record_ticket_change(
        session, ticket_id=ticket.id, actor_id=actor.id, at=now, history=history, events=[commented]
    )
    return comment
