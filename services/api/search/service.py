"""Search: what the caller may see, ranked by relevance."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.api.search import repository
from services.api.search.query import parse_query
from services.api.search.schemas import SearchHit, SearchParams
from services.api.tickets import access
from shared.models import User
from shared.ticket_view import comment_counts, ticket_view


def search_tickets(
    session: Session, *, viewer: User, params: SearchParams
) -> tuple[list[SearchHit], int]:
    rows, total = repository.search(
        session,
        terms=parse_query(params.query),
        visible=access.visible_to(viewer),
        params=params,
    )
    counts = comment_counts(
        session, ticket_ids=[t.id for t, *_ in rows], include_internal=viewer.role.is_staff
    )
    hits = [
        SearchHit(
            ticket=ticket_view(ticket, comment_count=counts.get(ticket.id, 0)),
            score=round(score, 6),
            snippet=snippet,
            title_highlighted=title,
        )
        for ticket, score, snippet, title in rows
    ]
    return hits, total
