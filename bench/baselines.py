"""The in-process baselines: what the database alone costs, with no HTTP and no ORM.

- storage: the INSERTs of one ticket creation (ticket, tags, history, outbox) in one transaction,
  in a plain-Python loop on the bare driver: the stdlib `sqlite3` with the API's pragmas, or
  `psycopg` on PostgreSQL;
- search: the search's query as a `LIKE '%word%'` scan over the same rows (title, description,
  public comments, tags), counted and paged like the API's answer (`ILIKE` on PostgreSQL, whose
  `LIKE` is case-sensitive where SQLite's and the search are not).

Each takes the database's SQLAlchemy URL and picks the driver from it.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from sqlalchemy.engine import make_url

_TICKET = """
INSERT INTO tickets (title, description, requester_id, assignee_id, category_id, priority_id,
  status_id, created_at, updated_at, sla_status, version)
VALUES (?, ?, 1, NULL, 3, 3, 1, ?, ?, 'pending', 1)
"""
_TAG = "INSERT INTO ticket_tags (ticket_id, tag_id) VALUES (?, ?)"
_HISTORY = """
INSERT INTO ticket_history (ticket_id, actor_id, created_at, field, old_value, new_value,
  is_internal) VALUES (?, 4, ?, 'created', NULL, ?, FALSE)
"""
_OUTBOX = """
INSERT INTO outbox (event_id, event_type, ticket_id, payload, created_at)
VALUES (?, 'ticket.created', ?, ?, ?)
"""


def _on_postgres(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "postgresql"


def _postgres_dsn(database_url: str) -> str:
    """The libpq form of a `postgresql+psycopg://…` URL."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(False)


def connect(path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA foreign_keys=ON")
    return connection


def _creations_per_second(create_one: Callable[[], None], *, seconds: float) -> float:
    done = 0
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        create_one()
        done += 1
    return done / (time.perf_counter() - started)


def _outbox_row(ticket_id: int, now: Any) -> tuple[str, int, str, Any]:
    event_id = f"evt_{uuid.uuid4().hex}"
    payload = orjson.dumps({"id": event_id, "type": "ticket.created", "data": {}}).decode()
    return event_id, ticket_id, payload, now


def storage_inserts_per_second(database_url: str, *, seconds: float) -> float:
    """Ticket creations per second, each its own transaction, for `seconds`."""
    if _on_postgres(database_url):
        return _postgres_inserts_per_second(database_url, seconds=seconds)
    connection = connect(make_url(database_url).database or "")
    tag_ids = [row[0] for row in connection.execute("SELECT id FROM tags ORDER BY id LIMIT 2")]

    def create_one() -> None:
        now = datetime.now(UTC).isoformat(sep=" ")
        connection.execute("BEGIN IMMEDIATE")
        ticket_id = connection.execute(
            _TICKET, ("Cannot log in", "The login page says my password is wrong.", now, now)
        ).lastrowid
        assert ticket_id is not None
        connection.executemany(_TAG, [(ticket_id, tag_id) for tag_id in tag_ids])
        connection.execute(_HISTORY, (ticket_id, now, f"TKT-{ticket_id:03d}"))
        connection.execute(_OUTBOX, _outbox_row(ticket_id, now))
        connection.execute("COMMIT")

    try:
        return _creations_per_second(create_one, seconds=seconds)
    finally:
        connection.close()


def _postgres_inserts_per_second(database_url: str, *, seconds: float) -> float:
    def sql(statement: str) -> str:
        return statement.replace("?", "%s")

    with psycopg.connect(_postgres_dsn(database_url)) as connection:
        tag_ids = [row[0] for row in connection.execute("SELECT id FROM tags ORDER BY id LIMIT 2")]
        connection.commit()

        def create_one() -> None:
            now = datetime.now(UTC)
            with connection.transaction(), connection.cursor() as cursor:
                cursor.execute(
                    sql(_TICKET) + " RETURNING id",
                    ("Cannot log in", "The login page says my password is wrong.", now, now),
                )
                row = cursor.fetchone()
                assert row is not None
                ticket_id = int(row[0])
                cursor.executemany(sql(_TAG), [(ticket_id, tag_id) for tag_id in tag_ids])
                cursor.execute(sql(_HISTORY), (ticket_id, now, f"TKT-{ticket_id:03d}"))
                cursor.execute(sql(_OUTBOX), _outbox_row(ticket_id, now))

        return _creations_per_second(create_one, seconds=seconds)


def _like_clause(word_count: int, *, like: str, placeholder: str) -> str:
    one = f"""(t.title {like} ? OR t.description {like} ?
      OR EXISTS (SELECT 1 FROM ticket_comments c
                 WHERE c.ticket_id = t.id AND NOT c.is_internal AND c.body {like} ?)
      OR EXISTS (SELECT 1 FROM ticket_tags tt JOIN tags g ON g.id = tt.tag_id
                 WHERE tt.ticket_id = t.id AND g.name {like} ?))"""
    return " AND ".join([one] * word_count).replace("?", placeholder)


def like_search_seconds(database_url: str, words: list[str], *, repeat: int) -> list[float]:
    """Each run's time for the total and the first page of 20 matching every word."""
    params = [f"%{word}%" for word in words for _ in range(4)]
    if _on_postgres(database_url):
        where = _like_clause(len(words), like="ILIKE", placeholder="%s")
        with psycopg.connect(_postgres_dsn(database_url), autocommit=True) as connection:
            return _timed_queries(connection.execute, where, params, repeat=repeat)
    where = _like_clause(len(words), like="LIKE", placeholder="?")
    sqlite = connect(make_url(database_url).database or "")
    try:
        return _timed_queries(sqlite.execute, where, params, repeat=repeat)
    finally:
        sqlite.close()


def _timed_queries(
    execute: Callable[..., Any], where: str, params: list[str], *, repeat: int
) -> list[float]:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        execute(f"SELECT COUNT(*) FROM tickets t WHERE {where}", params).fetchone()
        execute(
            f"SELECT t.id FROM tickets t WHERE {where} ORDER BY t.id DESC LIMIT 20", params
        ).fetchall()
        timings.append(time.perf_counter() - started)
    return timings
