"""Articles as the API returns them (the MCP tools and the events carry the same shapes)."""

from __future__ import annotations

from services.api.articles.ranking import Hit
from services.api.articles.schemas import ArticleHit, ArticleOut, LinkedArticle
from shared.highlights import marked_html
from shared.models import Article, TicketArticle
from shared.ticket_view import user_ref


def article_out(article: Article) -> ArticleOut:
    return ArticleOut(
        id=article.id,
        title=article.title,
        body=article.body,
        tags=sorted(tag.name for tag in article.tags),
        published=article.published,
        author=user_ref(article.author),
        created_at=article.created_at,
        updated_at=article.updated_at,
        published_at=article.published_at,
        version=article.version,
    )


def hits_of(rows: list[Hit], *, scored: bool) -> list[ArticleHit]:
    """Hits with their highlights as safe HTML; `scored`: with the relevance (staff only: the
    engines' statistics include drafts)."""
    return [
        ArticleHit(
            article=article_out(article),
            score=round(score, 6) if scored else None,
            snippet=marked_html(snippet),
            title_highlighted=marked_html(title),
        )
        for article, score, snippet, title in rows
    ]


def linked_article(link: TicketArticle) -> LinkedArticle:
    return LinkedArticle(
        ticket_id=link.ticket_id,
        article=article_out(link.article),
        linked_by=user_ref(link.linked_by) if link.linked_by else None,
        linked_at=link.linked_at,
    )
