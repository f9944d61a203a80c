from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.models import MailKind, MailStatus, OutboundMail


def list_mail(
    session: Session,
    *,
    ticket_id: int | None,
    status: MailStatus | None,
    kind: MailKind | None,
    to_address: str | None,
    limit: int,
    offset: int,
) -> tuple[list[OutboundMail], int]:
    query = select(OutboundMail)
    if ticket_id is not None:
        query = query.where(OutboundMail.ticket_id == ticket_id)
    if status is not None:
        query = query.where(OutboundMail.status == status)
    if kind is not None:
        query = query.where(OutboundMail.kind == kind)
    if to_address is not None:
        query = query.where(OutboundMail.to_address == to_address.lower())
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(OutboundMail.id.desc()).limit(limit).offset(offset))
    return list(rows), total
