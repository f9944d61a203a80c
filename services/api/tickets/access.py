"""Who may see and change which ticket. Customers: their own tickets, within narrow limits."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import ColumnElement, true

from shared.errors import Forbidden
from shared.models import Ticket, User

# What a customer may change on their own ticket; status only to close or re-open it.
CUSTOMER_EDITABLE = frozenset({"title", "description", "tags", "status_id"})


def visible_to(viewer: User) -> ColumnElement[bool]:
    """The tickets `viewer` may see, as a WHERE clause."""
    return true() if viewer.role.is_staff else Ticket.requester_id == viewer.id


def own_tickets_only(viewer: User) -> int | None:
    """The requester whose tickets alone `viewer` may see (None: staff see everyone's)."""
    return None if viewer.role.is_staff else viewer.id


def can_see(viewer: User, ticket: Ticket) -> bool:
    return may_see_requester(viewer, ticket.requester_id)


def may_see_requester(viewer: User, requester_id: int) -> bool:
    """Whether `viewer` may see the tickets of this requester (staff: everyone's)."""
    return viewer.role.is_staff or requester_id == viewer.id


def ensure_may_create(actor: User, *, requester_id: int, assignee_id: int | None) -> None:
    if actor.role.is_staff:
        return
    if requester_id != actor.id:
        raise Forbidden("customers create tickets for themselves only", field="user_id")
    if assignee_id is not None:
        raise Forbidden("customers cannot assign tickets", field="assigned_to")


def ensure_may_choose_priority(
    actor: User, *, priority_rank: int, most_urgent_rank: int, is_default: bool
) -> None:
    """Customers say how urgent their new ticket is, but not at the most urgent level
    (Critical in the sample data): only staff may, as only staff may change a ticket's priority
    later. The desk's default priority is never refused."""
    if actor.role.is_staff or is_default:
        return
    if priority_rank <= most_urgent_rank:
        raise Forbidden(
            "customers cannot open a ticket at the most urgent priority; an agent raises it "
            "when needed",
            field="priority_id",
        )


class StatusFacts(Protocol):
    """What the rules need to know of a status (a row or its cached record)."""

    @property
    def id(self) -> int: ...

    @property
    def is_closed(self) -> bool: ...


def ensure_may_update(
    actor: User,
    *,
    current_status: StatusFacts,
    fields: set[str],
    new_status: StatusFacts | None,
    reopen_status_id: int,
) -> None:
    if actor.role.is_staff:
        return
    forbidden = sorted(fields - CUSTOMER_EDITABLE)
    if forbidden:
        raise Forbidden(f"customers cannot change {', '.join(forbidden)}", field=forbidden[0])
    if new_status is None or new_status.id == current_status.id:
        return
    closing = new_status.is_closed
    reopening = current_status.is_closed and new_status.id == reopen_status_id
    if not (closing or reopening):
        raise Forbidden(
            "customers may only close their ticket or re-open a closed one", field="status_id"
        )


def ensure_may_comment(actor: User, *, internal: bool) -> None:
    if internal and not actor.role.is_staff:
        raise Forbidden("customers cannot write internal comments", field="internal")
