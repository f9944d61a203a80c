"""Full-text queries over the article index, per engine, with the ticket search's query
language (services/api/search/query.py): FTS5 with bm25 on SQLite, a weighted tsvector on
PostgreSQL. Title and tags weigh most, then the body."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, column, func, literal_column, select, table
from sqlalchemy.orm import Session

from services.api.articles.repository import apply_filters
from services.api.articles.schemas import ArticleFilterFields
from services.api.search.query import SearchTerm, to_fts5, to_tsquery
from shared.highlights import MARK_END, MARK_START
from shared.models import Article

# A hit: article, score, snippet, highlighted title (matches between MARK_START and MARK_END).
Hit = tuple[Article, float, str, str]


@dataclass(frozen=True)
class Matching:
    """What to look for: the terms, whether all (search) or any (suggestions) must match."""

    terms: list[SearchTerm]
    any_term: bool = False


_FTS = table("article_search", column("rowid"))
_FTS_NAME: ColumnElement[Any] = literal_column("article_search")
# bm25 column weights: title, body, tags. Lower is better.
_FTS_RANK = func.bm25(_FTS_NAME, 10.0, 3.0, 6.0)
# Matches between our markers, turned into <mark> tags once the text is escaped (highlights.py).
_FTS_SNIPPET = func.snippet(_FTS_NAME, 1, MARK_START, MARK_END, "…", 16)
_FTS_TITLE = func.highlight(_FTS_NAME, 0, MARK_START, MARK_END)

_TSV = table(
    "article_search", column("article_id"), column("document"), column("title"), column("body")
)
_TS_CONFIG: ColumnElement[Any] = literal_column("'english'::regconfig")
_TS_MARKS = f"StartSel={MARK_START}, StopSel={MARK_END}"
_TS_SNIPPET_OPTIONS = f"{_TS_MARKS}, MaxWords=24, MinWords=8, MaxFragments=1"
_TS_TITLE_OPTIONS = f"{_TS_MARKS}, HighlightAll=true"


def _page(
    session: Session,
    query: Select[Any],
    count: Select[Any],
    order: Any,
    filters: ArticleFilterFields,
) -> tuple[list[Hit], int]:
    total = session.scalar(apply_filters(count, filters)) or 0
    page = apply_filters(query, filters).order_by(order, Article.id.desc())
    rows = session.execute(page.limit(filters.limit).offset(filters.offset))
    return [
        (a, float(score), snippet or "", title or "") for a, score, snippet, title in rows
    ], total


def _sqlite(
    session: Session,
    matching: Matching,
    visible: ColumnElement[bool],
    filters: ArticleFilterFields,
) -> tuple[list[Hit], int]:
    match = _FTS_NAME.op("MATCH")(to_fts5(matching.terms, any_term=matching.any_term))

    def matches(query: Select[Any]) -> Select[Any]:
        return (
            query.select_from(_FTS).join(Article, Article.id == _FTS.c.rowid).where(match, visible)
        )

    query = matches(select(Article, (-_FTS_RANK).label("score"), _FTS_SNIPPET, _FTS_TITLE))
    count = matches(select(func.count()))
    return _page(session, query, count, _FTS_RANK, filters)


def _postgres(
    session: Session,
    matching: Matching,
    visible: ColumnElement[bool],
    filters: ArticleFilterFields,
) -> tuple[list[Hit], int]:
    tsquery = func.to_tsquery(_TS_CONFIG, to_tsquery(matching.terms, any_term=matching.any_term))
    # Cover density (as ticket search) when all terms must match; for "any of these words"
    # plain ts_rank, which rewards each distinct word found.
    rank_of = func.ts_rank if matching.any_term else func.ts_rank_cd
    rank = rank_of(_TSV.c.document, tsquery)
    # The index's copies of the text: they hold no marker characters (shared/article_search.py).
    snippet = func.ts_headline(_TS_CONFIG, _TSV.c.body, tsquery, _TS_SNIPPET_OPTIONS)
    title = func.ts_headline(_TS_CONFIG, _TSV.c.title, tsquery, _TS_TITLE_OPTIONS)

    def matches(query: Select[Any]) -> Select[Any]:
        return (
            query.select_from(_TSV)
            .join(Article, Article.id == _TSV.c.article_id)
            .where(_TSV.c.document.op("@@")(tsquery), visible)
        )

    query = matches(select(Article, rank.label("score"), snippet, title))
    count = matches(select(func.count()))
    return _page(session, query, count, rank.desc(), filters)


def search(
    session: Session,
    *,
    matching: Matching,
    visible: ColumnElement[bool],
    filters: ArticleFilterFields,
) -> tuple[list[Hit], int]:
    """The page of matches, best first: (article, score — higher is better, snippet, title)."""
    engine = _postgres if session.get_bind().dialect.name == "postgresql" else _sqlite
    return engine(session, matching, visible, filters)
