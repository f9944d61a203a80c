"""Database engine and sessions.

SQLite is opened in WAL mode with foreign keys. Writes go through one connection per process (a
pool of one): threads queue for it in Python, where the hand-over is immediate. Write
transactions start with `BEGIN IMMEDIATE`, taking the lock up front, so a writer never fails
upgrading a read lock; between processes the lock is retried every millisecond or so, because
SQLite's own busy handler backs off to 100 ms sleeps and lets a busy process starve the others
for seconds. Readers never wait for writers (WAL).
"""

from __future__ import annotations

import random
import sqlite3
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session, sessionmaker

from shared.settings import Settings, get_settings

_BEGIN_OPTION = "sqlite_begin"
# Connections per process on PostgreSQL (the API lets as many requests at the database at once):
# a few processes stay well under the server's default of 100.
POSTGRES_POOL_CONNECTIONS = 20
# Read transactions at once per API process on SQLite (readers never wait for the writer in WAL
# mode; the limit is the GIL, see services/api/dependencies.py).
SQLITE_READERS = 4


def create_db_engine(settings: Settings, *, writer: bool = False) -> Engine:
    """Build the engine for `settings.database_url`; for SQLite, `writer` gives the one-connection
    engine that every write of this process goes through."""
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        # Sessions in UTC, so date() and the like group by UTC days as SQLite does.
        return create_engine(
            url,
            pool_pre_ping=True,
            pool_size=POSTGRES_POOL_CONNECTIONS // 2,
            max_overflow=POSTGRES_POOL_CONNECTIONS - POSTGRES_POOL_CONNECTIONS // 2,
            pool_timeout=settings.sqlite_busy_timeout_ms / 1000,
            connect_args={"options": "-c timezone=utc"},
        )

    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    busy_timeout_ms = settings.sqlite_busy_timeout_ms
    pool = (
        {"pool_size": 1, "max_overflow": 0, "pool_timeout": busy_timeout_ms / 1000}
        if writer
        else {"pool_size": 20, "max_overflow": 20}
    )
    engine = create_engine(
        url,
        connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
        **pool,
    )

    @event.listens_for(engine, "connect")
    def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        # On the driver's connection: every request begins a transaction, and running the
        # BEGIN through SQLAlchemy's execution layer cost as much as a small query.
        driver_connection = connection.connection.driver_connection
        assert driver_connection is not None
        if mode != "IMMEDIATE":
            driver_connection.execute(f"BEGIN {mode}")
            return
        _begin_immediate(driver_connection, timeout=busy_timeout_ms / 1000)

    return engine


def _begin_immediate(dbapi_connection: Any, *, timeout: float) -> None:
    """Take the write lock, retrying briefly and often until `timeout` (see the module doc)."""
    deadline = time.monotonic() + timeout
    delay = 0.0005
    busy_timeout = dbapi_connection.execute("PRAGMA busy_timeout").fetchone()[0]
    dbapi_connection.execute("PRAGMA busy_timeout = 0")
    try:
        while True:
            try:
                dbapi_connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 1.5, 0.004)
    finally:
        dbapi_connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout)}")


@lru_cache
def get_engine() -> Engine:
    return create_db_engine(get_settings())


@lru_cache
def get_write_engine() -> Engine:
    settings = get_settings()
    if not settings.is_sqlite:
        return get_engine()
    engine = create_db_engine(settings, writer=True)
    return engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})


@lru_cache
def _session_factories() -> tuple[sessionmaker[Session], sessionmaker[Session]]:
    read = sessionmaker(bind=get_engine(), expire_on_commit=False)
    write = sessionmaker(bind=get_write_engine(), expire_on_commit=False)
    return read, write


def new_session(*, write: bool) -> Session:
    """A session whose transactions take SQLite's write lock at BEGIN when `write` is set."""
    read_factory, write_factory = _session_factories()
    return (write_factory if write else read_factory)()


def insert_ignoring_duplicates(
    session: Session, table: type[Any], rows: list[dict[str, Any]]
) -> int:
    """INSERT … ON CONFLICT DO NOTHING on either engine; returns how many rows were new."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    result = session.execute(insert(table).values(rows).on_conflict_do_nothing())
    return int(getattr(result, "rowcount", 0) or 0)
