"""A write waiting for the database (another process holds SQLite's write lock, or a lock on
the table) waits alone: the API process goes on answering everything else meanwhile."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.helpers import new_ticket
from tests.support.databases import tickets_write_lock
from tests.support.processes import wait_until


def _lock_waits(db: Session) -> int:
    db.rollback()
    return int(db.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted")) or 0)


def test_reads_are_answered_while_a_write_waits_for_the_lock(
    agent: httpx.Client, db: Session, database_url: str
) -> None:
    with ThreadPoolExecutor(max_workers=1) as pool, tickets_write_lock(database_url):
        waiting = pool.submit(new_ticket, agent)
        if not database_url.startswith("sqlite"):
            wait_until(lambda: _lock_waits(db) > 0, timeout=10, what="the ticket to wait")
        # The batch's BEGIN IMMEDIATE waits in a thread; were it issued with the batch's first
        # statement, in the event loop, nothing would be answered until the lock is let go.
        # Reads go on for a while (on SQLite nothing shows when the write starts waiting).
        until = time.monotonic() + 1.5
        while time.monotonic() < until:
            for path in ("/health", "/tickets?limit=1", "/categories"):
                assert agent.get(path, timeout=3).status_code == 200, path
        assert not waiting.done()
    assert waiting.result(timeout=30)["id"]
