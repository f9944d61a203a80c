from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.clock import utcnow
from shared.models.automation import Automation
from shared.models.base import Base
from shared.models.trigger import Trigger
from shared.models.user import User


class TicketHistory(Base):
    """One row per change to a ticket: creation, each changed field, each comment."""

    __tablename__ = "ticket_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    # None when the system made the change (an SLA breach found by the worker).
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Set when a trigger made the change (actor_id is None then).
    actor_trigger_id: Mapped[int | None] = mapped_column(
        ForeignKey("triggers.id", ondelete="SET NULL")
    )
    # Set when an automation made the change (actor_id is None then).
    actor_automation_id: Mapped[int | None] = mapped_column(
        ForeignKey("automations.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    field: Mapped[str] = mapped_column(String(50))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    # Rows about internal comments are hidden from customers like the comments themselves.
    is_internal: Mapped[bool] = mapped_column(Boolean, default=False)

    actor: Mapped[User | None] = relationship(lazy="joined")
    actor_trigger: Mapped[Trigger | None] = relationship(lazy="joined")
    actor_automation: Mapped[Automation | None] = relationship(lazy="joined")
