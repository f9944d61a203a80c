"""Search: what the caller may see, ranked by relevance."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.api.search import repository
from services.api.search.query import parse_query
from services.api.search.schemas import SearchHit, SearchParams
from services.api.tickets import access
from shared.models import User
from shared.reference_cache import UserRecord, reference_cache
from shared.ticket_view import TicketRow, TicketView, comment_counts, row_view


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
    reference = reference_cache.reference(session)

    def view(row: TicketRow) -> TicketView:
        """From the row and this process's reference data and people (no ORM object)."""
        return row_view(
            row,
            reference=reference,
            requester=_person(session, row.requester_id),
            assignee=_person(session, row.assignee_id) if row.assignee_id else None,
            comment_count=counts.get(row.id, 0),
        )

    hits = [
        SearchHit(
            ticket=view(ticket),
            score=round(score, 6),
            snippet=snippet,
            title_highlighted=title,
        )
        for ticket, score, snippet, title in rows
    ]
    return hits, total


def _person(session: Session, user_id: int) -> UserRecord:
    person = reference_cache.person(session, user_id=user_id)
    assert person is not None  # a foreign key
    return person
