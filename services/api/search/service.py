"""Search: what the caller may see, ranked by relevance."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.api.search import repository
from services.api.search.query import parse_query
from services.api.search.schemas import SearchHit, SearchParams
from services.api.tickets import access
from services.api.tickets.service import ticket_views
from shared.models import User


def search_tickets(
    session: Session, *, viewer: User, params: SearchParams
) -> tuple[list[SearchHit], int]:
    rows, total = repository.search(
        session,
        terms=parse_query(params.query),
        visible=access.visible_to(viewer),
        params=params,
    )
    views = ticket_views(session, ticket_ids=[hit[0] for hit in rows], viewer=viewer)
    hits = [
        SearchHit(
            ticket=views[ticket_id],
            score=round(score, 6),
            snippet=snippet,
            title_highlighted=title,
        )
        for ticket_id, score, snippet, title in rows
        if ticket_id in views  # an index entry outliving its ticket names nothing
    ]
    return hits, total
