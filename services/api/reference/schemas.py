from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from services.api.schemas import Colour, Description, Id, Name, SlaHours, StrictInput

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ClockTime = Annotated[str, StringConstraints(pattern=r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$")]
OpeningSpan = tuple[ClockTime, ClockTime]
CALENDAR_ID_DESCRIPTION = "A business-hours calendar the SLA targets count in (none: 24x7)"


def _check_weekly_hours(
    weekly: dict[Weekday, list[OpeningSpan]] | None,
) -> dict[Weekday, list[OpeningSpan]] | None:
    """Spans run forward within a day ("24:00" or "00:00" closes at midnight), without
    overlapping, and the week opens at least once."""
    if weekly is None:
        return None
    normalised: dict[Weekday, list[OpeningSpan]] = {}
    for day, spans in weekly.items():
        ordered = sorted(
            (opens, "00:00" if closes == "24:00" else closes) for opens, closes in spans
        )
        previous_close = "00:00"
        for opens, closes in ordered:
            closes_at = "24:00" if closes == "00:00" else closes
            if opens == "24:00" or opens >= closes_at or opens < previous_close:
                raise ValueError(f"{day}: {opens}-{closes} is empty or overlaps another span")
            previous_close = closes_at
        if ordered:
            normalised[day] = ordered
    if not normalised:
        raise ValueError("a calendar must be open at some time of the week")
    return normalised


def _check_timezone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


class CalendarOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    timezone: str
    weekly_hours: dict[Weekday, list[tuple[str, str]]]
    holidays: list[date]


class CalendarCreate(StrictInput):
    name: Name
    timezone: str = Field(max_length=64, description='An IANA zone, "Europe/Paris"')
    weekly_hours: dict[Weekday, list[OpeningSpan]] = Field(
        description='Opening spans per weekday: {"mon": [["09:00", "17:00"]], ...}'
    )
    holidays: list[date] = Field(default_factory=list, max_length=1000)

    _weekly = field_validator("weekly_hours")(_check_weekly_hours)
    _zone = field_validator("timezone")(_check_timezone)


class CalendarUpdate(StrictInput):
    name: Name | None = None
    timezone: str | None = Field(default=None, max_length=64)
    weekly_hours: dict[Weekday, list[OpeningSpan]] | None = None
    holidays: list[date] | None = Field(default=None, max_length=1000)

    _weekly = field_validator("weekly_hours")(_check_weekly_hours)
    _zone = field_validator("timezone")(_check_timezone)


class CategoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    sla_hours: float
    active: bool
    calendar_id: int | None


class CategoryCreate(StrictInput):
    name: Name
    description: Description = ""
    sla_hours: SlaHours
    active: bool = True
    calendar_id: Id | None = Field(default=None, description=CALENDAR_ID_DESCRIPTION)


class CategoryUpdate(StrictInput):
    name: Name | None = None
    description: Description | None = None
    sla_hours: SlaHours | None = None
    active: bool | None = None
    calendar_id: Id | None = Field(default=None, description=CALENDAR_ID_DESCRIPTION)


class PriorityOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    rank: int
    sla_hours: float
    first_response_hours: float | None
    colour: str
    calendar_id: int | None


class PriorityCreate(StrictInput):
    name: Name
    description: Description = ""
    rank: int = Field(ge=1, le=1000, description="1 is the most urgent")
    sla_hours: SlaHours
    first_response_hours: SlaHours | None = None
    colour: Colour
    calendar_id: Id | None = Field(default=None, description=CALENDAR_ID_DESCRIPTION)


class PriorityUpdate(StrictInput):
    name: Name | None = None
    description: Description | None = None
    rank: int | None = Field(default=None, ge=1, le=1000)
    sla_hours: SlaHours | None = None
    first_response_hours: SlaHours | None = None
    colour: Colour | None = None
    calendar_id: Id | None = Field(default=None, description=CALENDAR_ID_DESCRIPTION)


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
