"""All SQL about the mail log."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.api.mail.schemas import MailFilters
from shared.models import MailMessage


def find_messages(session: Session, *, filters: MailFilters) -> tuple[list[MailMessage], int]:
    query = select(MailMessage)
    if filters.outcome is not None:
        query = query.where(MailMessage.outcome == filters.outcome)
    if filters.direction is not None:
        query = query.where(MailMessage.direction == filters.direction)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(MailMessage.received_at.desc(), MailMessage.id.desc())
        .limit(filters.limit)
        .offset(filters.offset)
    )
    return list(rows), int(total)
