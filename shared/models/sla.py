from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base


class SlaPause(Base):
    """A stretch of time a ticket spent in a status that stops the SLA clock."""

    __tablename__ = "sla_pauses"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime]
    # None while the ticket is still paused.
    ended_at: Mapped[datetime | None]
