"""Request-scoped dependencies: the database session and the authenticated user."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from sqlalchemy.orm import Session

from services.api.auth.keys import authenticate, authenticated_key
from shared.errors import Forbidden
from shared.models import User
from shared.reference_cache import KeyRecord
from shared.unit_of_work import read_session, write_savepoint

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def _request_session(request: Request) -> AsyncIterator[Session]:
    """The request's session, from the one unit of work: a read session for reads, a savepoint
    of this process's batched write transaction for writes (answered after it commits).

    An async dependency: the turn is awaited in the event loop, and each sync dependency would
    cost a hop through the thread pool, about as much as a small query."""
    if request.method in _READ_METHODS:
        async with read_session() as session:
            yield session
    else:
        async with write_savepoint() as session:
            yield session


# scope="function": the commit runs when the route returns, before the response is sent, so
# a 2xx always means the change and its events are committed.
DbSession = Annotated[Session, Depends(_request_session, scope="function")]


async def _current_user(
    session: DbSession,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> User:
    # In the event loop: with the key and its user cached, this is one primary-key read (the
    # reference version), cheaper than the hop to a worker thread.
    return authenticate(session, authorization=authorization)


CurrentUser = Annotated[User, Depends(_current_user)]


async def _current_api_key(
    session: DbSession,
    _user: CurrentUser,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> KeyRecord:
    return authenticated_key(session, authorization=authorization)


# The key the request authenticated with (after CurrentUser let it in).
CurrentApiKey = Annotated[KeyRecord, Depends(_current_api_key)]


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
