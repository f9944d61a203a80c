"""All SQL about articles and their links to tickets (full-text queries: ranking.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, select, true
from sqlalchemy.orm import Session

from services.api.articles.schemas import ArticleFilterFields, ArticleFilters
from shared.models import Article, Tag, Ticket, TicketArticle, article_tags


def published_only(only: bool) -> ColumnElement[bool]:
    return Article.published.is_(True) if only else true()


def apply_filters(query: Select[Any], filters: ArticleFilterFields) -> Select[Any]:
    """Narrow a query over Article by the list filters (shared with search)."""
    conditions: list[ColumnElement[bool]] = []
    if filters.published is not None:
        conditions.append(Article.published.is_(filters.published))
    if filters.tag:
        tagged = (
            select(article_tags.c.article_id)
            .join(Tag, Tag.id == article_tags.c.tag_id)
            .where(Tag.name == filters.tag.strip().lower())
        )
        conditions.append(Article.id.in_(tagged))
    return query.where(*conditions)


def get_article(session: Session, *, article_id: int) -> Article | None:
    return session.get(Article, article_id)


def find_articles(
    session: Session, *, visible: ColumnElement[bool], filters: ArticleFilters
) -> tuple[list[Article], int]:
    base = apply_filters(select(Article).where(visible), filters)
    total = session.scalar(
        select(func.count()).select_from(base.with_only_columns(Article.id).subquery())
    )
    key = filters.sort.value.lstrip("-")
    column = getattr(Article, key)
    descending = filters.sort.value.startswith("-")
    ordered = base.order_by(column.desc() if descending else column.asc(), Article.id.desc())
    page = ordered.limit(filters.limit).offset(filters.offset)
    return list(session.scalars(page)), total or 0


def links_of_ticket(
    session: Session, *, ticket_id: int, visible: ColumnElement[bool]
) -> list[TicketArticle]:
    query = (
        select(TicketArticle)
        .join(Article, Article.id == TicketArticle.article_id)
        .where(TicketArticle.ticket_id == ticket_id, visible)
        .order_by(TicketArticle.linked_at, TicketArticle.article_id)
    )
    return list(session.scalars(query))


def linked_article_ids(session: Session, *, ticket_id: int) -> list[int]:
    query = select(TicketArticle.article_id).where(TicketArticle.ticket_id == ticket_id)
    return sorted(session.scalars(query))


def get_link(session: Session, *, ticket_id: int, article_id: int) -> TicketArticle | None:
    return session.get(TicketArticle, (ticket_id, article_id))


def tickets_linked_to(session: Session, *, article_id: int) -> list[Ticket]:
    query = (
        select(Ticket)
        .join(TicketArticle, TicketArticle.ticket_id == Ticket.id)
        .where(TicketArticle.article_id == article_id)
        .order_by(Ticket.id)
    )
    return list(session.scalars(query))


def delete_links_of_article(session: Session, *, article_id: int) -> None:
    session.execute(delete(TicketArticle).where(TicketArticle.article_id == article_id))
