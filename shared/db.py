"""Database engine and sessions.

SQLite is opened in WAL mode with foreign keys and a busy timeout. Write transactions start with
`BEGIN IMMEDIATE`: they take the write lock up front, so two writers queue on the busy timeout
instead of one failing with "database is locked" when it upgrades a read lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session, sessionmaker

from shared.settings import Settings, get_settings

_BEGIN_OPTION = "sqlite_begin"


def create_db_engine(settings: Settings) -> Engine:
    """Build the engine for `settings.database_url`, with SQLite tuned for concurrent writers."""
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)

    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    busy_timeout_ms = settings.sqlite_busy_timeout_ms
    engine = create_engine(
        url,
        connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
        pool_size=20,
        max_overflow=20,
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
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


@lru_cache
def get_engine() -> Engine:
    return create_db_engine(get_settings())


@lru_cache
def _session_factories() -> tuple[sessionmaker[Session], sessionmaker[Session]]:
    engine = get_engine()
    read = sessionmaker(bind=engine, expire_on_commit=False)
    write = sessionmaker(
        bind=engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"}), expire_on_commit=False
    )
    return read, write


def new_session(*, write: bool) -> Session:
    """A session whose transactions take SQLite's write lock at BEGIN when `write` is set."""
    read_factory, write_factory = _session_factories()
    return (write_factory if write else read_factory)()


@contextmanager
def session_scope(*, write: bool = True) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any exception."""
    session = new_session(write=write)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
