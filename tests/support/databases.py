"""Fresh databases for tests: a SQLite file by default, or, with TEST_POSTGRES_URL set (an
admin connection to a PostgreSQL server, as `make test-postgres` sets it), a throw-away
PostgreSQL database created here and dropped when the test process ends."""

from __future__ import annotations

import atexit
import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

_created: list[str] = []


def postgres_admin_url() -> str | None:
    return os.environ.get("TEST_POSTGRES_URL") or None


def on_postgres() -> bool:
    return postgres_admin_url() is not None


def new_database_url(directory: Path) -> str:
    admin_url = postgres_admin_url()
    if admin_url is None:
        directory.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{directory / 'tickets.db'}"
    name = f"ticketing_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    if not _created:
        atexit.register(_drop_created)
    _created.append(name)
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _drop_created() -> None:
    admin_url = postgres_admin_url()
    if admin_url is None:
        return
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        for name in _created:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@contextmanager
def tickets_write_lock(database_url: str) -> Iterator[None]:
    """Hold what a write of tickets needs, as another process would: SQLite's write lock, or
    PostgreSQL's lock on the tickets table (reads go on)."""
    if not database_url.startswith("sqlite"):
        engine = create_engine(database_url)
        with engine.connect() as connection:
            connection.execute(text("LOCK TABLE tickets IN SHARE ROW EXCLUSIVE MODE"))
            yield
            connection.rollback()
        engine.dispose()
        return
    holder = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()
