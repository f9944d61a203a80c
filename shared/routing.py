"""Automatic assignment: picking an agent from a category's pool, and handing a ticket to them.

Used by the worker (new tickets, escalated tickets left without a human) and by the API
(escalation picks its human at once). A pick locks the pool's row, so concurrent picks for one
category take turns and the round-robin cursor never serves two tickets from one turn (SQLite's
writers are serialised already).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from shared.event_types import Routing
from shared.models import (
    AssignmentPool,
    AssignmentStrategy,
    Status,
    Ticket,
    User,
)
from shared.models.base import table_of
from shared.ticket_changes import FieldChange, record_field_changes


@dataclass(frozen=True)
class Pick:
    pool: AssignmentPool | None
    assignee: User | None


def named_ref(user: User | None) -> dict[str, Any] | None:
    """How a user appears in change records: id and name (as the API's changes do)."""
    return {"id": user.id, "name": user.name} if user is not None else None


def eligible(user: User, *, humans_only: bool) -> bool:
    """Whether a pool member may take a ticket now: active staff (a human, if asked)."""
    return user.active and user.role.is_staff and not (humans_only and user.is_bot)


def _open_counts(session: Session, user_ids: list[int]) -> dict[int, int]:
    open_statuses = select(Status.id).where(Status.is_closed.is_(False))
    rows = session.execute(
        select(Ticket.assignee_id, func.count())
        .where(Ticket.assignee_id.in_(user_ids), Ticket.status_id.in_(open_statuses))
        .group_by(Ticket.assignee_id)
    ).all()
    return {user_id: int(count) for user_id, count in rows if user_id is not None}


def _next_in_turn(candidates: list[User], order: list[int], last: int | None) -> User:
    """The first candidate after `last` in the pool's order, wrapping around."""
    start = order.index(last) + 1 if last in order else 0
    rank = {user_id: (index - start) % len(order) for index, user_id in enumerate(order)}
    return min(candidates, key=lambda user: rank[user.id])


def pick_assignee(session: Session, *, category_id: int, humans_only: bool) -> Pick:
    """Choose the next agent for a ticket of the category and move the pool's cursor.

    The caller's transaction holds the pool's row until it commits, so the cursor moves
    atomically with the assignment it made.
    """
    locked = session.execute(
        select(AssignmentPool.category_id)
        .where(AssignmentPool.category_id == category_id)
        .with_for_update()
    ).first()
    if locked is None:
        return Pick(pool=None, assignee=None)
    pool = session.get(AssignmentPool, category_id, populate_existing=True)
    assert pool is not None
    session.refresh(pool, attribute_names=["members"])
    order = [member.user_id for member in pool.members]
    candidates = [m.user for m in pool.members if eligible(m.user, humans_only=humans_only)]
    if not candidates:
        return Pick(pool=pool, assignee=None)
    if pool.strategy is AssignmentStrategy.LEAST_OPEN:
        load = _open_counts(session, [user.id for user in candidates])
        chosen = min(candidates, key=lambda user: (load.get(user.id, 0), order.index(user.id)))
    else:
        chosen = _next_in_turn(candidates, order, pool.last_assigned_user_id)
    pool.last_assigned_user_id = chosen.id
    session.flush()
    return Pick(pool=pool, assignee=chosen)


def routing_of(pool: AssignmentPool) -> Routing:
    """What events of an automatic assignment carry besides the change: which pool chose."""
    return Routing(category_id=pool.category_id, strategy=str(pool.strategy))


# Built once: the worker runs it for every new ticket, and building it cost more than running it.
_POOL_OF_TICKET = (
    select(table_of(AssignmentPool).c.category_id)
    .join(
        table_of(Ticket), table_of(Ticket).c.category_id == table_of(AssignmentPool).c.category_id
    )
    .where(table_of(Ticket).c.id == bindparam("ticket_id"))
)


def auto_assign(
    session: Session, *, ticket_id: int, humans_only: bool, now: datetime
) -> User | None:
    """Give an unassigned open ticket to its category's pool; the agent chosen, or None when the
    ticket needs nobody (assigned meanwhile, closed, gone) or the pool has nobody to give.

    Recorded like a manual assignment, with the system as the actor: a history row and
    `ticket.assigned`.
    """
    # Most categories have no pool: one indexed lookup settles it before any lock or load
    # (the worker does this for every new ticket).
    pooled = session.connection().execute(_POOL_OF_TICKET, {"ticket_id": ticket_id}).scalar()
    if pooled is None:
        return None
    # Locked first (PostgreSQL): a person assigning the ticket meanwhile waits for us, or we
    # see their assignee and leave it.
    session.execute(select(Ticket.id).where(Ticket.id == ticket_id).with_for_update())
    ticket = session.get(Ticket, ticket_id, populate_existing=True)
    if ticket is None or ticket.assignee_id is not None or ticket.status.is_closed:
        return None
    pick = pick_assignee(session, category_id=ticket.category_id, humans_only=humans_only)
    if pick.pool is None or pick.assignee is None:
        return None
    change = FieldChange("assignee", None, named_ref(pick.assignee))
    ticket.assignee = pick.assignee
    ticket.updated_at = now
    record_field_changes(
        session, ticket, [change], actor=None, at=now, resolved=False, routing=routing_of(pick.pool)
    )
    return pick.assignee
