"""All SQL about followers and CCs: Core statements on ticket_followers and ticket_ccs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
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
) -> bool:
    """Insert the row; False when it is there already (a concurrent request of another process
    added them first: the ticket's row lock does not refresh what its subquery read)."""
    dialect_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = dialect_insert(table).values(
        ticket_id=ticket_id, user_id=user_id, added_by_id=added_by_id, added_at=at
    )
    # RETURNING, not the row count: psycopg reports -1 for an INSERT that did nothing.
    inserted = session.connection().execute(
        statement.on_conflict_do_nothing().returning(table.c.user_id)
    )
    _forget_loaded(session, ticket_id)
    return inserted.first() is not None


def remove(session: Session, table: Table, *, ticket_id: int, user_id: int) -> bool:
    """Delete the row; False when it was not there (removed concurrently)."""
    deleted = session.connection().execute(
        delete(table)
        .where(table.c.ticket_id == ticket_id, table.c.user_id == user_id)
        .returning(table.c.user_id)
    )
    _forget_loaded(session, ticket_id)
    return deleted.first() is not None


def _forget_loaded(session: Session, ticket_id: int) -> None:
    """A copy of the ticket loaded by this transaction (another request of the batch) reads
    its followers and CCs again when next asked."""
    loaded = session.identity_map.get(identity_key(Ticket, ticket_id))
    if loaded is not None:
        session.expire(loaded, ["participants_text"])
