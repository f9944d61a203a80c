from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from services.api.schemas import Limit, Offset, TextInput
from shared.models import MailDirection, MailOutcome


class MailFilters(TextInput):
    outcome: MailOutcome | None = Field(
        default=None,
        description="ticket_created, commented, dropped (auto-replies, bounces, loops) or "
        "quarantined (mail that could not be read).",
    )
    direction: MailDirection | None = None
    limit: Limit = 50
    offset: Offset = 0


class MailPartOut(BaseModel):
    filename: str
    content_type: str
    blob: str = Field(description="Its name in the content-addressed store (ATTACHMENTS_DIR).")
    size: int


class MailMessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    message_id: str
    direction: MailDirection
    outcome: MailOutcome
    reason: str
    from_address: str
    subject: str
    ticket_id: int | None
    comment_id: int | None
    raw_blob: str | None = Field(description="The original message in the content store.")
    parts: list[MailPartOut]
    received_at: datetime
