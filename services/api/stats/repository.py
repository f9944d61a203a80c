"""The dashboard's SQL: which tickets it lists, chosen by id on indexes, then loaded."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select, union_all
from sqlalchemy.orm import Session

from shared.models import Tag, Ticket, ticket_tags
from shared.ticket_view import TicketRow

_ROW_COLUMNS = [
    ticket_column
    for ticket_column in Ticket.__table__.columns
    if ticket_column.name in TicketRow.__dataclass_fields__
]


def newest_ticket_ids(session: Session, *, limit: int) -> list[int]:
    return list(session.scalars(select(Ticket.id).order_by(Ticket.id.desc()).limit(limit)))


def due_soon_ticket_ids(session: Session, *, status_ids: list[int], limit: int) -> list[int]:
    """Tickets in `status_ids`, nearest resolution due time first (ties: lowest id first).

    Each status gives its own nearest `limit` from ix_tickets_status_resolution_due and only
    those are merged: ordering every running ticket by due time took ~8 ms at 100,000
    tickets, and grows with the backlog."""
    if not status_ids:
        return []
    nearest = [
        select(Ticket.id, Ticket.resolution_due_at)
        .where(Ticket.status_id == status_id, Ticket.resolution_due_at.is_not(None))
        .order_by(Ticket.resolution_due_at, Ticket.id)
        .limit(limit)
        .subquery()
        for status_id in status_ids
    ]
    merged = union_all(
        *(select(part.c.id, part.c.resolution_due_at) for part in nearest)
    ).subquery()
    return list(
        session.scalars(
            select(merged.c.id).order_by(merged.c.resolution_due_at, merged.c.id).limit(limit)
        )
    )


def ticket_rows(session: Session, *, ticket_ids: list[int]) -> dict[int, TicketRow]:
    """The tickets' columns and tag names as plain rows, by id: ORM tickets with their joined
    people and reference data cost about twice as much to build."""
    if not ticket_ids:
        return {}
    tags: dict[int, list[str]] = defaultdict(list)
    tagged = (
        select(ticket_tags.c.ticket_id, Tag.name)
        .join(Tag, Tag.id == ticket_tags.c.tag_id)
        .where(ticket_tags.c.ticket_id.in_(ticket_ids))
        .order_by(Tag.name)
    )
    for ticket_id, name in session.execute(tagged):
        tags[ticket_id].append(name)
    return {
        row.id: TicketRow(**row._asdict(), tags=tags[row.id])
        for row in session.execute(select(*_ROW_COLUMNS).where(Ticket.id.in_(ticket_ids)))
    }
