"""The one way to run a transaction, for every entry point.

- `transaction(write=...)` is a synchronous unit of work: worker tasks, the notifier's store,
  the publisher and the CLI. Commit on success, roll back on any error, then the post-commit
  hooks.
- `write_savepoint()` and `read_session()` are the asyncio entry points (REST routes, MCP tools).
  They wait for the database in the event loop, never in threads: with every thread of the pool
  blocked on a connection, a request holding one would find no thread to finish on.
- Writes of one process are batched (group commit): one transaction is open at a time, each
  request runs in a savepoint of it, so a failing request rolls back alone, and the transaction
  commits when no other write is waiting (or the batch is full). A request's answer waits for
  its batch's commit, so a 2xx still means committed. One commit, one SQLite write-lock turn and
  one publisher wake-up serve many requests.
- Post-commit hooks: `on_commit(callback)` is told of every commit (whether it wrote outbox
  rows, how many requests it carried); the API wakes its publisher and counts batches with it.

Engine policy (SQLite's write lock, PostgreSQL's pool) lives in `shared.db` and here, not in
HTTP dependencies.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TypeVar

import anyio.to_thread
from sqlalchemy.orm import Session, SessionTransaction

from shared.db import POSTGRES_POOL_CONNECTIONS, SQLITE_READERS, new_session
from shared.events import wrote_events
from shared.settings import get_settings

logger = logging.getLogger(__name__)

# A batch commits once it holds this many requests or has been open this long, waiting writers
# or not: the SQLite write lock is shared with the worker and the notifier, which must not wait
# behind an endless batch.
MAX_BATCH_REQUESTS = 64
MAX_BATCH_SECONDS = 0.05


@dataclass(frozen=True)
class Commit:
    wrote_events: bool
    requests: int  # the requests a batch carried; 0 for a `transaction()`


_commit_hooks: list[Callable[[Commit], None]] = []


def on_commit(callback: Callable[[Commit], None]) -> Callable[[], None]:
    """Call `callback` after each commit of this process; returns its remover."""
    _commit_hooks.append(callback)
    return lambda: _commit_hooks.remove(callback)


def _after_commit(session: Session, *, requests: int) -> None:
    commit = Commit(wrote_events=wrote_events(session), requests=requests)
    for callback in list(_commit_hooks):
        callback(commit)


@contextmanager
def transaction(*, write: bool = True) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any exception, then the hooks."""
    session = new_session(write=write)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
    _after_commit(session, requests=0)


