"""All SQL about attachments (the writes are `shared.attachments`')."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.models import Attachment, TicketComment


def attachment_with_comment(
    session: Session, *, attachment_id: int
) -> tuple[Attachment, TicketComment | None] | None:
    row = session.execute(
        select(Attachment, TicketComment)
        .outerjoin(TicketComment, Attachment.comment_id == TicketComment.id)
        .where(Attachment.id == attachment_id)
    ).first()
    return (row[0], row[1]) if row is not None else None


def attachments_of_ticket(
    session: Session, *, ticket_id: int
) -> list[tuple[Attachment, TicketComment | None]]:
    rows = session.execute(
        select(Attachment, TicketComment)
        .outerjoin(TicketComment, Attachment.comment_id == TicketComment.id)
        .where(Attachment.ticket_id == ticket_id)
        .order_by(Attachment.id)
    )
    return [(attachment, comment) for attachment, comment in rows]


def attachments_of_comments(session: Session, *, comment_ids: Collection[int]) -> list[Attachment]:
    if not comment_ids:
        return []
    return list(
        session.scalars(
            select(Attachment)
            .where(Attachment.comment_id.in_(list(comment_ids)))
            .order_by(Attachment.id)
        )
    )
