"""Links between tickets: related, duplicate of, parent of (its child the other side), and
merged into (made by merging only)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from shared.clock import utcnow
from shared.models.base import Base


class LinkKind(StrEnum):
    """How the link's `from` ticket relates to its `to` ticket, as stored."""

    RELATED = "related"
    DUPLICATE_OF = "duplicate_of"
    PARENT_OF = "parent_of"
    MERGED_INTO = "merged_into"


class TicketLink(Base):
    """One link, stored once and listed on both tickets (the `to` side with the inverse kind)."""

    __tablename__ = "ticket_links"
    __table_args__ = (
        UniqueConstraint("from_ticket_id", "to_ticket_id", "kind"),
        CheckConstraint("from_ticket_id <> to_ticket_id", name="not_to_itself"),
        # A ticket is merged once, and has one parent: the database holds the line too.
        Index(
            "ix_ticket_links_one_merge",
            "from_ticket_id",
            unique=True,
            sqlite_where=text("kind = 'merged_into'"),
            postgresql_where=text("kind = 'merged_into'"),
        ),
        Index(
            "ix_ticket_links_one_parent",
            "to_ticket_id",
            unique=True,
            sqlite_where=text("kind = 'parent_of'"),
            postgresql_where=text("kind = 'parent_of'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    from_ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), index=True
    )
    to_ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
