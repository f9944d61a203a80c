"""What the worker keeps: which events it handled, and the latest statistics."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from shared.clock import utcnow
from shared.models.base import Base


class ProcessedEvent(Base):
    """An event the worker has handled; a redelivered copy finds its row and does nothing."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class StatsSnapshot(Base):
    """The statistics as last computed; `/stats` and `/dashboard` serve the newest row."""

    __tablename__ = "stats_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
