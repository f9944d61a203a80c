"""The knowledge base: articles, their tags, and their links to tickets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared.clock import utcnow
from shared.models.base import Base
from shared.models.ticket import Tag
from shared.models.user import User

# Articles share the tag vocabulary with tickets, so "password" means the same on both.
article_tags = Table(
    "article_tags",
    Base.metadata,
    Column("article_id", ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Article(Base):
    """A knowledge-base article: Markdown body; customers see it once it is published."""

    __tablename__ = "articles"
    __table_args__ = (Index("ix_articles_published_updated_at", "published", "updated_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)

    author: Mapped[User] = relationship(lazy="joined")
    tags: Mapped[list[Tag]] = relationship(
        secondary=article_tags, lazy="selectin", order_by=Tag.name
    )

    # A concurrent writer that read an older row fails instead of overwriting (as on tickets).
    __mapper_args__ = {"version_id_col": version}


class TicketArticle(Base):
    """An article linked to a ticket (the answer given, or further reading)."""

    __tablename__ = "ticket_articles"

    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    linked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)

    article: Mapped[Article] = relationship(lazy="joined")
    linked_by: Mapped[User | None] = relationship(lazy="joined")
