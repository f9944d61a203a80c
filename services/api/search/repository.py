"""Full-text search SQL: FTS5 MATCH ranked by bm25 (title and tags weigh most)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, column, func, literal_column, select, table
from sqlalchemy.orm import Session

from services.api.search.schemas import SearchParams
from services.api.tickets.repository import apply_filters
from shared.models import Ticket

_INDEX_TABLE = table("ticket_search", column("rowid"))
_INDEX: ColumnElement[Any] = literal_column("ticket_search")
# bm25 column weights: title, description, comments, tags. Lower is better.
_RANK = func.bm25(_INDEX, 10.0, 3.0, 1.0, 6.0)
_SNIPPET = func.snippet(_INDEX, -1, "<mark>", "</mark>", "…", 16)
_TITLE = func.highlight(_INDEX, 0, "<mark>", "</mark>")


def _matching(
    query: Select[Any], *, fts_query: str, visible: ColumnElement[bool], params: SearchParams
) -> Select[Any]:
    query = (
        query.select_from(_INDEX_TABLE)
        .join(Ticket, Ticket.id == _INDEX_TABLE.c.rowid)
        .where(_INDEX.op("MATCH")(fts_query), visible)
    )
    return apply_filters(query, params)


def search(
    session: Session, *, fts_query: str, visible: ColumnElement[bool], params: SearchParams
) -> tuple[list[tuple[Ticket, float, str, str]], int]:
    """The page of matches, best first, with bm25 rank, snippet and highlighted title."""
    count = _matching(select(func.count()), fts_query=fts_query, visible=visible, params=params)
    total = session.scalar(count) or 0
    page = (
        _matching(
            select(Ticket, _RANK.label("rank"), _SNIPPET, _TITLE),
            fts_query=fts_query,
            visible=visible,
            params=params,
        )
        .order_by(literal_column("rank"), Ticket.id.desc())
        .limit(params.limit)
        .offset(params.offset)
    )
    rows = [(t, float(rank), snippet, title) for t, rank, snippet, title in session.execute(page)]
    return rows, total
