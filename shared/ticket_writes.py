"""The SQL of a change to a ticket's own rows: its columns, tags, custom values and SLA pauses.

One copy for every writer (the API's updates, rules' actions); reads are in `shared.ticket_rows`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.orm.util import identity_key

from shared.custom_values import stored_columns
from shared.db import insert_ignoring_duplicates
from shared.models import SlaPause, Tag, Ticket, TicketComment, ticket_custom_values, ticket_tags
from shared.models.base import table_of
from shared.prepared import Prepared
from shared.reference_cache import CustomFieldRecord

_TAG_NAMED = Prepared(select(Tag.id).where(Tag.name == bindparam("name")))
_INSERT_TICKET_TAG = Prepared(insert(ticket_tags), columns=("ticket_id", "tag_id"))
_INSERT_COMMENT = insert(table_of(TicketComment)).returning(table_of(TicketComment).c.id)
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


def _tag_id(session: Session, name: str) -> int | None:
    found = _TAG_NAMED.run(session, {"name": name})
    return int(found[0][0]) if found else None


def tag_ids(session: Session, names: Iterable[str]) -> dict[str, int]:
    """The ids of the tags `names`, inserting the missing ones (safe against concurrent inserts).

    A lookup by name per tag: a ticket has a few, and a prepared lookup costs a fifth of one
    statement with an IN list built for the names."""
    found = {name: _tag_id(session, name) for name in dict.fromkeys(names)}
    missing = [name for name, tag_id in found.items() if tag_id is None]
    if missing:  # usually not: tags are a small vocabulary
        insert_ignoring_duplicates(session, Tag, [{"name": name} for name in missing])
        found |= {name: _tag_id(session, name) for name in missing}
    ids = {name: tag_id for name, tag_id in found.items() if tag_id is not None}
    assert len(ids) == len(found), "a tag inserted just now is missing"
    return ids


def add_tags(session: Session, *, ticket_id: int, tag_ids: list[int]) -> None:
    _INSERT_TICKET_TAG.run_many(
        session, [{"ticket_id": ticket_id, "tag_id": tag_id} for tag_id in tag_ids]
    )


def replace_tags(session: Session, *, ticket_id: int, tag_ids: list[int]) -> None:
    session.connection().execute(delete(ticket_tags).where(ticket_tags.c.ticket_id == ticket_id))
    add_tags(session, ticket_id=ticket_id, tag_ids=tag_ids)


def update_ticket_row(
    session: Session, *, ticket_id: int, version: int, values: dict[str, Any]
) -> None:
    """UPDATE the ticket if it is still at `version` (StaleDataError otherwise: a 412).

    ORM-enabled, so a copy of the ticket that this transaction has loaded (another request of
    the same batch) is brought up to date too."""
    result = session.execute(
        update(Ticket)
        .where(Ticket.id == ticket_id, Ticket.version == version)
        .values(**values)
        .execution_options(synchronize_session="fetch")
    )
    if getattr(result, "rowcount", 1) != 1:
        raise StaleDataError(f"ticket {ticket_id} is no longer at version {version}")


def start_sla_pause(session: Session, *, ticket_id: int, at: datetime) -> None:
    session.add(SlaPause(ticket_id=ticket_id, started_at=at))


def end_sla_pause(session: Session, *, ticket_id: int, at: datetime) -> None:
    session.execute(
        update(SlaPause)
        .where(SlaPause.ticket_id == ticket_id, SlaPause.ended_at.is_(None))
        .values(ended_at=at)
    )


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
