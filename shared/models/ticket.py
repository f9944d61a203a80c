from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Column,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    cast,
    func,
    select,
)
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship
from sqlalchemy.sql._typing import _ColumnExpressionArgument
from sqlalchemy.sql.elements import ColumnElement

from shared.clock import utcnow
from shared.models.base import Base
from shared.models.custom_field import ticket_custom_values
from shared.models.participant import participants_of
from shared.models.reference import Category, PriorityLevel, Status
from shared.models.user import User

TICKET_NUMBER = re.compile(r"^TKT-0*(\d{1,10})$", re.IGNORECASE | re.ASCII)
TICKET_ID = re.compile(r"^\d{1,10}$", re.ASCII)
# Ids are 32-bit on PostgreSQL: a bigger number names no ticket.
MAX_TICKET_ID = 2_147_483_647


def ticket_number(ticket_id: int) -> str:
    """The public number: TKT-001, TKT-002, …, TKT-1000."""
    return f"TKT-{ticket_id:03d}"


# A ticket's custom values in one text, read with its row (no statement of their own):
# "<field id>:<JSON value>" per value, one a line (JSON text holds no raw line break).
CUSTOM_VALUE_SEPARATOR = "\n"


def custom_values_of(ticket_id: _ColumnExpressionArgument[int]) -> ColumnElement[str | None]:
    """The scalar subquery of the custom values of the ticket `ticket_id` names."""
    values = ticket_custom_values.c
    entry = cast(values.field_id, String) + ":" + values.value
    return (
        select(func.aggregate_strings(entry, CUSTOM_VALUE_SEPARATOR))
        .where(values.ticket_id == ticket_id)
        .scalar_subquery()
    )


def parse_ticket_ref(ref: str) -> int | None:
    """A numeric id or a TKT-… number, as an id; None if it is neither."""
    match = TICKET_ID.fullmatch(ref) or TICKET_NUMBER.fullmatch(ref)
    if match is None:
        return None
    ticket_id = int(match.group(match.lastindex or 0))
    return ticket_id if 0 < ticket_id <= MAX_TICKET_ID else None


class SlaStatus(StrEnum):
    PENDING = "pending"
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    BREACHED = "breached"
    MET = "met"


ticket_tags = Table(
    "ticket_tags",
    Base.metadata,
    Column("ticket_id", ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        # The default list order (newest first) within the filters agents use most.
        Index("ix_tickets_status_priority_created", "status_id", "priority_id", "created_at"),
        Index("ix_tickets_created_at", "created_at"),
        Index("ix_tickets_resolution_due_at", "resolution_due_at"),
        # The dashboard's "due soon": the nearest due times of each running status.
        Index("ix_tickets_status_resolution_due", "status_id", "resolution_due_at"),
        Index("ix_tickets_first_response_due_at", "first_response_due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    priority_id: Mapped[int] = mapped_column(ForeignKey("priority_levels.id"), index=True)
    status_id: Mapped[int] = mapped_column(ForeignKey("statuses.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the ticket entered its current status (automations count hours from it).
    status_changed_at: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    first_response_due_at: Mapped[datetime | None]
    resolution_due_at: Mapped[datetime | None]
    sla_status: Mapped[SlaStatus] = mapped_column(
        Enum(
            SlaStatus, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]
        ),
        default=SlaStatus.PENDING,
    )
    sla_breached_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)
    custom_values_text: Mapped[str | None] = column_property(custom_values_of(id))
    participants_text: Mapped[str | None] = column_property(participants_of(id))

    requester: Mapped[User] = relationship(foreign_keys=[requester_id], lazy="joined")
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id], lazy="joined")
    category: Mapped[Category] = relationship(lazy="joined")
    priority: Mapped[PriorityLevel] = relationship(lazy="joined")
    status: Mapped[Status] = relationship(lazy="joined")
    tags: Mapped[list[Tag]] = relationship(
        secondary=ticket_tags, lazy="selectin", order_by=Tag.name
    )

    # SQLAlchemy adds "WHERE version = :old" to every UPDATE, so a concurrent writer that read an
    # older row fails instead of overwriting.
    __mapper_args__ = {"version_id_col": version}

    @property
    def number(self) -> str:
        return ticket_number(self.id)