@dataclass
class _Batch:
    session: Session
    opened_at: float = field(default_factory=time.monotonic)
    members: int = 0
    requests: int = 0  # members that are requests (not the publisher's marks)
    closer: asyncio.Task[None] | None = None  # held here: the loop keeps only a weak reference
    committed: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class WriteBatcher:
    """This process's write transactions, one at a time, a savepoint per request."""

    def __init__(self) -> None:
        self._turn = asyncio.Lock()
        self._waiting = 0
        self._batch: _Batch | None = None
        self._sqlite = get_settings().is_sqlite

    @asynccontextmanager
    async def savepoint(self, *, request: bool = True) -> AsyncIterator[Session]:
        self._waiting += 1
        try:
            await self._turn.acquire()
        finally:
            self._waiting -= 1
        try:
            batch, nested = await self._join()
            batch.requests += request
            try:
                yield batch.session
            except BaseException:
                await self._leave(batch, nested, failed=True)
                raise
            await self._leave(batch, nested, failed=False)
        finally:
            self._turn.release()
        # The answer goes out only once the batch is committed (shielded: a client that hangs
        # up does not cancel its neighbours' commit).
        await asyncio.shield(batch.committed)

    async def _join(self) -> tuple[_Batch, SessionTransaction]:
        batch = self._batch
        if batch is None:
            batch = _Batch(session=new_session(write=True))
            # BEGIN (IMMEDIATE on SQLite) may wait for another process's write lock: in a
            # thread, not in the event loop.
            try:
                nested = await anyio.to_thread.run_sync(_begin, batch.session)
            except BaseException:
                batch.session.close()  # gives its connection back to the pool
                raise
            self._batch = batch
        else:
            # Inside an open transaction a SAVEPOINT never waits.
            nested = batch.session.begin_nested()
        return batch, nested

    async def _leave(self, batch: _Batch, nested: SessionTransaction, *, failed: bool) -> None:
        try:
            if failed:
                nested.rollback()
            else:
                nested.commit()  # RELEASE, flushing what the request left pending
        except BaseException:
            if nested.is_active:
                nested.rollback()
            await self._finish(batch)
            raise
        batch.members += 1
        full = batch.members >= MAX_BATCH_REQUESTS
        old = time.monotonic() - batch.opened_at >= MAX_BATCH_SECONDS
        if self._waiting == 0 or full or old:
            await self._finish(batch)
        elif batch.closer is None:
            # Writers are waiting: they join this transaction. The closer queues behind them
            # (the lock is FIFO) and commits whatever they leave open, should one give up.
            batch.closer = asyncio.get_running_loop().create_task(self._close(batch))

    async def _close(self, batch: _Batch) -> None:
        async with self._turn:
            if self._batch is batch:
                try:
                    await self._finish(batch)
                except Exception:  # its members answer with the error; nobody else to tell
                    logger.exception("committing a batch of writes failed")

    async def _finish(self, batch: _Batch) -> None:
        """Commit the batch (called holding the turn) and tell its members."""
        self._batch = None
        session = batch.session
        try:
            if self._sqlite:
                # A WAL append (synchronous=NORMAL: no fsync), quicker than the hop to a
                # thread during which the write lock would stay held.
                session.commit()
            else:
                await anyio.to_thread.run_sync(session.commit)
        except BaseException as error:
            await anyio.to_thread.run_sync(session.rollback)
            session.close()
            if not batch.committed.done():
                batch.committed.set_exception(error)
                # Members that already failed never look at the outcome.
                batch.committed.exception()
            raise
        session.close()
        batch.committed.set_result(None)
        _after_commit(session, requests=batch.requests)


def _begin(session: Session) -> SessionTransaction:
    """Open the batch's transaction and its first savepoint now. `begin_nested()` alone
    connects lazily: the BEGIN, and its wait for the lock, would come with the first
    statement, which runs in the event loop and would stop every request of the process."""
    nested = session.begin_nested()
    session.connection()
    return nested


_batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, WriteBatcher] = (
    weakref.WeakKeyDictionary()
)
_read_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _batcher() -> WriteBatcher:
    loop = asyncio.get_running_loop()
    batcher = _batchers.get(loop)
    if batcher is None:
        batcher = _batchers[loop] = WriteBatcher()
    return batcher


def _read_turn() -> asyncio.Semaphore:
    """Read transactions at once: on SQLite a few (more threads only fight over the GIL; 64
    concurrent GETs were served a third faster through 2-4 readers than through 40), on
    PostgreSQL as many as the pool has connections."""
    loop = asyncio.get_running_loop()
    turn = _read_turns.get(loop)
    if turn is None:
        size = SQLITE_READERS if get_settings().is_sqlite else POSTGRES_POOL_CONNECTIONS // 2
        turn = _read_turns[loop] = asyncio.Semaphore(size)
    return turn


T = TypeVar("T")


async def run_sync(work: Callable[[], T]) -> T:
    """Run sync database work from the event loop: inline on SQLite, where a statement of a
    transaction this process holds never waits (a local file, microseconds: cheaper than the
    hop to a thread), in a worker thread on PostgreSQL (network round trips)."""
    if _sqlite():
        return work()
    return await anyio.to_thread.run_sync(work)


@lru_cache
def _sqlite() -> bool:
    return get_settings().is_sqlite


@asynccontextmanager
async def write_savepoint(*, request: bool = True) -> AsyncIterator[Session]:
    """A savepoint in this process's open write transaction; exits once that has committed.
    `request=False`: housekeeping riding along (not counted as a request of the batch)."""
    async with _batcher().savepoint(request=request) as session:
        yield session


@asynccontextmanager
async def read_session() -> AsyncIterator[Session]:
    """A read-only session, after waiting in the event loop for a reader's turn."""
    async with _read_turn():
        session = new_session(write=False)
        try:
            yield session
        finally:
            session.close()
