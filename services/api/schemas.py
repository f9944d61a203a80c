"""Request/response types shared by several domains of the API."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Header, Path
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

T = TypeVar("T")

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Colour = Annotated[str, StringConstraints(pattern=r"^#[0-9A-Fa-f]{6}$")]
SlaHours = Annotated[float, Field(gt=0, le=8760, description="Target in hours (fractions allowed)")]
# A row id. Ids are 32-bit on PostgreSQL: anything larger names nothing and must not reach the
# driver.
MAX_ID = 2_147_483_647
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
# A path id that is not a valid id names nothing: the error handler answers 404.
PathId = Annotated[Id, Path()]


class StrictInput(BaseModel):
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
