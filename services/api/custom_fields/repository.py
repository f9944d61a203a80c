"""All SQL about custom field definitions and the values tickets hold."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.orm.util import identity_key

from shared.custom_values import stored_columns
from shared.models import CustomField, Ticket, ticket_custom_values
from shared.prepared import Prepared
from shared.reference_cache import CustomFieldRecord

_VALUES = ticket_custom_values.c
_INSERT_VALUE = Prepared(
    insert(ticket_custom_values),
    columns=("ticket_id", "field_id", "value", "text_value", "number_value", "date_value"),
)
_DELETE_VALUE = Prepared(
    delete(ticket_custom_values).where(
        _VALUES.ticket_id == bindparam("ticket_id"), _VALUES.field_id == bindparam("field_id")
    )
)


def list_fields(session: Session) -> list[CustomField]:
    return list(session.scalars(select(CustomField).order_by(CustomField.key)))


def field_with_key(session: Session, *, key: str) -> int | None:
    return session.scalar(select(CustomField.id).where(CustomField.key == key))


def write_values(
    session: Session, *, ticket_id: int, values: Iterable[tuple[CustomFieldRecord, Any]]
) -> None:
    """Store each value (None: remove it) of the ticket, in place of what it held."""
    written = list(values)
    if not written:
        return
    _DELETE_VALUE.run_many(
        session, [{"ticket_id": ticket_id, "field_id": field.id} for field, _value in written]
    )
    _INSERT_VALUE.run_many(
        session,
        [
            {"ticket_id": ticket_id, "field_id": field.id, **stored_columns(field, value)}
            for field, value in written
            if value is not None
        ],
    )
    # A copy of the ticket loaded by this transaction (another request of the batch) reads its
    # values again when next asked.
    loaded = session.identity_map.get(identity_key(Ticket, ticket_id))
    if loaded is not None:
        session.expire(loaded, ["custom_values_text"])


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
