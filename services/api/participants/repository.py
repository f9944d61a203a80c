"""All SQL about followers and CCs: Core statements on ticket_followers and ticket_ccs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from shared.models import Ticket


def entries(session: Session, table: Table, *, ticket_id: int) -> list[Any]:
    """The ticket's rows (user_id, added_by_id, added_at), first added first."""
    query = (
        select(table.c.user_id, table.c.added_by_id, table.c.added_at)
        .where(table.c.ticket_id == ticket_id)
        .order_by(table.c.added_at, table.c.user_id)
    )
    return list(session.connection().execute(query))


def entry(session: Session, table: Table, *, ticket_id: int, user_id: int) -> Any | None:
    query = select(table.c.user_id, table.c.added_by_id, table.c.added_at).where(
        table.c.ticket_id == ticket_id, table.c.user_id == user_id
    )
    return session.connection().execute(query).first()


def add(
    session: Session, table: Table, *, ticket_id: int, user_id: int, added_by_id: int, at: datetime
) -> None:
    session.connection().execute(
        insert(table).values(
            ticket_id=ticket_id, user_id=user_id, added_by_id=added_by_id, added_at=at
        )
    )
    _forget_loaded(session, ticket_id)


def remove(session: Session, table: Table, *, ticket_id: int, user_id: int) -> None:
    session.connection().execute(
        delete(table).where(table.c.ticket_id == ticket_id, table.c.user_id == user_id)
    )
    _forget_loaded(session, ticket_id)


def _forget_loaded(session: Session, ticket_id: int) -> None:
    """A copy of the ticket loaded by this transaction (another request of the batch) reads
    its followers and CCs again when next asked."""
    loaded = session.identity_map.get(identity_key(Ticket, ticket_id))
    if loaded is not None:
        session.expire(loaded, ["participants_text"])
