from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AliasChoices, BaseModel, Field, StringConstraints

from services.api.attachments.schemas import AttachmentOut
from services.api.schemas import LONG_TEXT, StrictInput
from shared.ticket_view import UserRef

CommentBody = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000), LONG_TEXT
]


class CommentCreate(StrictInput):
    body: CommentBody
    internal: bool = Field(
        default=False,
        validation_alias=AliasChoices("internal", "is_internal"),
        description="An agents-only note, never shown to the customer.",
    )


class CommentOut(BaseModel):
    id: int
    ticket_id: int
    author: UserRef
    body: str
    internal: bool
    created_at: datetime
    attachments: list[AttachmentOut] = Field(
        default_factory=list, description="The files on this comment (upload them separately)."
    )
