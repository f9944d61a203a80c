"""Custom field definitions in and out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from services.api.schemas import Id, Name, StrictInput
from shared.models import CustomFieldType

FieldKey = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,35}$"),
    Field(description="A slug, 1-36 lowercase letters, digits or '_'; it never changes."),
]
OptionLabel = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Options = Annotated[
    list[OptionLabel],
    Field(max_length=200, description="The choices of a dropdown or multi-select, in order."),
]
CategoryIds = Annotated[
    list[Id],
    Field(max_length=200, description="The categories the field applies to (empty: all)."),
]


class CustomFieldOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    key: str
    label: str
    field_type: CustomFieldType
    options: list[str]
    category_ids: list[int]
    required_on_create: bool
    required_to_resolve: bool
    customer_visible: bool
    customer_editable: bool
    active: bool
    created_at: datetime


def _distinct(options: list[str] | None) -> list[str] | None:
    if options is not None and len(set(options)) != len(options):
        raise ValueError("options must be distinct")
    return options


class CustomFieldCreate(StrictInput):
    key: FieldKey
    label: Name
    field_type: CustomFieldType
    options: Options = Field(default_factory=list)
    category_ids: CategoryIds = Field(default_factory=list)
    required_on_create: bool = False
    required_to_resolve: bool = False
    customer_visible: bool = False
    customer_editable: bool = Field(default=False, description="Implies customer_visible.")

    _options = field_validator("options")(_distinct)


class CustomFieldUpdate(StrictInput):
    """Only the fields sent change. The key and the type never do (409)."""

    key: FieldKey | None = None
    field_type: CustomFieldType | None = None
    label: Name | None = None
    options: Options | None = None
    migrate_options: dict[OptionLabel, OptionLabel] | None = Field(
        default=None,
        max_length=200,
        description="Removed option -> remaining option: the tickets' values move to it.",
    )
    category_ids: CategoryIds | None = None
    required_on_create: bool | None = None
    required_to_resolve: bool | None = None
    customer_visible: bool | None = None
    customer_editable: bool | None = None
    active: bool | None = Field(default=None, description="false archives the field.")

    _options = field_validator("options")(_distinct)
