from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from services.api.schemas import Colour, Description, Name, SlaHours, StrictInput


class CategoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    sla_hours: float
    active: bool


class CategoryCreate(StrictInput):
    name: Name
    description: Description = ""
    sla_hours: SlaHours
    active: bool = True


class CategoryUpdate(StrictInput):
    name: Name | None = None
    description: Description | None = None
    sla_hours: SlaHours | None = None
    active: bool | None = None


class PriorityOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    rank: int
    sla_hours: float
    colour: str


class PriorityCreate(StrictInput):
    name: Name
    description: Description = ""
    rank: int = Field(ge=1, le=1000, description="1 is the most urgent")
    sla_hours: SlaHours
    colour: Colour


class PriorityUpdate(StrictInput):
    name: Name | None = None
    description: Description | None = None
    rank: int | None = Field(default=None, ge=1, le=1000)
    sla_hours: SlaHours | None = None
    colour: Colour | None = None


class StatusOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    colour: str
    is_closed: bool
    pauses_sla: bool
    position: int


class StatusCreate(StrictInput):
    name: Name
    description: Description = ""
    colour: Colour
    is_closed: bool = False
    pauses_sla: bool = False
    position: int = Field(ge=0, le=1000)


class StatusUpdate(StrictInput):
    name: Name | None = None
    description: Description | None = None
    colour: Colour | None = None
    is_closed: bool | None = None
    pauses_sla: bool | None = None
    position: int | None = Field(default=None, ge=0, le=1000)
