"""A ticket as the API returns it. The event payloads carry the same shape."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.clock import utcnow
from shared.custom_values import parse_values, shown_values
from shared.models import Role, SlaStatus, Ticket, TicketComment, User, ticket_number
from shared.models.participant import parse_participants
from shared.reference_cache import (
    CategoryRecord,
    PriorityRecord,
    ReferenceData,
    StatusRecord,
    UserRecord,
    reference_cache,
)
from shared.sla import status as sla_status_at
from shared.sla_timers import clock_of


class UserRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    name: str
    email: str
    role: Role


class PersonRef(BaseModel):
    """A follower or CC: who, without their address."""

    model_config = ConfigDict(frozen=True)

    id: int
    name: str


class CategoryRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    name: str


class PriorityRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    name: str
    rank: int
    colour: str


class StatusRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    name: str
    colour: str
    is_closed: bool


class TicketView(BaseModel):
    id: int
    number: str
    title: str
    description: str
    requester: UserRef
    assignee: UserRef | None
    category: CategoryRef
    priority: PriorityRef
    status: StatusRef
    tags: list[str]
    comment_count: int
    created_at: datetime
    updated_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    first_response_due_at: datetime | None
    resolution_due_at: datetime | None
    sla_status: SlaStatus
    sla_breached_at: datetime | None
    custom_fields: dict[str, Any] = Field(
        description="Custom field values by key (customers see the customer-visible ones)."
    )
    ccs: list[PersonRef] = Field(
        description="Customers copied on the ticket: they see it and its public conversation "
        "as its requester does."
    )
    followers: list[PersonRef] | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="Agents and admins following the ticket (staff only: absent from what "
        "customers see).",
    )
    version: int


def live_sla_status(ticket: Ticket) -> SlaStatus:
    """The SLA state now (at_risk and breached depend on the clock, not only on stored rows)."""
    return sla_status_at(clock_of(ticket, paused=ticket.status.pauses_sla), now=utcnow())


def user_ref(user: User) -> UserRef:
    return UserRef(id=user.id, name=user.name, email=user.email, role=user.role)


def ticket_view(
    ticket: Ticket,
    *,
    comment_count: int,
    custom_fields: dict[str, Any],
    people: tuple[list[PersonRef], list[PersonRef] | None],
) -> TicketView:
    """The view of an ORM-loaded ticket; `people` are its (CCs, followers) as shown."""
    ccs, followers = people
    return TicketView(
        id=ticket.id,
        number=ticket.number,
        title=ticket.title,
        description=ticket.description,
        requester=user_ref(ticket.requester),
        assignee=user_ref(ticket.assignee) if ticket.assignee else None,
        category=CategoryRef(id=ticket.category.id, name=ticket.category.name),
        priority=PriorityRef(
            id=ticket.priority.id,
            name=ticket.priority.name,
            rank=ticket.priority.rank,
            colour=ticket.priority.colour,
        ),
        status=StatusRef(
            id=ticket.status.id,
            name=ticket.status.name,
            colour=ticket.status.colour,
            is_closed=ticket.status.is_closed,
        ),
        tags=sorted(tag.name for tag in ticket.tags),
        comment_count=comment_count,
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
        first_response_at=ticket.first_response_at,
        resolved_at=ticket.resolved_at,
        closed_at=ticket.closed_at,
        first_response_due_at=ticket.first_response_due_at,
        resolution_due_at=ticket.resolution_due_at,
        sla_status=live_sla_status(ticket),
        sla_breached_at=ticket.sla_breached_at,
        custom_fields=custom_fields,
        ccs=ccs,
        followers=followers,
        version=ticket.version,
    )


@dataclass(frozen=True)
class TicketRow:
    """A ticket's own columns and its tags, read with Core (no ORM object)."""

    id: int
    title: str
    description: str
    requester_id: int
    assignee_id: int | None
    category_id: int
    priority_id: int
    status_id: int
    created_at: datetime
    updated_at: datetime
    status_changed_at: datetime | None  # when it entered its status (None: before 0012)
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    first_response_due_at: datetime | None
    resolution_due_at: datetime | None
    sla_status: SlaStatus
    sla_breached_at: datetime | None
    version: int
    tags: list[str]
    custom_values: dict[int, Any]  # by field id, every stored value
    follower_ids: list[int]
    cc_ids: list[int]


def row_view(
    row: TicketRow,
    *,
    reference: ReferenceData,
    staff: bool,
    requester: UserRecord,
    assignee: UserRecord | None,
    comment_count: int,
    people: Mapping[int, UserRecord],
) -> TicketView:
    """The ticket from its row and this process's reference data (no query); `people` holds
    at least its followers and CCs by id."""
    status = reference.statuses[row.status_id]
    clock = clock_of(row, paused=status.pauses_sla)
    return TicketView(
        id=row.id,
        number=ticket_number(row.id),
        title=row.title,
        description=row.description,
        requester=_person(requester),
        assignee=_person(assignee) if assignee else None,
        category=_category_ref(reference.categories[row.category_id]),
        priority=_priority_ref(reference.priorities[row.priority_id]),
        status=_status_ref(status),
        tags=row.tags,
        comment_count=comment_count,
        created_at=row.created_at,
        updated_at=row.updated_at,
        first_response_at=row.first_response_at,
        resolved_at=row.resolved_at,
        closed_at=row.closed_at,
        first_response_due_at=row.first_response_due_at,
        resolution_due_at=row.resolution_due_at,
        sla_status=sla_status_at(clock, now=utcnow()),
        sla_breached_at=row.sla_breached_at,
        custom_fields=shown_values(row.custom_values, reference=reference, staff=staff),
        ccs=[_person_ref(people[user_id]) for user_id in row.cc_ids],
        followers=[_person_ref(people[user_id]) for user_id in row.follower_ids] if staff else None,
        version=row.version,
    )


