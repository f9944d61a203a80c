"""Request/response types shared by several domains of the API."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Generic, TypeVar, get_args, get_origin

from fastapi import Header, Path
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import InitErrorDetails, PydanticCustomError

from shared.text_rules import control_character as control_character
from shared.text_rules import control_character_message as control_character_message

T = TypeVar("T")


# --- control characters: the rule lives in shared.text_rules ----------------------------------


@dataclass(frozen=True)
class _LongText:
    """Marks a text type whose values may hold tabs and line breaks."""


LONG_TEXT = _LongText()


def is_long_text(annotation: Any) -> bool:
    """Whether a type is, or may be (inside `X | None`), a LONG_TEXT type."""
    if get_origin(annotation) is Annotated:
        if any(item is LONG_TEXT for item in annotation.__metadata__):
            return True
        annotation = get_args(annotation)[0]
    return any(is_long_text(arg) for arg in get_args(annotation))


def _names(name: str, field: FieldInfo) -> set[str]:
    """A field's name and the aliases a request may spell it with."""
    names = {name}
    for alias in (field.alias, field.validation_alias):
        if isinstance(alias, str):
            names.add(alias)
        elif isinstance(alias, AliasChoices):
            names.update(choice for choice in alias.choices if isinstance(choice, str))
    return names


@cache
def _long_text_keys(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(
        key
        for name, field in model.model_fields.items()
        if LONG_TEXT in field.metadata or is_long_text(field.annotation)
        for key in _names(name, field)
    )


class TextInput(BaseModel):
    """Every request model (bodies and query parameters): no control characters in any text,
    tab and line breaks in LONG_TEXT fields only. One check of the input as sent, before any
    field's own validators (which may strip or split it), inherited: a new field is covered
    without anyone remembering to."""

    @model_validator(mode="before")
    @classmethod
    def _no_control_characters(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        long_text = _long_text_keys(cls)
        errors = []
        for key, value in data.items():
            lines_allowed = key in long_text
            char = control_character(value, long_text=lines_allowed)
            if char is None:
                char = control_character(key)
            if char is not None:
                message = control_character_message(char, long_text=lines_allowed)
                errors.append(
                    InitErrorDetails(
                        type=PydanticCustomError("control_character", message),
                        loc=(key,),
                        input=value,
                    )
                )
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return data


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000), LONG_TEXT]
Colour = Annotated[str, StringConstraints(pattern=r"^#[0-9A-Fa-f]{6}$")]
SlaHours = Annotated[float, Field(gt=0, le=8760, description="Target in hours (fractions allowed)")]
# A row id. Ids are 32-bit on PostgreSQL: anything larger names nothing and must not reach the
# driver.
MAX_ID = 2_147_483_647
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
# A path id that is not a valid id names nothing: the error handler answers 404.
PathId = Annotated[Id, Path()]


class StrictInput(TextInput):
    """Request bodies refuse unknown fields, so a typo is a 422 rather than silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


Limit = Annotated[int, Field(ge=1, le=200)]
Offset = Annotated[int, Field(ge=0, le=1_000_000_000)]


IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="A retry with the same key and body returns the first response.",
    ),
]
IfMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=200,
        description="The ETag last read; a stale one gets 412 and changes nothing.",
    ),
]
