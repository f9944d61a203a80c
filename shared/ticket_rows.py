"""Tickets read as plain rows (Core, no ORM object) and turned into views from the reference
cache: the read path of the API and the ticket that the worker's events carry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, select, true
from sqlalchemy.orm import Session

from shared.custom_values import parse_values
from shared.models import Tag, Ticket, TicketComment, ticket_tags
from shared.models.participant import parse_participants, participants_of
from shared.models.ticket import custom_values_of
from shared.prepared import Prepared
from shared.reference_cache import UserRecord, reference_cache
from shared.ticket_view import TicketRow, TicketView, comment_counts, row_view

# In the dataclass's field order, so a row builds a TicketRow by position (no dict per row).
_ROW_COLUMNS = [
    Ticket.__table__.c[name]
    for name in TicketRow.__dataclass_fields__
    if name not in ("tags", "custom_values", "follower_ids", "cc_ids")
]
_TAG_NAMES_AT = len(_ROW_COLUMNS)
_CUSTOM_VALUES_AT = _TAG_NAMES_AT + 1
_PARTICIPANTS_AT = _TAG_NAMES_AT + 2
_COMMENTS_AT = _TAG_NAMES_AT + 3
# Tag names cannot hold a comma (the API splits "a,b"), so it separates them here.
_TAG_NAMES = (
    select(func.aggregate_strings(Tag.name, ","))
    .join(ticket_tags, ticket_tags.c.tag_id == Tag.id)
    .where(ticket_tags.c.ticket_id == Ticket.id)
    .scalar_subquery()
)
# A ticket's custom values ride on its row: a ticket without any costs no statement, a page
# of tickets none per ticket.
_CUSTOM_VALUES = custom_values_of(Ticket.id)
# Followers and CCs too: one subquery, nothing but two index probes for a ticket without any.
_PARTICIPANTS = participants_of(Ticket.id)


def _row_query(*, comments: ColumnElement[bool]) -> Select[Any]:
    counted = select(func.count()).where(TicketComment.ticket_id == Ticket.id, comments)
    return select(
        *_ROW_COLUMNS,
        _TAG_NAMES.label("tag_names"),
        _CUSTOM_VALUES.label("custom_values"),
        _PARTICIPANTS.label("participants"),
        counted.scalar_subquery().label("comments"),
    )


# Built once: a statement object keeps its cache key, so each read skips compiling it; the
# reads of one ticket are prepared (compiled once, run on the driver's cursor).
_ONE = Ticket.id == bindparam("ticket_id")
_SOME = Ticket.id.in_(bindparam("ticket_ids", expanding=True))
_WITH_INTERNAL = _row_query(comments=true())
_PUBLIC = _row_query(comments=TicketComment.is_internal.is_(False))
_ROWS_WITH_INTERNAL, _ROWS_PUBLIC = _WITH_INTERNAL.where(_SOME), _PUBLIC.where(_SOME)
_ROW_WITH_INTERNAL = Prepared(_WITH_INTERNAL.where(_ONE))
_ROW_PUBLIC = Prepared(_PUBLIC.where(_ONE))
_ROW_ALONE = select(
    *_ROW_COLUMNS,
    _TAG_NAMES.label("tag_names"),
    _CUSTOM_VALUES.label("custom_values"),
    _PARTICIPANTS.label("participants"),
).where(_ONE)
_ROW, _ROW_FOR_UPDATE = Prepared(_ROW_ALONE), Prepared(_ROW_ALONE.with_for_update())


def _as_row(found: Any) -> TicketRow:
    names = found[_TAG_NAMES_AT]
    tags = sorted(names.split(",")) if names else []
    follower_ids, cc_ids = parse_participants(found[_PARTICIPANTS_AT])
    values = parse_values(found[_CUSTOM_VALUES_AT])
    return TicketRow(*[*found[:_TAG_NAMES_AT], tags, values, follower_ids, cc_ids])


def ticket_row(session: Session, *, ticket_id: int, lock: bool = False) -> TicketRow | None:
    """The ticket's columns and tag names in one plain SELECT, no ORM object. `lock` holds the
    row until the transaction ends (PostgreSQL; SQLite's writers are serialised already)."""
    found = (_ROW_FOR_UPDATE if lock else _ROW).run(session, {"ticket_id": ticket_id})
    return _as_row(found[0]) if found else None


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


@dataclass(frozen=True)
class TicketFacts:
    """What rules' conditions read of a ticket (shared.rules.conditions.RuleTicket)."""

    id: int
    title: str
    description: str
    requester_id: int
    assignee_id: int | None
    category_id: int
    priority_id: int
    status_id: int
    tags: list[str]
    custom_values: dict[int, Any]

    @classmethod
    def of(cls, row: Any) -> TicketFacts:
        """The facts of a TicketRow (or of facts: the same)."""
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})


