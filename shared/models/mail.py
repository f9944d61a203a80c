"""Mail messages taken in or sent: the record that threads replies and dedupes redeliveries."""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shared.clock import utcnow
from shared.models.base import Base


def _enum(kind: type[StrEnum]) -> Enum:
    return Enum(kind, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])


class MailDirection(StrEnum):
    IN = "in"
    OUT = "out"


class MailOutcome(StrEnum):
    TICKET_CREATED = "ticket_created"
    COMMENTED = "commented"
    DROPPED = "dropped"
    QUARANTINED = "quarantined"
    DUPLICATE = "duplicate"
    SENT = "sent"  # mail out records its own messages so replies to them thread


class MailMessage(Base):
    """One message, in or out. `message_id` is the header without angle brackets; a message
    that came without one is named from the SHA-256 of its bytes, so a redelivery dedupes."""

    __tablename__ = "mail_messages"
    __table_args__ = (
        UniqueConstraint("message_id", "direction", name="uq_mail_messages_message_id_direction"),
        Index("ix_mail_messages_outcome_received_at", "outcome", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(998))
    direction: Mapped[MailDirection] = mapped_column(_enum(MailDirection))
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL"), index=True
    )
    comment_id: Mapped[int | None] = mapped_column(
        ForeignKey("ticket_comments.id", ondelete="SET NULL")
    )
    from_address: Mapped[str] = mapped_column(String(320), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    # The original message in the content-addressed store (shared.blob_store).
    raw_blob: Mapped[str | None] = mapped_column(String(64))
    # The message's attachment parts in the same store: {"filename", "content_type", "blob",
    # "size"} each (kept here until they become the ticket's attachments).
    parts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    outcome: Mapped[MailOutcome] = mapped_column(_enum(MailOutcome))
    reason: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


def derived_message_id(raw: bytes) -> str:
    """The Message-ID of a message that came without one: the SHA-256 of its bytes, so the
    same bytes delivered again are recognised as the same message."""
    return f"{hashlib.sha256(raw).hexdigest()}@sha256.invalid"
