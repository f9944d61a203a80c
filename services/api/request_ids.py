"""Request ids: every request gets one (the caller's `X-Request-ID` when it is sane), every log
line of the request carries it, and every response tells it, errors included."""

from __future__ import annotations

import re
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.logging_setup import log_context

HEADER = "X-Request-ID"
# What a proxy or a client library sends (uuids, hex, dotted ids); anything else could forge
# log lines or blow up a log index, so it is replaced rather than trusted.
_ACCEPTED = re.compile(r"[A-Za-z0-9._-]{1,100}")


def request_id_for(supplied: str | None) -> str:
    if supplied is not None and _ACCEPTED.fullmatch(supplied):
        return supplied
    return uuid.uuid4().hex


class RequestIds:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = next(
            (value for name, value in scope["headers"] if name == b"x-request-id"), None
        )
        request_id = request_id_for(supplied.decode("latin-1") if supplied is not None else None)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        with log_context(request_id=request_id):
            await self.app(scope, receive, send_with_id)
