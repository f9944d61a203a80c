"""The in-process baselines: what the database alone costs, with no HTTP and no ORM.

- storage: the INSERTs of one ticket creation (ticket, tags, history, outbox) in one transaction,
  in a plain-Python loop on the stdlib `sqlite3`, with the API's pragmas;
- search: the search's query as a `LIKE '%word%'` scan over the same rows (title, description,
  public comments, tags), counted and paged like the API's answer.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from datetime import UTC, datetime

import orjson

_TICKET = """
INSERT INTO tickets (title, description, requester_id, assignee_id, category_id, priority_id,
  status_id, created_at, updated_at, sla_status, version)
VALUES (?, ?, 1, NULL, 3, 3, 1, ?, ?, 'pending', 1)
"""
_TAG = "INSERT INTO ticket_tags (ticket_id, tag_id) VALUES (?, ?)"
_HISTORY = """
INSERT INTO ticket_history (ticket_id, actor_id, created_at, field, old_value, new_value,
  is_internal) VALUES (?, 4, ?, 'created', NULL, ?, 0)
"""
_OUTBOX = """
INSERT INTO outbox (event_id, event_type, ticket_id, payload, created_at)
VALUES (?, 'ticket.created', ?, ?, ?)
"""


def connect(path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA foreign_keys=ON")
    return connection


def storage_inserts_per_second(path: str, *, seconds: float) -> float:
    """Ticket creations per second, each its own transaction, for `seconds`."""
    connection = connect(path)
    tag_ids = [row[0] for row in connection.execute("SELECT id FROM tags ORDER BY id LIMIT 2")]
    done = 0
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        now = datetime.now(UTC).isoformat(sep=" ")
        connection.execute("BEGIN IMMEDIATE")
        ticket_id = connection.execute(
            _TICKET, ("Cannot log in", "The login page says my password is wrong.", now, now)
        ).lastrowid
        connection.executemany(_TAG, [(ticket_id, tag_id) for tag_id in tag_ids])
        connection.execute(_HISTORY, (ticket_id, now, f"TKT-{ticket_id:03d}"))
        event_id = f"evt_{uuid.uuid4().hex}"
        payload = orjson.dumps({"id": event_id, "type": "ticket.created", "data": {}}).decode()
        connection.execute(_OUTBOX, (event_id, ticket_id, payload, now))
        connection.execute("COMMIT")
        done += 1
    elapsed = time.perf_counter() - started
    connection.close()
    return done / elapsed


def _like_clause(word_count: int) -> str:
    one = """(t.title LIKE ? OR t.description LIKE ?
      OR EXISTS (SELECT 1 FROM ticket_comments c
                 WHERE c.ticket_id = t.id AND c.is_internal = 0 AND c.body LIKE ?)
      OR EXISTS (SELECT 1 FROM ticket_tags tt JOIN tags g ON g.id = tt.tag_id
                 WHERE tt.ticket_id = t.id AND g.name LIKE ?))"""
    return " AND ".join([one] * word_count)


def like_search_seconds(path: str, words: list[str], *, repeat: int) -> list[float]:
    """Each run's time for the total and the first page of 20 matching every word."""
    connection = connect(path)
    where = _like_clause(len(words))
    params = [f"%{word}%" for word in words for _ in range(4)]
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        connection.execute(f"SELECT COUNT(*) FROM tickets t WHERE {where}", params).fetchone()
        connection.execute(
            f"SELECT t.id FROM tickets t WHERE {where} ORDER BY t.id DESC LIMIT 20", params
        ).fetchall()
        timings.append(time.perf_counter() - started)
    connection.close()
    return timings
