"""All SQL about comments."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from shared.models import TicketComment
from shared.models.base import table_of


def comments_of(session: Session, *, ticket_id: int, include_internal: bool) -> list[TicketComment]:
    query = select(TicketComment).where(TicketComment.ticket_id == ticket_id)
    if not include_internal:
        query = query.where(TicketComment.is_internal.is_(False))
    # By time: comments copied by a merge keep theirs and fall into place in the conversation.
    return list(session.scalars(query.order_by(TicketComment.created_at, TicketComment.id)))


_INSERT_COMMENT = insert(table_of(TicketComment)).returning(table_of(TicketComment).c.id)


def insert_comment(
    session: Session, *, ticket_id: int, author_id: int, body: str, internal: bool, at: datetime
) -> int:
    """INSERT a comment; returns its id."""
    comment_id = (
        session.connection()
        .execute(
            _INSERT_COMMENT,
            {
                "ticket_id": ticket_id,
                "author_id": author_id,
                "body": body,
                "is_internal": internal,
                "created_at": at,
            },
        )
        .scalar_one()
    )
    return int(comment_id)
