from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from shared.clock import utcnow
from shared.models.base import Base


class OutboxEvent(Base):
    """An event written in the same transaction as the change it describes, until published."""

    __tablename__ = "outbox"
    __table_args__ = (
        # The relay scans only the unpublished rows, oldest first.
        Index(
            "ix_outbox_unpublished",
            "id",
            sqlite_where=text("published_at IS NULL"),
            postgresql_where=text("published_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(40), unique=True)
    event_type: Mapped[str] = mapped_column(String(50))
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL"), index=True
    )
    # The whole envelope as JSON text, exactly as it is published.
    payload: Mapped[str] = mapped_column(Text)
    # Indexed: the reconciler finds where its retention window starts.
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # When last sent to Redis (the reconciler sends again what no consumer acknowledged).
    published_at: Mapped[datetime | None]
