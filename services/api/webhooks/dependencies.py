"""Who may manage webhooks, known before any write turn is taken."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from services.api.auth.keys import authenticate
from services.api.webhooks.service import require_admin
from shared.models import User
from shared.unit_of_work import read_session, run_sync


async def _admin(
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> User:
    """The admin behind the request's key, looked up in a read session: registering a URL
    resolves its host first, and neither the lookup nor a refusal should wait for (or hold)
    this process's turn to write."""
    async with read_session() as session:
        user = await run_sync(lambda: authenticate(session, authorization=authorization))
    require_admin(user)
    return user


Admin = Annotated[User, Depends(_admin)]
