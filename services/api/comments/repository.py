"""All SQL about comments."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.models import TicketComment
from shared.ticket_writes import insert_comment as insert_comment


def comments_of(session: Session, *, ticket_id: int, include_internal: bool) -> list[TicketComment]:
    query = select(TicketComment).where(TicketComment.ticket_id == ticket_id)
    if not include_internal:
        query = query.where(TicketComment.is_internal.is_(False))
    # By time: comments copied by a merge keep theirs and fall into place in the conversation.
    return list(session.scalars(query.order_by(TicketComment.created_at, TicketComment.id)))
