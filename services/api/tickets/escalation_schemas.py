from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from services.api.comments.schemas import CommentOut
from services.api.schemas import LONG_TEXT, Id, StrictInput
from shared.ticket_view import TicketView, UserRef

MAX_REASON_LENGTH = 5_000

Reason = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_REASON_LENGTH),
    LONG_TEXT,
]


class EscalationRequest(StrictInput):
    reason: Reason = Field(description="Why a human is needed; kept as an internal comment.")
    priority_id: Id | None = Field(
        default=None,
        description="A more urgent priority to raise the ticket to (never a less urgent one).",
    )


class EscalationOut(BaseModel):
    ticket: TicketView
    escalated_from: UserRef | None = Field(description="The bot that held the ticket, if any.")
    escalated_to: UserRef | None = Field(
        description="The human agent now holding it; null when the pool had nobody to take it."
    )
    comment: CommentOut
    detail: str
