"""Followers and CCs in and out."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from services.api.schemas import Id, StrictInput
from shared.ticket_view import PersonRef


class FollowerAdd(StrictInput):
    user_id: Id | None = Field(
        default=None, description="The agent or admin to add; defaults to the caller."
    )


class CcAdd(StrictInput):
    user_id: Id = Field(description="The customer to copy on the ticket (not its requester).")


class ParticipantOut(BaseModel):
    """A follower or CC of a ticket: who, who added them and when."""

    ticket_id: int
    user: PersonRef
    added_by: PersonRef | None = Field(description="Who added them; null for the system.")
    added_at: datetime


class ParticipantRemoved(BaseModel):
    """What an MCP removal answers (REST answers 204)."""

    ticket_id: int
    user_id: int
    removed: bool = True