# The references inside a view, made once per version of the record they show (records are
# frozen, so a changed name or colour is another key) and shared by every view: validating four
# or five small models per ticket was a third of the cost of a page of 50.
@lru_cache(maxsize=4096)
def _person(record: UserRecord) -> UserRef:
    return UserRef(id=record.id, name=record.name, email=record.email, role=record.role)


@lru_cache(maxsize=4096)
def _person_ref(record: UserRecord) -> PersonRef:
    return PersonRef(id=record.id, name=record.name)


@lru_cache(maxsize=512)
def _category_ref(record: CategoryRecord) -> CategoryRef:
    return CategoryRef(id=record.id, name=record.name)


@lru_cache(maxsize=512)
def _priority_ref(record: PriorityRecord) -> PriorityRef:
    return PriorityRef(id=record.id, name=record.name, rank=record.rank, colour=record.colour)


@lru_cache(maxsize=512)
def _status_ref(record: StatusRecord) -> StatusRef:
    return StatusRef(
        id=record.id, name=record.name, colour=record.colour, is_closed=record.is_closed
    )


def new_ticket_view(
    ticket_id: int,
    *,
    title: str,
    description: str,
    requester: UserRecord,
    assignee: UserRecord | None,
    category: CategoryRecord,
    priority: PriorityRecord,
    status: StatusRecord,
    tags: list[str],
    custom_fields: dict[str, Any],
    at: datetime,
) -> TicketView:
    """A ticket just inserted, from what was written (no query): no comments, no SLA yet;
    `custom_fields` as staff see them."""
    return TicketView(
        id=ticket_id,
        number=ticket_number(ticket_id),
        title=title,
        description=description,
        requester=_person(requester),
        assignee=_person(assignee) if assignee else None,
        category=_category_ref(category),
        priority=_priority_ref(priority),
        status=_status_ref(status),
        tags=tags,
        comment_count=0,
        created_at=at,
        updated_at=at,
        first_response_at=None,
        resolved_at=None,
        closed_at=None,
        first_response_due_at=None,
        resolution_due_at=None,
        sla_status=SlaStatus.PENDING,
        sla_breached_at=None,
        custom_fields=custom_fields,
        ccs=[],
        followers=[],
        version=1,
    )


def comment_counts(
    session: Session, *, ticket_ids: Sequence[int], include_internal: bool
) -> dict[int, int]:
    if not ticket_ids:
        return {}
    query = (
        select(TicketComment.ticket_id, func.count())
        .where(TicketComment.ticket_id.in_(ticket_ids))
        .group_by(TicketComment.ticket_id)
    )
    if not include_internal:
        query = query.where(TicketComment.is_internal.is_(False))
    return dict(session.execute(query).all())


def staff_view(session: Session, ticket: Ticket, *, comment_count: int | None = None) -> TicketView:
    """The ticket as staff see it (internal notes counted), as events carry it;
    `comment_count` saves the count query when the caller knows it."""
    if comment_count is None:
        counts = comment_counts(session, ticket_ids=[ticket.id], include_internal=True)
        comment_count = counts.get(ticket.id, 0)
    return ticket_view(
        ticket,
        comment_count=comment_count,
        custom_fields=orm_custom_fields(session, ticket, staff=True),
        people=orm_people(session, ticket, staff=True),
    )


def orm_custom_fields(session: Session, ticket: Ticket, *, staff: bool) -> dict[str, Any]:
    """The custom values of an ORM-loaded ticket as staff (`staff`) or its requester see them."""
    return shown_values(
        parse_values(ticket.custom_values_text),
        reference=reference_cache.reference(session),
        staff=staff,
    )


def people_refs(session: Session, user_ids: Sequence[int]) -> list[PersonRef]:
    """Followers or CCs by id, named from the reference cache."""
    refs = []
    for user_id in user_ids:
        person = reference_cache.person(session, user_id=user_id)
        assert person is not None  # a foreign key
        refs.append(_person_ref(person))
    return refs


def orm_people(
    session: Session, ticket: Ticket, *, staff: bool
) -> tuple[list[PersonRef], list[PersonRef] | None]:
    """The (CCs, followers) of an ORM-loaded ticket as staff (`staff`) or customers see them:
    customers do not see followers."""
    follower_ids, cc_ids = parse_participants(ticket.participants_text)
    followers = people_refs(session, follower_ids) if staff else None
    return people_refs(session, cc_ids), followers
