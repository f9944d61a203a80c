"""Articles on tickets: links (recorded in the ticket's history and events) and suggestions.

These are the functions the MCP tools `link_article` and `suggest_articles` call as well.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from services.api.articles import access, keywords, ranking, repository
from services.api.articles.schemas import ArticleFilterFields, ArticleHit, LinkedArticle
from services.api.articles.views import hits_of, linked_article
from services.api.tickets.service import get_visible_ticket
from shared.clock import utcnow
from shared.errors import InvalidReference, NotFound
from shared.event_types import ArticleSummary
from shared.models import Article, Ticket, TicketArticle, User
from shared.ticket_changes import (
    FieldChange,
    HistoryEntry,
    field_change_events,
    record_ticket_change,
)
from shared.ticket_view import staff_view

DEFAULT_SUGGESTIONS = 5


def _record_link_change(
    session: Session,
    ticket: Ticket,
    article: Article,
    *,
    actor: User,
    at: datetime,
    linked: bool,
    before: list[int],
) -> None:
    """A history row on the ticket and ticket.updated. Customers see the row while the
    article is published, whatever it was when linked (decided when the history is read)."""
    after = sorted({*before, article.id}) if linked else [i for i in before if i != article.id]
    change = FieldChange("articles", before, after)
    history = HistoryEntry(
        "article",
        None if linked else str(article.id),
        str(article.id) if linked else None,
        internal=not article.published,
    )
    summary = ArticleSummary(id=article.id, title=article.title, published=article.published)
    record_ticket_change(
        session,
        ticket_id=ticket.id,
        actor_id=actor.id,
        at=at,
        history=[history],
        events=field_change_events(
            staff_view(session, ticket), [change], actor=actor, resolved=False, article=summary
        ),
    )


def link_article(
    session: Session, *, actor: User, ticket_ref: str, article_id: int
) -> tuple[LinkedArticle, bool]:
    """Link an article to a ticket; linking it again changes nothing. Returns (link, created)."""
    ticket = get_visible_ticket(session, viewer=actor, ref=ticket_ref)
    access.ensure_may_link(actor)
    article = repository.get_article(session, article_id=article_id)
    if article is None:
        raise InvalidReference(f"no article with id {article_id}", field="article_id")
    existing = repository.get_link(session, ticket_id=ticket.id, article_id=article.id)
    if existing is not None:
        return linked_article(existing), False
    before = repository.linked_article_ids(session, ticket_id=ticket.id)
    now = utcnow()
    link = TicketArticle(ticket_id=ticket.id, article=article, linked_by=actor, linked_at=now)
    session.add(link)
    session.flush()
    _record_link_change(session, ticket, article, actor=actor, at=now, linked=True, before=before)
    return linked_article(link), True


def unlink_article(session: Session, *, actor: User, ticket_ref: str, article_id: int) -> None:
    ticket = get_visible_ticket(session, viewer=actor, ref=ticket_ref)
    access.ensure_may_link(actor)
    link = repository.get_link(session, ticket_id=ticket.id, article_id=article_id)
    if link is None:
        raise NotFound(f"article {article_id} is not linked to ticket {ticket_ref}")
    article = link.article
    before = repository.linked_article_ids(session, ticket_id=ticket.id)
    session.delete(link)
    session.flush()
    _record_link_change(
        session, ticket, article, actor=actor, at=utcnow(), linked=False, before=before
    )


def unlink_everywhere(session: Session, *, actor: User, article: Article, at: datetime) -> None:
    """Before an article is deleted: every ticket it was linked to records the unlinking."""
    for ticket in repository.tickets_linked_to(session, article_id=article.id):
        before = repository.linked_article_ids(session, ticket_id=ticket.id)
        _record_link_change(
            session, ticket, article, actor=actor, at=at, linked=False, before=before
        )
    repository.delete_links_of_article(session, article_id=article.id)


def linked_articles(session: Session, *, viewer: User, ticket_ref: str) -> list[LinkedArticle]:
    """The articles linked to a ticket; customers see the published ones only."""
    ticket = get_visible_ticket(session, viewer=viewer, ref=ticket_ref)
    links = repository.links_of_ticket(
        session, ticket_id=ticket.id, visible=access.visible_to(viewer)
    )
    return [linked_article(link) for link in links]


def suggest_articles(
    session: Session, *, viewer: User, ticket_ref: str, limit: int = DEFAULT_SUGGESTIONS
) -> list[ArticleHit]:
    """Published articles ranked by how many of the ticket's significant words they contain
    (title and tags weigh most): an OR query over the article index."""
    ticket = get_visible_ticket(session, viewer=viewer, ref=ticket_ref)
    words = keywords.significant_words(
        [ticket.title, " ".join(tag.name for tag in ticket.tags), ticket.description]
    )
    if not words:
        return []
    rows, _total = ranking.search(
        session,
        matching=ranking.Matching(keywords.any_of(words), any_term=True),
        visible=repository.published_only(True),
        filters=ArticleFilterFields(limit=limit),
    )
    return hits_of(rows, scored=viewer.role.is_staff)
