"""Automations in and out: the conditions are time conditions plus `shared.rules` conditions,
the actions `shared.rules` actions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from services.api.schemas import LONG_TEXT, Description, Name, StrictInput
from services.api.triggers.schemas import ActionPlan, Position, TriggerTest
from shared.automations import AutomationConditions
from shared.rules.actions import Action

Actions = Annotated[list[Action], Field(min_length=1, max_length=50), LONG_TEXT]


class AutomationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    position: int
    active: bool
    conditions: dict[str, Any]
    actions: list[dict[str, Any]]
    created_by_id: int
    created_at: datetime
    updated_at: datetime


class AutomationCreate(StrictInput):
    name: Name
    description: Description = ""
    position: Position = 0
    active: bool = True
    conditions: AutomationConditions
    actions: Actions


class AutomationUpdate(StrictInput):
    """Only the fields sent change; conditions and actions are replaced whole."""

    name: Name | None = None
    description: Description | None = None
    position: Position | None = None
    active: bool | None = None
    conditions: AutomationConditions | None = None
    actions: Actions | None = None


class AutomationTest(TriggerTest):
    pass


class AutomationTestOut(BaseModel):
    automation_id: int
    ticket_id: int
    matches: bool = Field(description="Whether the next scan would act on the ticket.")
    time_conditions_hold: bool
    conditions_hold: bool = Field(description="The `all` / `any` conditions, on the ticket now.")
    already_acted: bool = Field(description="It acted on this occurrence already.")
    occurrence: str | None = Field(
        description="The anchor times the time conditions read (one occurrence); null when "
        "they do not hold."
    )
    actions: list[ActionPlan] = Field(description="What it would do; nothing was changed.")


class AutomationFailureOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    automation_id: int
    ticket_id: int | None
    condition_key: str
    error: str
    field: str | None
    created_at: datetime
