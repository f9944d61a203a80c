"""Request-scoped dependencies: the database session and the authenticated user."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from services.api.auth.keys import authenticate
from shared.db import POSTGRES_POOL_CONNECTIONS, SQLITE_READERS, new_session
from shared.errors import Forbidden
from shared.events import wrote_events
from shared.models import User
from shared.settings import get_settings

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# Requests queue for the database here, in the event loop, rather than in threads: with every
# thread of the pool blocked waiting for a connection, a request holding one would find no
# thread to finish on (a deadlock until the pool timeout). On SQLite one write transaction runs
# at a time per process, and a few readers: more threads than cores only fight over the GIL
# (measured: 64 concurrent GETs served a third faster through 2-4 readers than through 40, with
# a p99 half as long). On PostgreSQL as many requests as the pool has connections.
_sqlite_write_turn = asyncio.Lock()
_sqlite_read_turn = asyncio.Semaphore(SQLITE_READERS)
_postgres_turn = asyncio.Semaphore(POSTGRES_POOL_CONNECTIONS)


@asynccontextmanager
async def database_turn(*, write: bool) -> AsyncIterator[None]:
    """Wait here, in the event loop, for this process's turn at the database (see above); every
    entry point that runs service code in a thread (REST routes, MCP tools) takes it."""
    if not get_settings().is_sqlite:
        async with _postgres_turn:
            yield
    elif not write:
        async with _sqlite_read_turn:
            yield
    else:
        async with _sqlite_write_turn:
            yield


async def _database_turn(request: Request) -> AsyncIterator[None]:
    async with database_turn(write=request.method not in _READ_METHODS):
        yield


async def _request_session(
    request: Request, _turn: Annotated[None, Depends(_database_turn, scope="function")]
) -> AsyncIterator[Session]:
    """One transaction per request, committed before the response is sent; its events are
    handed to the publisher right after the commit.

    An async dependency: the session is opened and closed here in the event loop (neither
    touches the database until a query runs), and only a write's commit goes to a thread. Each
    sync dependency costs a hop through the thread pool, about as much as a small query."""
    write = request.method not in _READ_METHODS
    session = new_session(write=write)
    try:
        yield session
        if write and get_settings().is_sqlite:
            # Committing appends to the WAL (synchronous=NORMAL: no fsync), quicker than the
            # hop to a thread, during which the database's write lock would stay held.
            session.commit()
        elif write:
            await run_in_threadpool(session.commit)
    except BaseException:
        if write:
            await run_in_threadpool(session.rollback)
        raise
    finally:
        session.close()
    if wrote_events(session):
        request.app.state.publisher.wake()


# scope="function": the commit runs when the route returns, before the response goes out,
# so a 2xx always means the change and its events are committed.
DbSession = Annotated[Session, Depends(_request_session, scope="function")]


def _current_user(
    request: Request,
    session: DbSession,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> User:
    if request.method in _READ_METHODS or not get_settings().is_sqlite:
        return authenticate(session, authorization=authorization)
    # A SQLite write transaction takes the database's write lock at its first statement, and
    # the worker and the notifier wait for that lock too: the key is looked up on a read
    # connection, and the user joins the write session without a query.
    with new_session(write=False) as reader:
        user = authenticate(reader, authorization=authorization)
    return session.merge(user, load=False)


CurrentUser = Annotated[User, Depends(_current_user)]


async def _acting_user(
    user: CurrentUser,
    user_id: Annotated[
        int | None,
        Query(
            description=(
                "Accepted for compatibility with the original API. The actor of a change is "
                "always the API key's user; when given, user_id must be that user's id (403 "
                "otherwise)."
            ),
        ),
    ] = None,
) -> User:
    if user_id is not None and user_id != user.id:
        raise Forbidden(
            "user_id names another user: the actor is always the API key's user", field="user_id"
        )
    return user


ActingUser = Annotated[User, Depends(_acting_user)]
