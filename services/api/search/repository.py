"""Full-text search SQL, per engine: FTS5 with bm25 on SQLite, tsvector with ts_rank_cd on
PostgreSQL. Both weigh title and tags most, then description, then comments."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, column, func, literal_column, select, table
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import True_

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
    session: Session,
    ranked: Select[Any],
    count: Select[Any],
    order: tuple[Any, ...],
    params: SearchParams,
    marks: Any,
) -> tuple[list[Hit], int]:
    """The total, then the page's ids by rank, then only for those: the tickets, and the
    snippet and highlighted title (`marks(ids)`). Ranking 20,000 matches is cheap; building
    20,000 snippets and ticket rows only to keep twenty is not."""
    total = session.scalar(apply_filters(count, params)) or 0
    page = apply_filters(ranked, params).order_by(*order)
    top = session.execute(page.limit(params.limit).offset(params.offset)).all()
    ids = [ticket_id for ticket_id, _score in top]
    tickets = {
        ticket.id: ticket for ticket in session.scalars(select(Ticket).where(Ticket.id.in_(ids)))
    }
    snippets: dict[int, tuple[str, str]] = {
        ticket_id: (snippet or "", title or "") for ticket_id, snippet, title in marks(ids)
    }
    return [
        (tickets[ticket_id], float(score), *snippets.get(ticket_id, ("", "")))
        for ticket_id, score in top
        if ticket_id in tickets  # an index entry outliving its ticket names nothing
    ], total


def _sqlite(
    session: Session, terms: list[SearchTerm], visible: ColumnElement[bool], params: SearchParams
) -> tuple[list[Hit], int]:
    match = _FTS_NAME.op("MATCH")(to_fts5(terms))
    # Staff with no filter see every match: counting and ranking then need only the index, not
    # a join to tickets for each of possibly tens of thousands of matches.
    index_only = (
        isinstance(visible, True_) and apply_filters(select(Ticket.id), params).whereclause is None
    )

    def matching(query: Select[Any]) -> Select[Any]:
        if index_only:
            return query.select_from(_FTS).where(match)
        return query.select_from(_FTS).join(Ticket, Ticket.id == _FTS.c.rowid).where(match, visible)

    def marks(ids: list[int]) -> Any:
        return session.execute(
            select(_FTS.c.rowid, _FTS_SNIPPET, _FTS_TITLE)
            .select_from(_FTS)
            .where(match, _FTS.c.rowid.in_(ids))
        )

    ranked = matching(select(_FTS.c.rowid, (-_FTS_RANK).label("score")))
    return _page(
        session,
        ranked,
        matching(select(func.count())),
        (_FTS_RANK, _FTS.c.rowid.desc()),
        params,
        marks,
    )


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

    def marks(ids: list[int]) -> Any:
        return session.execute(
            select(_TSV.c.ticket_id, snippet, title).where(_TSV.c.ticket_id.in_(ids))
        )

    ranked = matching(select(Ticket.id, rank.label("score")))
    return _page(
        session,
        ranked,
        matching(select(func.count())),
        (rank.desc(), Ticket.id.desc()),
        params,
        marks,
    )


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
