"""The full-text index over tickets: title, description, public comments, tags and the values
of customer-visible text custom fields.

SQLite: the FTS5 table `ticket_search` (rowid = ticket id). PostgreSQL: the table
`ticket_search` with a weighted tsvector under a GIN index. Internal comments are never
indexed, so a search can never reveal one; nor are the values of custom fields staff alone
see. One statement fills the index for a range of
tickets: the text is gathered in SQL.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from shared.highlights import postgres_unmarked, sqlite_unmarked
from shared.models import Ticket
from shared.prepared import Prepared

_TEXT_COLUMNS = ("title", "description", "comments", "tags", "custom_fields")
# The custom values indexed: text ones of active fields customers may see (the index serves
# every viewer alike).
_INDEXED_FIELDS = "f.active AND f.customer_visible AND f.field_type IN ('text', 'long_text')"

# The copies of the text the index keeps (for snippets) leave out the highlight markers
# (shared/highlights.py): no stored text can forge a <mark>.
_SQLITE_DOCUMENTS = """
INSERT INTO ticket_search (rowid, title, description, comments, tags, custom_fields)
SELECT id, {title}, {description}, {comments}, {tags}, {custom_fields} FROM (
  SELECT t.id, t.title, t.description,
         COALESCE((SELECT group_concat(c.body, char(10)) FROM ticket_comments c
                   WHERE c.ticket_id = t.id AND c.is_internal = 0), '') AS comments,
         COALESCE((SELECT group_concat(g.name, ' ') FROM ticket_tags tt
                   JOIN tags g ON g.id = tt.tag_id WHERE tt.ticket_id = t.id), '') AS tags,
         COALESCE((SELECT group_concat(json_extract(v.value, '$'), char(10))
                   FROM ticket_custom_values v JOIN custom_fields f ON f.id = v.field_id
                   WHERE v.ticket_id = t.id AND {indexed}), '') AS custom_fields
  FROM tickets t
  WHERE t.id BETWEEN :first AND :last
)
""".format(indexed=_INDEXED_FIELDS, **{name: sqlite_unmarked(name) for name in _TEXT_COLUMNS})

_POSTGRES_DOCUMENTS = """
INSERT INTO ticket_search (ticket_id, title, description, comments, tags, custom_fields, document)
SELECT id, {title}, {description}, {comments}, {tags}, {custom_fields}, document FROM (
  SELECT t.id, t.title, t.description, COALESCE(c.comments, '') AS comments,
         COALESCE(g.tags, '') AS tags, COALESCE(x.custom_fields, '') AS custom_fields,
         setweight(to_tsvector('english', t.title), 'A')
         || setweight(to_tsvector('english', COALESCE(g.tags, '')), 'A')
         || setweight(to_tsvector('english', t.description), 'B')
         || setweight(to_tsvector('english', COALESCE(x.custom_fields, '')), 'B')
         || setweight(to_tsvector('english', COALESCE(c.comments, '')), 'C') AS document
  FROM tickets t
  LEFT JOIN LATERAL (SELECT string_agg(body, E'\\n' ORDER BY id) AS comments
                     FROM ticket_comments WHERE ticket_id = t.id AND NOT is_internal) c ON true
  LEFT JOIN LATERAL (SELECT string_agg(tg.name, ' ') AS tags FROM ticket_tags tt
                     JOIN tags tg ON tg.id = tt.tag_id WHERE tt.ticket_id = t.id) g ON true
  LEFT JOIN LATERAL (SELECT string_agg(v.value::json #>> '{{}}', E'\\n' ORDER BY v.field_id)
                       AS custom_fields
                     FROM ticket_custom_values v JOIN custom_fields f ON f.id = v.field_id
                     WHERE v.ticket_id = t.id AND {indexed}) x ON true
  WHERE t.id BETWEEN :first AND :last
) AS documents
""".format(indexed=_INDEXED_FIELDS, **{name: postgres_unmarked(name) for name in _TEXT_COLUMNS})


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# Prepared once: the worker indexes a ticket for every event, and making the text() objects (a
# regex over the SQL for its parameters) and executing them through SQLAlchemy cost more than
# running them.
_FILL = {
    "postgresql": Prepared(text(_POSTGRES_DOCUMENTS)),
    "sqlite": Prepared(text(_SQLITE_DOCUMENTS)),
}
_FORGET = {
    "postgresql": Prepared(text("DELETE FROM ticket_search WHERE ticket_id = :id")),
    "sqlite": Prepared(text("DELETE FROM ticket_search WHERE rowid = :id")),
}


def _engine(session: Session) -> str:
    return "postgresql" if _is_postgres(session) else "sqlite"


def _fill(session: Session, first: int, last: int) -> None:
    _FILL[_engine(session)].run(session, {"first": first, "last": last})


def index_ticket(session: Session, *, ticket_id: int) -> None:
    """(Re)index one ticket from its rows; idempotent."""
    _FORGET[_engine(session)].run(session, {"id": ticket_id})
    _fill(session, ticket_id, ticket_id)


def rebuild_index(session: Session, *, batch_size: int = 5000) -> Iterator[int]:
    """Empty the index and fill it again in batches of ticket ids; yields tickets done so far."""
    session.execute(text("DELETE FROM ticket_search"))
    last_id = session.scalar(select(func.max(Ticket.id))) or 0
    for start in range(1, last_id + 1, batch_size):
        _fill(session, start, start + batch_size - 1)
        yield min(start + batch_size - 1, last_id)
