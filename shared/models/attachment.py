from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from shared.clock import utcnow
from shared.models.base import Base


class Attachment(Base):
    """A file on a ticket (comment_id None) or on one of its comments.

    The bytes live in the content-addressed store (`shared.blob_store`) under `blob`, the
    SHA-256 of the content: the same file attached twice is one file on disk.
    """

    __tablename__ = "attachments"
    __table_args__ = (
        Index("ix_attachments_ticket_id_id", "ticket_id", "id"),
        Index("ix_attachments_comment_id", "comment_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    comment_id: Mapped[int | None] = mapped_column(
        ForeignKey("ticket_comments.id", ondelete="CASCADE")
    )
    # Cleaned: no directories, no control characters, at most FILENAME_MAX_LENGTH characters.
    filename: Mapped[str] = mapped_column(String(255))
    # As the uploader declared it (lower case, no parameters); never what is served as is.
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    blob: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(10))  # "api" | "mail"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
