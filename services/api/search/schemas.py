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
    score: float | None = Field(
        description="Relevance, higher is better (bm25 on SQLite, ts_rank_cd on PostgreSQL); "
        "null for customers, whose hits come in the same order without it: the engines' "
        "statistics span every ticket, so a score would move with other customers' tickets"
    )
    snippet: str = Field(
        description="The best matching passage as HTML: the text escaped, matches in "
        "<mark>…</mark> (the only tags)"
    )
    title_highlighted: str = Field(
        description="The title as HTML: escaped, matches in <mark>…</mark> (the only tags)"
    )
