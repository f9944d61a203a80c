from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, Field, StringConstraints, field_validator

from services.api.schemas import LONG_TEXT, Id, StrictInput, TextInput

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
TicketText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000), LONG_TEXT
]

MAX_TAGS = 20
_TAG = re.compile(r"^[\w][\w .\-]{0,49}$")

TAGS_DESCRIPTION = 'Tags as a list or one comma-separated string ("login,password").'
MAX_CUSTOM_VALUES = 50
CUSTOM_FIELDS_DESCRIPTION = (
    'Custom field values by key ({"order_id": "A-1"}); null clears one (GET /custom-fields).'
)
# Long text values may hold line breaks; every other custom value is checked for them by its type.
CustomValues = Annotated[dict[str, Any], LONG_TEXT]


def normalise_tags(value: Any) -> list[str] | None:
    """Tags arrive as "a,b" or ["a", "b"]; they are stored lowercase, trimmed, without repeats."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
        raise ValueError("tags must be a comma-separated string or a list of strings")
    tags: list[str] = []
    for raw in value:
        tag = raw.strip().lower()
        if not tag or tag in tags:
            continue
        if not _TAG.match(tag):
            raise ValueError(f"tag {raw!r} must be 1-50 letters, digits, spaces, '.', '_' or '-'")
        tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags")
    return tags


class TicketCreate(StrictInput):
    title: Title
    description: TicketText
    user_id: Id | None = Field(
        default=None,
        validation_alias=AliasChoices("user_id", "requester_id"),
        description="The requester. Defaults to the caller; only agents and admins may name "
        "someone else.",
    )
    category_id: Id
    priority_id: Id | None = Field(
        default=None, description="Defaults to the middle of the priority ranking (Medium)."
    )
    assigned_to: Id | None = Field(
        default=None,
        validation_alias=AliasChoices("assigned_to", "assignee_id"),
        description="An agent or admin to assign at once (agents and admins only).",
    )
    tags: list[str] | str | None = Field(default=None, description=TAGS_DESCRIPTION)
    custom_fields: CustomValues | None = Field(
        default=None, max_length=MAX_CUSTOM_VALUES, description=CUSTOM_FIELDS_DESCRIPTION
    )

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> list[str] | None:
        return normalise_tags(value)

    def tag_names(self) -> list[str]:
        return list(self.tags or [])


class TicketUpdate(StrictInput):
    """A partial update: only the fields sent change. `assigned_to: null` unassigns."""

    title: Title | None = None
    description: TicketText | None = None
    status_id: Id | None = None
    priority_id: Id | None = None
    category_id: Id | None = None
    assigned_to: Id | None = Field(
        default=None, validation_alias=AliasChoices("assigned_to", "assignee_id")
    )
    tags: list[str] | str | None = Field(default=None, description=TAGS_DESCRIPTION)
    custom_fields: CustomValues | None = Field(
        default=None, max_length=MAX_CUSTOM_VALUES, description=CUSTOM_FIELDS_DESCRIPTION
    )

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> list[str] | None:
        return normalise_tags(value)

    @field_validator("title", "description", "status_id", "priority_id", "category_id")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be null")
        return value

    def sent_fields(self) -> set[str]:
        """The ticket's own fields sent (custom values have rules of their own)."""
        return set(self.model_fields_set) - {"custom_fields"}


class TicketSort(StrEnum):
    CREATED_AT = "created_at"
    CREATED_AT_DESC = "-created_at"
    UPDATED_AT = "updated_at"
    UPDATED_AT_DESC = "-updated_at"
    PRIORITY = "priority"
    PRIORITY_DESC = "-priority"
    RESOLUTION_DUE_AT = "resolution_due_at"
    RESOLUTION_DUE_AT_DESC = "-resolution_due_at"
    ID = "id"
    ID_DESC = "-id"


class TicketFilterFields(TextInput):
    """What narrows a ticket list or a search."""

    status_id: Id | None = None
    priority_id: Id | None = None
    category_id: Id | None = None
    assigned_to: Id | None = None
    user_id: Id | None = Field(default=None, description="Requester")
    tag: str | None = Field(default=None, max_length=50)
    created_after: datetime | None = None
    created_before: datetime | None = None
    breached: bool | None = Field(default=None, description="Only tickets whose SLA is breached")
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=1_000_000_000)

    @field_validator("created_after", "created_before")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        """A moment without an offset (or a bare date) means UTC, like every stored time."""
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("a moment out of range") from None


class TicketFilters(TicketFilterFields):
    q: str | None = Field(
        default=None, max_length=200, description="Plain text match on title and description"
    )
    sort: TicketSort = TicketSort.CREATED_AT_DESC


class HistoryOut(BaseModel):
    id: int
    ticket_id: int
    actor_id: int | None
    actor_name: str | None
    actor_kind: Literal["user", "trigger", "automation", "system"] = Field(
        default="user",
        description="Who made the change: a user, a trigger, an automation, the system.",
    )
    actor_trigger_id: int | None = Field(default=None, description="The trigger, for `trigger`.")
    actor_automation_id: int | None = Field(
        default=None, description="The automation, for `automation`."
    )
    field: str
    old_value: str | None
    new_value: str | None
    created_at: datetime
