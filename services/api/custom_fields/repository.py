"""All SQL about custom field definitions and the values tickets hold."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from shared.custom_values import stored_columns
from shared.models import CustomField, Ticket, ticket_custom_values
from shared.reference_cache import CustomFieldRecord
from shared.ticket_writes import write_values as write_values

_VALUES = ticket_custom_values.c


def list_fields(session: Session) -> list[CustomField]:
    return list(session.scalars(select(CustomField).order_by(CustomField.key)))


def field_with_key(session: Session, *, key: str) -> int | None:
    return session.scalar(select(CustomField.id).where(CustomField.key == key))


def tickets_with_values(session: Session, *, field_id: int) -> int:
    query = select(func.count()).select_from(ticket_custom_values)
    return session.scalar(query.where(_VALUES.field_id == field_id)) or 0


def stored_values(session: Session, *, field_id: int) -> list[tuple[int, Any]]:
    """(ticket id, value) of every value of the field."""
    query = select(_VALUES.ticket_id, _VALUES.value).where(_VALUES.field_id == field_id)
    return [(ticket_id, orjson.loads(value)) for ticket_id, value in session.execute(query)]


def replace_value(
    session: Session, *, field: CustomFieldRecord, ticket_id: int, value: Any
) -> None:
    session.execute(
        update(ticket_custom_values)
        .where(_VALUES.ticket_id == ticket_id, _VALUES.field_id == field.id)
        .values(**stored_columns(field, value))
    )


def touch_ticket(session: Session, *, ticket_id: int, version: int, at: datetime) -> None:
    """A new version of the ticket (its value changed), if it is still at `version`
    (StaleDataError otherwise: a 412)."""
    result = session.execute(
        update(Ticket)
        .where(Ticket.id == ticket_id, Ticket.version == version)
        .values(version=version + 1, updated_at=at)
        .execution_options(synchronize_session="fetch")
    )
    if getattr(result, "rowcount", 1) != 1:
        raise StaleDataError(f"ticket {ticket_id} is no longer at version {version}")
