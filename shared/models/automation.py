"""Automations: time-based rules a beat scan runs, the marks of what they did, their failures."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shared.clock import utcnow
from shared.models.base import Base


class Automation(Base):
    """Time conditions (hours since / until a ticket's times) and ordinary conditions →
    actions. Conditions and actions are the JSON of `shared.rules` models, validated when
    saved; `position` orders the automations of one scan."""

    __tablename__ = "automations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0, index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # {"time": [...], "all": [...], "any": [...]}: `time` all hold, then the trigger conditions.
    conditions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # The admin who saved it first: the author of the comments its actions add.
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AutomationFiring(Base):
    """An automation acted on a ticket for one occurrence of its condition (`condition_key`:
    the anchor times its conditions read). Inserted in the transaction of the actions, so a
    second scanner or a restarted one never acts twice on the same occurrence."""

    __tablename__ = "automation_firings"
    __table_args__ = (UniqueConstraint("automation_id", "ticket_id", "condition_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    automation_id: Mapped[int] = mapped_column(ForeignKey("automations.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    condition_key: Mapped[str] = mapped_column(String(200))
    fired_at: Mapped[datetime] = mapped_column(default=utcnow)


class AutomationFailure(Base):
    """An automation whose conditions held for a ticket but could not act (rolled back)."""

    __tablename__ = "automation_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    automation_id: Mapped[int] = mapped_column(
        ForeignKey("automations.id", ondelete="CASCADE"), index=True
    )
    ticket_id: Mapped[int | None] = mapped_column(Integer)
    condition_key: Mapped[str] = mapped_column(String(200))
    error: Mapped[str] = mapped_column(Text)
    field: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
