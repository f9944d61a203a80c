"""Search: what the caller may see, ranked by relevance, highlighted as safe HTML."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session

from services.api.custom_fields.values import value_filters
from services.api.search import repository
from services.api.search.query import parse_query
from services.api.search.schemas import SearchHit, SearchParams
from services.api.tickets import access
from services.api.tickets.service import ticket_views
from shared.highlights import marked_html
from shared.models import User
from shared.reference_cache import reference_cache


def search_tickets(
    session: Session,
    *,
    viewer: User,
    params: SearchParams,
    custom_filters: Mapping[str, str] | None = None,
) -> tuple[list[SearchHit], int]:
    """Matches `viewer` may see, best first; `custom_filters` are the `cf_<key>` query
    parameters, as for lists."""
    rows, total = repository.search(
        session,
        terms=parse_query(params.query),
        visible=access.visible_to(viewer),
        params=params,
        custom=value_filters(
            reference_cache.reference(session), viewer=viewer, params=custom_filters or {}
        ),
    )
    views = ticket_views(session, ticket_ids=[hit[0] for hit in rows], viewer=viewer)
    # bm25 weighs words by how many tickets hold them, all tickets: a customer's score would
    # give away what other customers wrote. Customers get the order alone.
    scored = viewer.role.is_staff
    hits = [
        SearchHit(
            ticket=views[ticket_id],
            score=round(score, 6) if scored else None,
            snippet=marked_html(snippet),
            title_highlighted=marked_html(title),
        )
        for ticket_id, score, snippet, title in rows
        if ticket_id in views  # an index entry outliving its ticket names nothing
    ]
    return hits, total
