"""Tickets read as plain rows (Core, no ORM object) and turned into views from the reference
cache: the read path of the API and the ticket that the worker's events carry."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, select, true
from sqlalchemy.orm import Session

from shared.models import Tag, Ticket, TicketComment, ticket_tags
from shared.reference_cache import reference_cache
from shared.ticket_view import TicketRow, TicketView, comment_counts, row_view

_ROW_COLUMNS = [
    column for column in Ticket.__table__.columns if column.name in TicketRow.__dataclass_fields__
]
# Tag names cannot hold a comma (the API splits "a,b"), so it separates them here.
_TAG_NAMES = (
    select(func.aggregate_strings(Tag.name, ","))
    .join(ticket_tags, ticket_tags.c.tag_id == Tag.id)
    .where(ticket_tags.c.ticket_id == Ticket.id)
    .scalar_subquery()
)


def _row_query(*, comments: ColumnElement[bool]) -> Select[Any]:
    counted = select(func.count()).where(TicketComment.ticket_id == Ticket.id, comments)
    return select(
        *_ROW_COLUMNS, _TAG_NAMES.label("tag_names"), counted.scalar_subquery().label("comments")
    )


# Built once: a statement object keeps its cache key, so each read skips compiling it.
_ONE = Ticket.id == bindparam("ticket_id")
_SOME = Ticket.id.in_(bindparam("ticket_ids", expanding=True))
_WITH_INTERNAL = _row_query(comments=true())
_PUBLIC = _row_query(comments=TicketComment.is_internal.is_(False))
_ROW_WITH_INTERNAL, _ROWS_WITH_INTERNAL = _WITH_INTERNAL.where(_ONE), _WITH_INTERNAL.where(_SOME)
_ROW_PUBLIC, _ROWS_PUBLIC = _PUBLIC.where(_ONE), _PUBLIC.where(_SOME)
_ROW_FOR_UPDATE = select(*_ROW_COLUMNS, _TAG_NAMES.label("tag_names")).where(
    Ticket.id == bindparam("ticket_id")
)


def _as_row(found: Any) -> TicketRow:
    values = found._asdict()
    names = values.pop("tag_names")
    values.pop("comments", None)
    return TicketRow(**values, tags=sorted(names.split(",")) if names else [])


def ticket_row(session: Session, *, ticket_id: int, lock: bool = False) -> TicketRow | None:
    """The ticket's columns and tag names in one plain SELECT, no ORM object. `lock` holds the
    row until the transaction ends (PostgreSQL; SQLite's writers are serialised already)."""
    query = _ROW_FOR_UPDATE.with_for_update() if lock else _ROW_FOR_UPDATE
    found = session.connection().execute(query, {"ticket_id": ticket_id}).first()
    return _as_row(found) if found else None


def ticket_rows(
    session: Session, *, ticket_ids: list[int], include_internal: bool
) -> dict[int, tuple[TicketRow, int]]:
    """Tickets by id with their tag names and comment counts, in one SELECT (pages of lists,
    search hits, the dashboard). Missing ids are simply absent."""
    if not ticket_ids:
        return {}
    query = _ROWS_WITH_INTERNAL if include_internal else _ROWS_PUBLIC
    found = session.connection().execute(query, {"ticket_ids": ticket_ids})
    return {row.id: (_as_row(row), int(row.comments)) for row in found}


def ticket_row_with_comment_count(
    session: Session, *, ticket_id: int, include_internal: bool
) -> tuple[TicketRow, int] | None:
    """The ticket's row, tag names and comment count (internal notes counted for staff) in
    one SELECT: the read path of a single ticket."""
    query = _ROW_WITH_INTERNAL if include_internal else _ROW_PUBLIC
    found = session.connection().execute(query, {"ticket_id": ticket_id}).first()
    return (_as_row(found), int(found.comments)) if found else None


def row_view_for(
    session: Session, row: TicketRow, *, staff: bool, comment_count: int | None = None
) -> TicketView:
    """The ticket as staff (`staff`) or its requester see it, from the reference cache;
    `comment_count` saves the count query when it is known."""
    if comment_count is None:
        counts = comment_counts(session, ticket_ids=[row.id], include_internal=staff)
        comment_count = counts.get(row.id, 0)
    requester = reference_cache.person(session, user_id=row.requester_id)
    assignee = reference_cache.person(session, user_id=row.assignee_id) if row.assignee_id else None
    assert requester is not None  # a foreign key
    return row_view(
        row,
        reference=reference_cache.reference(session),
        requester=requester,
        assignee=assignee,
        comment_count=comment_count,
    )


def staff_views(session: Session, *, ticket_ids: list[int]) -> dict[int, TicketView]:
    """Tickets by id as staff see them, as events carry them: one SELECT for all."""
    rows = ticket_rows(session, ticket_ids=ticket_ids, include_internal=True)
    return {
        ticket_id: row_view_for(session, row, staff=True, comment_count=count)
        for ticket_id, (row, count) in rows.items()
    }
