"""The full-text index over tickets: title, description, public comments and tags.

On SQLite it is the FTS5 table `ticket_search` (rowid = ticket id). Internal comments are never
indexed, so a search can never reveal one.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from shared.models import Ticket

# One statement fills the index for a range of tickets: the text is gathered in SQL.
_DOCUMENTS = """
SELECT t.id, t.title, t.description,
       COALESCE((SELECT group_concat(c.body, char(10)) FROM ticket_comments c
                 WHERE c.ticket_id = t.id AND c.is_internal = 0), ''),
       COALESCE((SELECT group_concat(g.name, ' ') FROM ticket_tags tt
                 JOIN tags g ON g.id = tt.tag_id WHERE tt.ticket_id = t.id), '')
FROM tickets t
"""


def index_ticket(session: Session, *, ticket_id: int) -> None:
    """(Re)index one ticket from its rows; idempotent."""
    session.execute(text("DELETE FROM ticket_search WHERE rowid = :id"), {"id": ticket_id})
    session.execute(
        text(
            "INSERT INTO ticket_search (rowid, title, description, comments, tags) "
            + _DOCUMENTS
            + " WHERE t.id = :id"
        ),
        {"id": ticket_id},
    )


def rebuild_index(session: Session, *, batch_size: int = 5000) -> Iterator[int]:
    """Empty the index and fill it again in batches of ticket ids; yields tickets done so far."""
    session.execute(text("DELETE FROM ticket_search"))
    last_id = session.scalar(select(func.max(Ticket.id))) or 0
    for start in range(1, last_id + 1, batch_size):
        session.execute(
            text(
                "INSERT INTO ticket_search (rowid, title, description, comments, tags) "
                + _DOCUMENTS
                + " WHERE t.id BETWEEN :first AND :last"
            ),
            {"first": start, "last": start + batch_size - 1},
        )
        yield min(start + batch_size - 1, last_id)
