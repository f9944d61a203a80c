"""The MCP endpoint's door: a request without a valid API key gets 401 before any MCP handling."""

from __future__ import annotations

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from services.api.auth.keys import authenticate
from services.api.errors import problem
from shared.errors import Unauthenticated
from shared.unit_of_work import read_session


class BearerKeyGate:
    """Refuse, with the REST API's 401 problem, HTTP requests whose bearer key resolves to no
    active user. Each tool call resolves the key again in its own transaction, so a key revoked
    between the two is refused too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            authorization = Headers(scope=scope).get("authorization")
            try:
                async with read_session() as session:
                    await anyio.to_thread.run_sync(
                        lambda: authenticate(session, authorization=authorization)
                    )
            except Unauthenticated as error:
                refusal = problem(
                    401, error.detail, title=error.title, headers={"WWW-Authenticate": "Bearer"}
                )
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)
