"""CORS for the origins in CORS_ORIGINS, and nothing at all for any other origin."""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import Message, Send


class ListedOriginsCORS(CORSMiddleware):
    """Starlette's CORS, except that a request from an origin not listed gets no
    Access-Control-* header: Starlette still tells it Allow-Credentials and Expose-Headers on
    answers, and Allow-Methods, Allow-Headers and Max-Age on its refused preflight."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if not self.is_allowed_origin(origin=request_headers["origin"]):
            for name in [n for n in response.headers if n.startswith("access-control-")]:
                del response.headers[name]
        return response

    async def send(self, message: Message, send: Send, request_headers: Headers) -> None:
        origin = request_headers.get("origin")
        if origin is None or self.is_allowed_origin(origin=origin):
            await super().send(message, send, request_headers)
            return
        if message["type"] == "http.response.start":
            # The answer differs by origin: a shared cache must not reuse it for a listed one.
            headers = MutableHeaders(scope=message)
            headers["Vary"] = ", ".join([*headers.getlist("Vary"), "Origin"])
        await send(message)
