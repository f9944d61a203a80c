"""The rules for writing, reading and searching knowledge-base articles."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from services.api.articles import access, links, ranking, repository
from services.api.articles.schemas import (
    ArticleCreate,
    ArticleFilters,
    ArticleHit,
    ArticleOut,
    ArticleSearchParams,
    ArticleUpdate,
)
from services.api.articles.views import article_out, hits_of
from services.api.search.query import parse_query
from services.api.tickets.repository import tags_named
from shared.article_search import index_article, remove_article
from shared.clock import utcnow
from shared.errors import NotFound, StaleVersion
from shared.event_types import ArticleCreated, ArticleData, ArticleDeleted, ArticleUpdated, Change
from shared.events import record_event
from shared.models import Article, User
from shared.ticket_view import user_ref


def _article_data(article: Article) -> ArticleData:
    return ArticleData.model_validate(article_out(article), from_attributes=True)


def get_visible_article(session: Session, *, viewer: User, article_id: int) -> Article:
    """An article by id; a draft is as absent to a customer as a missing article."""
    article = repository.get_article(session, article_id=article_id)
    if article is None or not access.can_see(viewer, article):
        raise NotFound(f"no article {article_id}")
    return article


def create_article(session: Session, *, actor: User, request: ArticleCreate) -> Article:
    access.ensure_may_write(actor)
    now = utcnow()
    article = Article(
        title=request.title,
        body=request.body,
        published=request.published,
        published_at=now if request.published else None,
        author=actor,
        tags=tags_named(session, request.tag_names()),
        created_at=now,
        updated_at=now,
    )
    session.add(article)
    session.flush()
    index_article(session, article_id=article.id)
    created = ArticleCreated(article=_article_data(article), actor=user_ref(actor))
    record_event(session, created, ticket_id=None, occurred_at=now)
    return article


def _check_version(article: Article, if_match: str | None) -> None:
    """If-Match carries the ETag the client last saw; anything else means someone wrote since."""
    if if_match is None:
        return
    tags = [tag.strip().removeprefix("W/").strip('"') for tag in if_match.split(",")]
    if "*" not in tags and str(article.version) not in tags:
        raise StaleVersion(
            f"the article is at version {article.version}, not {if_match}; fetch it and retry",
            field="If-Match",
        )


def update_article(
    session: Session, *, actor: User, article_id: int, request: ArticleUpdate, if_match: str | None
) -> Article:
    access.ensure_may_write(actor)
    article = get_visible_article(session, viewer=actor, article_id=article_id)
    _check_version(article, if_match)
    sent = request.model_fields_set
    changes: dict[str, dict[str, Any]] = {
        name: {"from": getattr(article, name), "to": getattr(request, name)}
        for name in ("title", "body", "published")
        if name in sent and getattr(request, name) != getattr(article, name)
    }
    old_tags = sorted(tag.name for tag in article.tags)
    new_tags = list(request.tags or [])
    if "tags" in sent and sorted(new_tags) != old_tags:
        changes["tags"] = {"from": old_tags, "to": sorted(new_tags)}
        # Looked up (and inserted) before any attribute changes, so one UPDATE bumps the version.
        article.tags = tags_named(session, new_tags)
    if not changes:
        return article
    now = utcnow()
    for name in changes.keys() - {"tags"}:
        setattr(article, name, changes[name]["to"])
    article.updated_at = now
    if "published" in changes:
        article.published_at = now if article.published else None
    session.flush()
    index_article(session, article_id=article.id)
    updated = ArticleUpdated(
        article=_article_data(article),
        actor=user_ref(actor),
        changes={name: Change(from_=c["from"], to=c["to"]) for name, c in changes.items()},
    )
    record_event(session, updated, ticket_id=None, occurred_at=now)
    return article


def delete_article(session: Session, *, actor: User, article_id: int, if_match: str | None) -> None:
    """Delete an article; the tickets it was linked to record the unlinking."""
    access.ensure_may_write(actor)
    article = get_visible_article(session, viewer=actor, article_id=article_id)
    _check_version(article, if_match)
    now = utcnow()
    links.unlink_everywhere(session, actor=actor, article=article, at=now)
    deleted = ArticleDeleted(article=_article_data(article), actor=user_ref(actor))
    record_event(session, deleted, ticket_id=None, occurred_at=now)
    remove_article(session, article_id=article.id)
    session.delete(article)
    session.flush()


def list_articles(
    session: Session, *, viewer: User, filters: ArticleFilters
) -> tuple[list[ArticleOut], int]:
    articles, total = repository.find_articles(
        session, visible=access.visible_to(viewer), filters=filters
    )
    return [article_out(article) for article in articles], total


def search_articles(
    session: Session, *, viewer: User, params: ArticleSearchParams
) -> tuple[list[ArticleHit], int]:
    """Full-text search with the ticket search's query rules, best match first."""
    rows, total = ranking.search(
        session,
        matching=ranking.Matching(parse_query(params.query)),
        visible=access.visible_to(viewer),
        filters=params,
    )
    return hits_of(rows, scored=viewer.role.is_staff), total
