"""Full-text search SQL, per engine: FTS5 with bm25 on SQLite, tsvector with ts_rank_cd on
PostgreSQL. Both weigh title and tags most, then description, then comments."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, column, func, literal_column, select, table
from sqlalchemy.orm import Session

from services.api.search.query import SearchTerm, to_fts5, to_tsquery
from services.api.search.schemas import SearchParams
from services.api.tickets.repository import apply_filters
from shared.models import Ticket

Hit = tuple[Ticket, float, str, str]

_FTS = table("ticket_search", column("rowid"))
_FTS_NAME: ColumnElement[Any] = literal_column("ticket_search")
# bm25 column weights: title, description, comments, tags. Lower is better.
_FTS_RANK = func.bm25(_FTS_NAME, 10.0, 3.0, 1.0, 6.0)
_FTS_SNIPPET = func.snippet(_FTS_NAME, -1, "<mark>", "</mark>", "…", 16)
_FTS_TITLE = func.highlight(_FTS_NAME, 0, "<mark>", "</mark>")

_TSV = table(
    "ticket_search",
    column("ticket_id"),
    column("document"),
    column("title"),
    column("description"),
    column("comments"),
)
_TS_CONFIG: ColumnElement[Any] = literal_column("'english'::regconfig")
_TS_SNIPPET_OPTIONS = "StartSel=<mark>, StopSel=</mark>, MaxWords=24, MinWords=8, MaxFragments=1"
_TS_TITLE_OPTIONS = "StartSel=<mark>, StopSel=</mark>, HighlightAll=true"


def _page(
    session: Session, query: Select[Any], count: Select[Any], rank: Any, params: SearchParams
) -> tuple[list[Hit], int]:
    total = session.scalar(apply_filters(count, params)) or 0
    page = apply_filters(query, params).order_by(rank, Ticket.id.desc())
    rows = session.execute(page.limit(params.limit).offset(params.offset))
    return [
        (t, float(score), snippet or "", title or "") for t, score, snippet, title in rows
    ], total


def _sqlite(
    session: Session, terms: list[SearchTerm], visible: ColumnElement[bool], params: SearchParams
) -> tuple[list[Hit], int]:
    match = _FTS_NAME.op("MATCH")(to_fts5(terms))

    def matching(query: Select[Any]) -> Select[Any]:
        return query.select_from(_FTS).join(Ticket, Ticket.id == _FTS.c.rowid).where(match, visible)

    query = matching(select(Ticket, (-_FTS_RANK).label("score"), _FTS_SNIPPET, _FTS_TITLE))
    return _page(session, query, matching(select(func.count())), _FTS_RANK, params)


def _postgres(
    session: Session, terms: list[SearchTerm], visible: ColumnElement[bool], params: SearchParams
) -> tuple[list[Hit], int]:
    tsquery = func.to_tsquery(_TS_CONFIG, to_tsquery(terms))
    rank = func.ts_rank_cd(_TSV.c.document, tsquery)
    text = func.concat_ws(" ", _TSV.c.description, _TSV.c.comments)
    snippet = func.ts_headline(_TS_CONFIG, text, tsquery, _TS_SNIPPET_OPTIONS)
    title = func.ts_headline(_TS_CONFIG, _TSV.c.title, tsquery, _TS_TITLE_OPTIONS)

    def matching(query: Select[Any]) -> Select[Any]:
        return (
            query.select_from(_TSV)
            .join(Ticket, Ticket.id == _TSV.c.ticket_id)
            .where(_TSV.c.document.op("@@")(tsquery), visible)
        )

    query = matching(select(Ticket, rank.label("score"), snippet, title))
    return _page(session, query, matching(select(func.count())), rank.desc(), params)


def search(
    session: Session,
    *,
    terms: list[SearchTerm],
    visible: ColumnElement[bool],
    params: SearchParams,
) -> tuple[list[Hit], int]:
    """The page of matches, best first: (ticket, score — higher is better, snippet, title)."""
    engine = _postgres if session.get_bind().dialect.name == "postgresql" else _sqlite
    return engine(session, terms, visible, params)