_FACT_COLUMNS = [
    Ticket.__table__.c[name]
    for name in TicketFacts.__dataclass_fields__
    if name not in ("tags", "custom_values")
]
# No times, no participants, no comment count: the worker reads this for every event of a
# batch when triggers are active, and most match nothing.
_FACTS = select(
    *_FACT_COLUMNS, _TAG_NAMES.label("tag_names"), _CUSTOM_VALUES.label("custom_values")
).where(_SOME)
_FACT_TAGS_AT = len(_FACT_COLUMNS)
_FACT_NAMES = [column.name for column in _FACT_COLUMNS]


def ticket_facts(session: Session, *, ticket_ids: list[int]) -> dict[int, TicketFacts]:
    """Tickets by id as rules' conditions read them, in one SELECT; missing ids are absent."""
    if not ticket_ids:
        return {}
    found = session.connection().execute(_FACTS, {"ticket_ids": ticket_ids})
    facts: dict[int, TicketFacts] = {}
    for row in found:
        names = row[_FACT_TAGS_AT]
        tags = sorted(names.split(",")) if names else []
        values = parse_values(row[_FACT_TAGS_AT + 1])
        columns = dict(zip(_FACT_NAMES, row[:_FACT_TAGS_AT], strict=True))
        facts[int(row[0])] = TicketFacts(**columns, tags=tags, custom_values=values)
    return facts


def ticket_row_with_comment_count(
    session: Session, *, ticket_id: int, include_internal: bool
) -> tuple[TicketRow, int] | None:
    """The ticket's row, tag names and comment count (internal notes counted for staff) in
    one SELECT: the read path of a single ticket."""
    query = _ROW_WITH_INTERNAL if include_internal else _ROW_PUBLIC
    found = query.run(session, {"ticket_id": ticket_id})
    return (_as_row(found[0]), int(found[0][_COMMENTS_AT])) if found else None


def row_view_for(
    session: Session, row: TicketRow, *, staff: bool, comment_count: int | None = None
) -> TicketView:
    """The ticket as staff (`staff`) or its requester see it, from the reference cache;
    `comment_count` saves the count query when it is known."""
    if comment_count is None:
        counts = comment_counts(session, ticket_ids=[row.id], include_internal=staff)
        comment_count = counts.get(row.id, 0)
    return row_views(session, {row.id: (row, comment_count)}, staff=staff)[row.id]


def row_views(
    session: Session, rows: dict[int, tuple[TicketRow, int]], *, staff: bool
) -> dict[int, TicketView]:
    """Views of rows read with their comment counts: the reference data and each person
    looked up once for the lot, not once per row."""
    reference = reference_cache.reference(session)
    people: dict[int, UserRecord] = {}
    for row, _count in rows.values():
        wanted = (row.requester_id, row.assignee_id, *row.cc_ids)
        for user_id in (*wanted, *row.follower_ids) if staff else wanted:
            if user_id is not None and user_id not in people:
                person = reference_cache.person(session, user_id=user_id)
                assert person is not None  # a foreign key
                people[user_id] = person
    return {
        ticket_id: row_view(
            row,
            reference=reference,
            staff=staff,
            requester=people[row.requester_id],
            assignee=people[row.assignee_id] if row.assignee_id is not None else None,
            comment_count=count,
            people=people,
        )
        for ticket_id, (row, count) in rows.items()
    }


def staff_views(session: Session, *, ticket_ids: list[int]) -> dict[int, TicketView]:
    """Tickets by id as staff see them, as events carry them: one SELECT for all."""
    rows = ticket_rows(session, ticket_ids=ticket_ids, include_internal=True)
    return row_views(session, rows, staff=True)
