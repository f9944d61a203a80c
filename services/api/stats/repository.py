"""The dashboard's SQL: which tickets it lists, chosen by id on indexes."""

from __future__ import annotations

from sqlalchemy import select, union_all
from sqlalchemy.orm import Session

from shared.models import Ticket


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
