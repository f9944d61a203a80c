from __future__ import annotations

from pydantic import BaseModel, Field

from services.api.tickets.schemas import TicketFilterFields
from shared.ticket_view import TicketView


class SearchParams(TicketFilterFields):
    query: str = Field(
        min_length=1,
        max_length=200,
        description='Words (all must match), "exact phrases" and prefix* matches',
    )


class SearchHit(BaseModel):
    ticket: TicketView
    # bm25 relevance: higher is better.
    score: float
    # The best matching passage, matches wrapped in <mark>…</mark>.
    snippet: str
    title_highlighted: str
