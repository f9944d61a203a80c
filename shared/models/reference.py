"""Reference data: categories, priority levels and statuses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.clock import utcnow
from shared.models.base import Base


class BusinessCalendar(Base):
    """Opening hours that SLA targets count in, instead of round-the-clock time."""

    __tablename__ = "business_calendars"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    timezone: Mapped[str] = mapped_column(String(64))
    # {"mon": [["09:00", "17:00"]], "tue": [...], ...}; a missing day is closed.
    weekly_hours: Mapped[dict[str, Any]] = mapped_column(JSON)
    # ["2026-12-25", ...]
    holidays: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    sla_hours: Mapped[float]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Business hours for tickets of this category (it wins over the priority's calendar).
    calendar_id: Mapped[int | None] = mapped_column(ForeignKey("business_calendars.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    calendar: Mapped[BusinessCalendar | None] = relationship(lazy="joined")


class PriorityLevel(Base):
    __tablename__ = "priority_levels"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # 1 is the most urgent.
    rank: Mapped[int]
    sla_hours: Mapped[float]
    # None: the DEFAULT_FIRST_RESPONSE_HOURS setting.
    first_response_hours: Mapped[float | None]
    colour: Mapped[str] = mapped_column(String(7))
    calendar_id: Mapped[int | None] = mapped_column(ForeignKey("business_calendars.id"))

    calendar: Mapped[BusinessCalendar | None] = relationship(lazy="joined")


class Status(Base):
    __tablename__ = "statuses"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    colour: Mapped[str] = mapped_column(String(7))
    # A closed ticket has left the backlog (Resolved, Closed).
    is_closed: Mapped[bool] = mapped_column(Boolean, default=False)
    # The SLA clock stops while a ticket sits in this status (Waiting on Customer).
    pauses_sla: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int]
