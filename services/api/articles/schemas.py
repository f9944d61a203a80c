from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints, field_validator

from services.api.schemas import LONG_TEXT, Id, StrictInput, TextInput
from services.api.tickets.schemas import TAGS_DESCRIPTION, Title, normalise_tags
from shared.ticket_view import UserRef

MAX_BODY_CHARS = 50_000
ArticleBody = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_BODY_CHARS),
    LONG_TEXT,
]


class ArticleCreate(StrictInput):
    title: Title
    body: ArticleBody = Field(description="Markdown")
    tags: list[str] | str | None = Field(default=None, description=TAGS_DESCRIPTION)
    published: bool = Field(default=False, description="Drafts are visible to agents only")

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> list[str] | None:
        return normalise_tags(value)

    def tag_names(self) -> list[str]:
        return list(self.tags or [])


class ArticleUpdate(StrictInput):
    """A partial update: only the fields sent change."""

    title: Title | None = None
    body: ArticleBody | None = Field(default=None, description="Markdown")
    tags: list[str] | str | None = Field(default=None, description=TAGS_DESCRIPTION)
    published: bool | None = None

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> list[str] | None:
        return normalise_tags(value)

    @field_validator("title", "body", "published")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be null")
        return value


class ArticleOut(BaseModel):
    id: int
    title: str
    body: str
    tags: list[str]
    published: bool
    author: UserRef
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    version: int


class ArticleSort(StrEnum):
    UPDATED_AT_DESC = "-updated_at"
    UPDATED_AT = "updated_at"
    CREATED_AT_DESC = "-created_at"
    CREATED_AT = "created_at"
    TITLE = "title"
    TITLE_DESC = "-title"


class ArticleFilterFields(TextInput):
    """What narrows an article list or an article search."""

    published: bool | None = Field(
        default=None,
        description="Only published (true) or only drafts (false); customers "
        "always see published articles only",
    )
    tag: str | None = Field(default=None, max_length=50)
    limit: int = Field(default=20, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=1_000_000_000)


class ArticleFilters(ArticleFilterFields):
    sort: ArticleSort = ArticleSort.UPDATED_AT_DESC


class ArticleSearchParams(ArticleFilterFields):
    query: str = Field(
        min_length=1,
        max_length=200,
        description='Words (all must match), "exact phrases" and prefix* matches',
    )


class ArticleHit(BaseModel):
    article: ArticleOut
    score: float | None = Field(
        description="Relevance, higher is better (bm25 on SQLite, ts_rank on PostgreSQL); "
        "null for customers, whose hits come in the same order without it: the engines' "
        "statistics span drafts too, so a score would move with articles they may not see"
    )
    snippet: str = Field(
        description="The best matching passage of the body as HTML: the text escaped, matches "
        "in <mark>…</mark> (the only tags)"
    )
    title_highlighted: str = Field(
        description="The title as HTML: escaped, matches in <mark>…</mark> (the only tags)"
    )


class ArticleLinkCreate(StrictInput):
    article_id: Id


class LinkedArticle(BaseModel):
    ticket_id: int
    article: ArticleOut
    linked_by: UserRef | None
    linked_at: datetime


class SuggestionParams(TextInput):
    limit: int = Field(default=5, ge=1, le=20)
