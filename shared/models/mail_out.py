"""Mail sent to requesters and CCs (replies, resolutions, acknowledgements), every attempt to
send it, and the templates admins edited."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.clock import utcnow
from shared.models.base import Base


class MailKind(StrEnum):
    ACKNOWLEDGEMENT = "acknowledgement"
    REPLY = "reply"
    RESOLUTION = "resolution"


class MailStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


def _enum(kind: type[StrEnum]) -> Enum:
    return Enum(kind, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])


class OutboundMail(Base):
    """One message to one recipient, rendered when the worker handled its event: what was sent
    is what the log shows."""

    __tablename__ = "outbound_mail"
    __table_args__ = (
        # One message per (event, recipient): a redelivered event records nothing twice.
        UniqueConstraint("event_id", "recipient_id"),
        # The sender's scan: pending messages by due time.
        Index(
            "ix_outbound_mail_due",
            "next_attempt_at",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[str] = mapped_column(String(40))
    kind: Mapped[MailKind] = mapped_column(_enum(MailKind))
    # The comment a reply carries.
    comment_id: Mapped[int | None] = mapped_column(
        ForeignKey("ticket_comments.id", ondelete="SET NULL")
    )
    recipient_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    to_address: Mapped[str] = mapped_column(String(254))
    from_address: Mapped[str] = mapped_column(String(320))
    reply_to: Mapped[str] = mapped_column(String(254))
    # Unique and indexed: inbound mail finds the ticket a reply answers by its In-Reply-To.
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(255))
    references: Mapped[str] = mapped_column(Text, default="")
    auto_submitted: Mapped[bool] = mapped_column(Boolean, default=False)
    subject: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    status: Mapped[MailStatus] = mapped_column(_enum(MailStatus), default=MailStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    # A worker sending the message holds it until then; after that (a crash) it is free.
    claimed_until: Mapped[datetime | None]
    # The SMTP server's last answer ("250 2.0.0 Ok") or the connection error.
    last_reply: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    attempt_log: Mapped[list[OutboundMailAttempt]] = relationship(
        order_by="OutboundMailAttempt.attempt_number", lazy="selectin", cascade="all, delete-orphan"
    )


class OutboundMailAttempt(Base):
    __tablename__ = "outbound_mail_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    mail_id: Mapped[int] = mapped_column(
        ForeignKey("outbound_mail.id", ondelete="CASCADE"), index=True
    )
    attempt_number: Mapped[int]
    attempted_at: Mapped[datetime]
    # The SMTP reply code; None when no server answered (refused, timed out).
    smtp_code: Mapped[int | None]
    reply: Mapped[str] = mapped_column(Text)
    duration_ms: Mapped[int]
    next_retry_at: Mapped[datetime | None]


class MailTemplate(Base):
    """An admin's version of one of the shipped templates (no row: the default)."""

    __tablename__ = "mail_templates"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    subject: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
