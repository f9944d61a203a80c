from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class AttachmentOut(BaseModel):
    id: int
    ticket_id: int
    comment_id: int | None = Field(description="Null for a file on the ticket itself.")
    filename: str
    content_type: str = Field(description="As the uploader declared it (normalised).")
    size: int = Field(description="In bytes.")
    uploaded_by: int | None = Field(description="The uploader's user id; null for the system.")
    source: Literal["api", "mail"]
    created_at: datetime
    content_url: str = Field(description="Where to download the bytes.")
