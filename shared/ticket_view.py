"""A ticket as the API returns it. The event payloads carry the same shape."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from shared.models import Role, SlaStatus, Ticket, User


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
        sla_status=ticket.sla_status,
        sla_breached_at=ticket.sla_breached_at,
        version=ticket.version,
    )


def actor_data(actor: User | None) -> dict[str, Any] | None:
    """Who made a change, as events name them (None: the system)."""
    return user_ref(actor).model_dump(mode="json") if actor else None
