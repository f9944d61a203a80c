"""Reference data: categories, priority levels and statuses."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shared.clock import utcnow
from shared.models.base import Base


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    sla_hours: Mapped[float]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PriorityLevel(Base):
    __tablename__ = "priority_levels"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # 1 is the most urgent.
    rank: Mapped[int]
    sla_hours: Mapped[float]
    colour: Mapped[str] = mapped_column(String(7))


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
