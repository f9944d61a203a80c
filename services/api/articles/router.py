from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from services.api.articles import links, service
from services.api.articles.schemas import (
    ArticleCreate,
    ArticleFilters,
    ArticleHit,
    ArticleLinkCreate,
    ArticleOut,
    ArticleSearchParams,
    ArticleUpdate,
    LinkedArticle,
    SuggestionParams,
)
from services.api.articles.views import article_out
from services.api.dependencies import ActingUser, CurrentUser, DbSession
from services.api.idempotency import respond_once
from services.api.responses import etag
from services.api.schemas import IdempotencyKeyHeader, IfMatchHeader, Page, PathId

router = APIRouter(prefix="/articles", tags=["knowledge base"])
ticket_router = APIRouter(prefix="/tickets/{ticket_ref}", tags=["knowledge base"])


@router.get("", response_model=Page[ArticleOut])
def list_articles(
    session: DbSession, viewer: CurrentUser, filters: Annotated[ArticleFilters, Query()]
) -> Page[ArticleOut]:
    """List knowledge-base articles (customers: published ones only), newest change first."""
    items, total = service.list_articles(session, viewer=viewer, filters=filters)
    return Page(items=items, total=total, limit=filters.limit, offset=filters.offset)


@router.get("/search", response_model=Page[ArticleHit])
def search_articles(
    session: DbSession, viewer: CurrentUser, params: Annotated[ArticleSearchParams, Query()]
) -> Page[ArticleHit]:
    """Full-text search over title, body and tags (the ticket search's syntax), best first."""
    hits, total = service.search_articles(session, viewer=viewer, params=params)
    return Page(items=hits, total=total, limit=params.limit, offset=params.offset)


@router.post(
    "",
    response_model=ArticleOut,
    status_code=status.HTTP_201_CREATED,
    responses={201: {"headers": {"ETag": {"schema": {"type": "string"}}}}},
)
def create_article(
    body: ArticleCreate,
    session: DbSession,
    actor: ActingUser,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Write an article (agents and admins); a draft unless `published: true`."""

    def create() -> tuple[ArticleOut, dict[str, str]]:
        out = article_out(service.create_article(session, actor=actor, request=body))
        return out, {**etag(out.version), "Location": f"/articles/{out.id}"}

    return respond_once(
        session,
        user=actor,
        key=idempotency_key,
        path="/articles",
        payload=body,
        status_code=status.HTTP_201_CREATED,
        action=create,
    )


@router.get("/{article_id}", response_model=ArticleOut)
def get_article(
    article_id: PathId, session: DbSession, viewer: CurrentUser, response: Response
) -> ArticleOut:
    """Get an article (a draft is not found for customers)."""
    article = service.get_visible_article(session, viewer=viewer, article_id=article_id)
    out = article_out(article)
    response.headers.update(etag(out.version))
    return out


@router.patch("/{article_id}", response_model=ArticleOut)
def update_article(
    article_id: PathId,
    body: ArticleUpdate,
    session: DbSession,
    actor: ActingUser,
    response: Response,
    if_match: IfMatchHeader = None,
) -> ArticleOut:
    """Change some fields of an article; send If-Match to refuse a stale write."""
    article = service.update_article(
        session, actor=actor, article_id=article_id, request=body, if_match=if_match
    )
    out = article_out(article)
    response.headers.update(etag(out.version))
    return out


@router.delete("/{article_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_article(
    article_id: PathId, session: DbSession, actor: ActingUser, if_match: IfMatchHeader = None
) -> Response:
    """Delete an article; tickets it was linked to record the unlinking."""
    service.delete_article(session, actor=actor, article_id=article_id, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@ticket_router.get("/articles", response_model=list[LinkedArticle])
def list_ticket_articles(
    ticket_ref: str, session: DbSession, viewer: CurrentUser
) -> list[LinkedArticle]:
    """The articles linked to a ticket (customers: published ones only)."""
    return links.linked_articles(session, viewer=viewer, ticket_ref=ticket_ref)


@ticket_router.post(
    "/articles",
    response_model=LinkedArticle,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": LinkedArticle, "description": "Already linked; nothing changed"}},
)
def link_article(
    ticket_ref: str, body: ArticleLinkCreate, session: DbSession, actor: ActingUser
) -> Response:
    """Link an article to a ticket (agents and admins): 201, or 200 if it already was."""
    link, created = links.link_article(
        session, actor=actor, ticket_ref=ticket_ref, article_id=body.article_id
    )
    return Response(
        link.model_dump_json(),
        status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        media_type="application/json",
    )


@ticket_router.delete("/articles/{article_id}", status_code=status.HTTP_204_NO_CONTENT)
def unlink_article(
    ticket_ref: str, article_id: PathId, session: DbSession, actor: ActingUser
) -> Response:
    """Remove an article's link from a ticket (agents and admins)."""
    links.unlink_article(session, actor=actor, ticket_ref=ticket_ref, article_id=article_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@ticket_router.get("/suggested-articles", response_model=list[ArticleHit])
def suggested_articles(
    ticket_ref: str,
    session: DbSession,
    viewer: CurrentUser,
    params: Annotated[SuggestionParams, Query()],
) -> list[ArticleHit]:
    """Published articles ranked by relevance to the ticket's title, tags and description."""
    return links.suggest_articles(session, viewer=viewer, ticket_ref=ticket_ref, limit=params.limit)
