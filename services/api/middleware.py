"""ASGI middleware: refuse oversized bodies and control characters in query strings, and
answer every unexpected error in our shape."""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.errors import problem, unexpected_error
from services.api.schemas import control_character, control_character_message

logger = logging.getLogger(__name__)


class _BodyTooLarge(HTTPException):
    """Raised from `receive`; FastAPI passes HTTPException through to the problem handler."""


# The attachment uploads: their bodies may be as large as the files one upload may carry.
UPLOAD_PATH = re.compile(r"^/tickets/[^/]+(/comments/[^/]+)?/attachments/?$")


class BodySizeLimit:
    """413 for a body over `max_bytes` (`upload_max_bytes` for attachment uploads, whose
    parts the multipart parser spools to disk as they arrive), whether it declares its length
    or streams chunks."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, upload_max_bytes: int | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_max_bytes = max(upload_max_bytes or max_bytes, max_bytes)

    def _limit(self, scope: Scope) -> int:
        if scope.get("method") == "POST" and UPLOAD_PATH.match(scope.get("path", "")):
            return self.upload_max_bytes
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self._limit(scope)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            await self._refuse(scope, receive, send, max_bytes)
            return

        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise _BodyTooLarge(413, f"the request body is larger than {max_bytes} bytes")
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not response_started:
                await self._refuse(scope, receive, send, max_bytes)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, max_bytes: int) -> None:
        response = problem(413, f"the request body is larger than {max_bytes} bytes")
        await response(scope, receive, send)


class UnhandledErrors:
    """A 500 problem for any exception that escaped the handlers.

    Starlette's own catch-all re-raises after answering, which makes uvicorn drop the keep-alive
    connection under the client's next request; this answers and keeps the connection usable.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            logger.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if response_started:
                raise
            await unexpected_error()(scope, receive, send)


class ControlCharactersInQuery:
    """422 for a query parameter holding a control character (`q=%00`), on every route: the
    one check for query strings, as `TextInput` is for bodies. No query parameter is long
    text, so tab and line breaks are refused too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if query:
            # Read as Starlette reads it for the routes.
            for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                char = control_character(name) or control_character(value)
                if char is not None:
                    message = control_character_message(char, long_text=False)
                    response = problem(
                        422,
                        f"invalid value for: {name}",
                        errors=[{"field": name, "message": message}],
                    )
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)
