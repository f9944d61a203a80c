"""The full-text index over knowledge-base articles: title, body and tags.

Built like the ticket index (shared/search_index.py): SQLite: the FTS5 table `article_search`
(rowid = article id); PostgreSQL: the table `article_search` with a weighted tsvector under a
GIN index. Drafts are indexed too (agents search them); queries filter on `published`.

Articles are few and change rarely, so the index is kept in the writing transaction itself:
a search right after a 201 finds the article, and no event or worker is involved.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from shared.highlights import postgres_unmarked, sqlite_unmarked

_TEXT_COLUMNS = ("title", "body", "tags")

# The copies of the text the index keeps (for snippets) leave out the highlight markers
# (shared/highlights.py): no stored text can forge a <mark>.
_SQLITE_DOCUMENTS = """
INSERT INTO article_search (rowid, title, body, tags)
SELECT id, {title}, {body}, {tags} FROM (
  SELECT a.id, a.title, a.body,
         COALESCE((SELECT group_concat(g.name, ' ') FROM article_tags at
                   JOIN tags g ON g.id = at.tag_id WHERE at.article_id = a.id), '') AS tags
  FROM articles a
  WHERE a.id = :article_id OR :article_id IS NULL
)
""".format(**{name: sqlite_unmarked(name) for name in _TEXT_COLUMNS})

_POSTGRES_DOCUMENTS = """
INSERT INTO article_search (article_id, title, body, tags, document)
SELECT id, {title}, {body}, {tags}, document FROM (
  SELECT a.id, a.title, a.body, COALESCE(g.tags, '') AS tags,
         setweight(to_tsvector('english', a.title), 'A')
         || setweight(to_tsvector('english', COALESCE(g.tags, '')), 'A')
         || setweight(to_tsvector('english', a.body), 'B') AS document
  FROM articles a
  LEFT JOIN LATERAL (SELECT string_agg(tg.name, ' ') AS tags FROM article_tags at
                     JOIN tags tg ON tg.id = at.tag_id WHERE at.article_id = a.id) g ON true
  WHERE a.id = CAST(:article_id AS integer) OR CAST(:article_id AS integer) IS NULL
) AS documents
""".format(**{name: postgres_unmarked(name) for name in _TEXT_COLUMNS})


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _key(session: Session) -> str:
    return "article_id" if _is_postgres(session) else "rowid"


def remove_article(session: Session, *, article_id: int) -> None:
    """Drop the article's entry (before the article row goes)."""
    session.execute(
        text(f"DELETE FROM article_search WHERE {_key(session)} = :id"), {"id": article_id}
    )


def index_article(session: Session, *, article_id: int) -> None:
    """(Re)index one article from its flushed rows; idempotent."""
    remove_article(session, article_id=article_id)
    documents = _POSTGRES_DOCUMENTS if _is_postgres(session) else _SQLITE_DOCUMENTS
    session.execute(text(documents), {"article_id": article_id})


def rebuild_article_index(session: Session) -> int:
    """Empty the index and fill it again from every article; returns how many were indexed."""
    session.execute(text("DELETE FROM article_search"))
    documents = _POSTGRES_DOCUMENTS if _is_postgres(session) else _SQLITE_DOCUMENTS
    result = session.execute(text(documents), {"article_id": None})
    return int(getattr(result, "rowcount", 0) or 0)
