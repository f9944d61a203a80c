"""Routing: who picks up a category's new tickets, and the escalations from bots to humans."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Enum, ForeignKey, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.clock import utcnow
from shared.models.base import Base
from shared.models.user import User


class AssignmentStrategy(StrEnum):
    # The member after the one picked last, in the pool's order.
    ROUND_ROBIN = "round_robin"
    # The member with the fewest open tickets (ties: the pool's order).
    LEAST_OPEN = "least_open"


class AssignmentPool(Base):
    """A category's pool of agents (bots and humans) that its unassigned tickets go to."""

    __tablename__ = "assignment_pools"

    category_id: Mapped[int] = mapped_column(
        ForeignKey("categories.id", ondelete="CASCADE"), primary_key=True
    )
    strategy: Mapped[AssignmentStrategy] = mapped_column(
        Enum(
            AssignmentStrategy,
            native_enum=False,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    # The round-robin cursor: the member picked last. The row is locked while a pick is made,
    # so concurrent workers never hand two tickets to the same turn.
    last_assigned_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    members: Mapped[list[AssignmentPoolMember]] = relationship(
        lazy="selectin",
        order_by="AssignmentPoolMember.position",
        cascade="all, delete-orphan",
    )


class AssignmentPoolMember(Base):
    __tablename__ = "assignment_pool_members"

    category_id: Mapped[int] = mapped_column(
        ForeignKey("assignment_pools.category_id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    # The pool's order: round robin walks it, least_open breaks ties by it.
    position: Mapped[int] = mapped_column(Integer)

    user: Mapped[User] = relationship(lazy="joined")


class TicketEscalation(Base):
    """One escalation of a ticket from a bot (or nobody) to a human; statistics count these."""

    __tablename__ = "ticket_escalations"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # Who held the ticket before (a bot, or None) and the human it went to (None: nobody free).
    from_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    to_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text)
    escalated_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
