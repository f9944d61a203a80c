"""Triggers in and out: the conditions and actions are `shared.rules` models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.api.schemas import LONG_TEXT, Description, Name, StrictInput
from shared.event_types import EventType
from shared.rules.actions import Action
from shared.rules.conditions import Conditions

Position = Annotated[int, Field(ge=0, le=1_000_000, description="Lower runs first (then id).")]
EventTypes = Annotated[
    list[EventType],
    Field(max_length=20, description="The ticket events it runs on; empty: every ticket event."),
]
Actions = Annotated[list[Action], Field(min_length=1, max_length=50), LONG_TEXT]


class TriggerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    position: int
    active: bool
    event_types: list[str]
    conditions: dict[str, Any]
    actions: list[dict[str, Any]]
    created_by_id: int
    created_at: datetime
    updated_at: datetime


class TriggerCreate(StrictInput):
    name: Name
    description: Description = ""
    position: Position = 0
    active: bool = True
    event_types: EventTypes = Field(default_factory=list)
    conditions: Conditions = Field(default_factory=Conditions)
    actions: Actions


class TriggerUpdate(StrictInput):
    """Only the fields sent change; conditions and actions are replaced whole."""

    name: Name | None = None
    description: Description | None = None
    position: Position | None = None
    active: bool | None = None
    event_types: EventTypes | None = None
    conditions: Conditions | None = None
    actions: Actions | None = None


class TriggerTest(StrictInput):
    ticket: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=40),
        Field(description="The ticket: its id or TKT- number."),
    ]


class ActionPlan(BaseModel):
    kind: str
    would_change: bool = Field(description="false: the ticket already is that way.")
    detail: str


class TriggerTestOut(BaseModel):
    trigger_id: int
    ticket_id: int
    matches: bool = Field(description="Whether its conditions hold for the ticket now.")
    actions: list[ActionPlan] = Field(description="What it would do; nothing was changed.")


class TriggerFailureOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    trigger_id: int
    event_id: str
    ticket_id: int | None
    error: str
    field: str | None
    created_at: datetime
