from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.models import MailKind, MailStatus


class MailAttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    attempt_number: int
    attempted_at: datetime
    smtp_code: int | None = Field(description="The SMTP reply code; null: no server answered.")
    reply: str = Field(description="The server's reply, or the connection error.")
    duration_ms: int
    next_retry_at: datetime | None


class OutboundMailOut(BaseModel):
    """One message to one recipient, exactly as rendered and sent, and its delivery log."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    ticket_id: int
    event_id: str = Field(description="The event it was mailed for.")
    kind: MailKind
    comment_id: int | None = Field(description="The public reply it carries (kind `reply`).")
    recipient_id: int
    to_address: str
    from_address: str
    reply_to: str = Field(description="local+TKT-042@domain: a reply leads back to the ticket.")
    message_id: str
    in_reply_to: str | None
    references: str
    subject: str
    body_text: str
    body_html: str
    status: MailStatus = Field(description="`pending` (being sent or retried), `sent`, `failed`.")
    attempts: int
    next_attempt_at: datetime | None
    last_reply: str | None = Field(description="The SMTP server's last answer.")
    sent_at: datetime | None
    created_at: datetime
    attempt_log: list[MailAttemptOut]
