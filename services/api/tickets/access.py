"""Who may see and change which ticket. Customers: their own tickets, within narrow limits."""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from sqlalchemy import ColumnElement, select, true

from shared.errors import Forbidden
from shared.models import Ticket, User, ticket_ccs
from shared.models.participant import parse_participants

# What a customer may change on their own ticket; status only to close or re-open it.
CUSTOMER_EDITABLE = frozenset({"title", "description", "tags", "status_id"})


def customer_tickets(customer_id: ColumnElement[int] | int) -> ColumnElement[bool]:
    """The tickets a customer may see, as a WHERE clause: those they requested and those they
    are copied on (CC)."""
    copied = select(ticket_ccs.c.ticket_id).where(ticket_ccs.c.user_id == customer_id)
    return (Ticket.requester_id == customer_id) | Ticket.id.in_(copied)


def visible_to(viewer: User) -> ColumnElement[bool]:
    """The tickets `viewer` may see, as a WHERE clause."""
    return true() if viewer.role.is_staff else customer_tickets(viewer.id)


def own_tickets_only(viewer: User) -> int | None:
    """The customer whose tickets (requested or copied on) alone `viewer` may see (None: staff
    see everyone's); `customer_tickets` is the condition."""
    return None if viewer.role.is_staff else viewer.id


def can_see(viewer: User, ticket: Ticket) -> bool:
    """Whether `viewer` may see an ORM-loaded ticket (its CCs ride on its row)."""
    if viewer.role.is_staff or ticket.requester_id == viewer.id:
        return True
    _followers, cc_ids = parse_participants(ticket.participants_text)
    return viewer.id in cc_ids


def may_see_requester(viewer: User, requester_id: int) -> bool:
    """Whether `viewer` may see the tickets of this requester (staff: everyone's); a CC's
    access is `may_see`'s."""
    return viewer.role.is_staff or requester_id == viewer.id


def may_see(viewer: User, *, requester_id: int, cc_ids: Collection[int]) -> bool:
    """Whether `viewer` may see a ticket of this requester copied to these customers."""
    return viewer.role.is_staff or requester_id == viewer.id or viewer.id in cc_ids


def ensure_may_edit(actor: User, *, requester_id: int, fields: Collection[str]) -> None:
    """A CC reads the ticket and replies on it; changing it stays its requester's and staff's."""
    if actor.role.is_staff or requester_id == actor.id or not fields:
        return
    first = sorted(fields)[0]
    raise Forbidden(
        "a customer copied on a ticket (CC) cannot change it: only its requester and staff can",
        field=first,
    )


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
