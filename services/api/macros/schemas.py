"""Macros in and out: the actions are `shared.rules` models, as a trigger's are."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.api.comments.schemas import CommentOut
from services.api.schemas import LONG_TEXT, Description, Name, StrictInput
from shared.rules.actions import Action
from shared.ticket_view import TicketView

Actions = Annotated[
    list[Action],
    Field(
        min_length=1,
        max_length=50,
        description="What the macro does, in order, as a trigger's actions (not "
        "send_to_webhook: a macro acts on no event).",
    ),
    LONG_TEXT,
]


class MacroOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    actions: list[dict[str, Any]]
    owner_id: int | None = Field(description="null: a shared macro; else the agent whose it is.")
    shared: bool
    active: bool
    usage_count: int = Field(description="Tickets it was applied to (previews do not count).")
    last_used_at: datetime | None
    created_by_id: int
    created_at: datetime
    updated_at: datetime


class MacroCreate(StrictInput):
    name: Name
    description: Description = ""
    shared: bool = Field(
        default=False,
        description="true: every agent may use it and only admins change it; false: yours.",
    )
    active: bool = True
    actions: Actions


class MacroUpdate(StrictInput):
    """Only the fields sent change; the actions are replaced whole."""

    name: Name | None = None
    description: Description | None = None
    active: bool | None = None
    actions: Actions | None = None


class MacroFilters(StrictInput):
    scope: Literal["all", "shared", "mine"] = Field(
        default="all", description="shared: the shared macros; mine: your own; all: both."
    )
    active: bool | None = Field(default=None, description="Only active (or inactive) ones.")


class MacroApplied(BaseModel):
    """The ticket after the macro (or as it would be, for a preview) and its comments."""

    macro_id: int
    preview: bool = Field(description="true: nothing was written.")
    changed: bool = Field(description="Whether the macro changed the ticket or added comments.")
    ticket: TicketView
    comments: list[CommentOut] = Field(
        description="The notes and replies added (or that would be)."
    )
