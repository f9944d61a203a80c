"""The MCP endpoint's door: only POST, and only with a valid API key, reaches the MCP handling."""

from __future__ import annotations

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from services.api.auth.keys import authenticate
from services.api.errors import problem
from shared.errors import Unauthenticated
from shared.unit_of_work import read_session


class BearerKeyGate:
    """Refuse, with the REST API's problems, what the stateless MCP server has no use for.

    Any method but POST gets 405 with `Allow: POST`, as the streamable HTTP transport provides
    for a server without a stream of its own: a GET would otherwise hold an event stream open
    forever (a ping every 15 s, nothing else ever sent on it) and a DELETE has no session to
    end. A request whose bearer key resolves to no active user gets 401 before any MCP
    handling; each tool call resolves the key again in its own transaction, so a key revoked
    between the two is refused too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if scope["method"] != "POST":
                refusal = problem(
                    405,
                    f"{scope['method']} is not offered at /mcp: the MCP server is stateless, "
                    "each JSON-RPC message is one POST answered in full",
                    headers={"Allow": "POST"},
                )
                await refusal(scope, receive, send)
                return
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
