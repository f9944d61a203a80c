"""The caller of a bulk update, authenticated in a read session.

A bulk update opens a write savepoint per chunk of tickets itself (services.api.bulk.service):
the write savepoint that DbSession opens for every other write would hold the process's write
turn for the whole call, and the chunks could never get it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query

from services.api.auth.keys import authenticate
from shared.errors import Forbidden
from shared.models import User
from shared.unit_of_work import read_session


async def _bulk_caller(
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    user_id: Annotated[
        int | None,
        Query(
            description="Accepted as on the other writes: when given, it must be the API key's "
            "user's id (403 otherwise)."
        ),
    ] = None,
) -> User:
    async with read_session() as session:
        user = authenticate(session, authorization=authorization)
    if user_id is not None and user_id != user.id:
        raise Forbidden(
            "user_id names another user: the actor is always the API key's user", field="user_id"
        )
    return user


BulkCaller = Annotated[User, Depends(_bulk_caller)]
