"""A ticket as the API returns it. The event payloads carry the same shape."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.clock import utcnow
from shared.models import Role, SlaStatus, Ticket, TicketComment, User
from shared.sla import status as sla_status_at
from shared.sla_timers import clock_of


class UserRef(BaseModel):
    id: int
    name: str
    email: str
    role: Role


class CategoryRef(BaseModel):
    id: int
    name: str


class PriorityRef(BaseModel):
    id: int
    name: str
    rank: int
    colour: str


class StatusRef(BaseModel):
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
    version: int


def live_sla_status(ticket: Ticket) -> SlaStatus:
    """The SLA state now (at_risk and breached depend on the clock, not only on stored rows)."""
    return sla_status_at(clock_of(ticket), now=utcnow())


def user_ref(user: User) -> UserRef:
    return UserRef(id=user.id, name=user.name, email=user.email, role=user.role)


def ticket_view(ticket: Ticket, *, comment_count: int) -> TicketView:
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
        version=ticket.version,
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


def actor_data(actor: User | None) -> dict[str, Any] | None:
    """Who made a change, as events name them (None: the system)."""
    return user_ref(actor).model_dump(mode="json") if actor else None


def ticket_event_data(
    session: Session,
    ticket: Ticket,
    *,
    actor: User | None,
    comment_count: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An event's `data`: the ticket as staff see it, who acted, and anything specific.
    `comment_count` saves the count query when the caller knows it (a new ticket has none)."""
    if comment_count is None:
        counts = comment_counts(session, ticket_ids=[ticket.id], include_internal=True)
        comment_count = counts.get(ticket.id, 0)
    view = ticket_view(ticket, comment_count=comment_count)
    return {"ticket": view.model_dump(mode="json"), "actor": actor_data(actor), **extra}
