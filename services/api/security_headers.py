"""Security headers on every answer: no sniffing, no framing, no referrer, a content security
policy, and no caching of data. The docs pages get a policy that lets their assets load.
Redirects point at a path of this server, never at the Host the request named."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.settings import Settings

# JSON answers need nothing: no scripts, no styles, no frames.
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
# FastAPI's /docs (Swagger UI) and /redoc load their bundle and styles from cdn.jsdelivr.net,
# run one inline script (Swagger UI's setup) and inline styles, show FastAPI's favicon, load
# Redoc's Google fonts, start Redoc's web worker from a blob: URL and fetch /openapi.json.
DOCS_POLICY = (
    "default-src 'none'; "
    "script-src 'self' https://cdn.jsdelivr.net 'unsafe-inline'; "
    "style-src 'self' https://cdn.jsdelivr.net https://fonts.googleapis.com 'unsafe-inline'; "
    "font-src https://fonts.gstatic.com; "
    "img-src 'self' https://fastapi.tiangolo.com https://cdn.jsdelivr.net data:; "
    "connect-src 'self'; "
    "worker-src blob:; "
    "frame-ancestors 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})


def relative_location(location: str) -> str:
    """`location` without scheme and host: redirects built from the request's URL (Starlette's
    trailing-slash redirect) would send a client to whatever Host header it was tricked into
    sending. Leading slashes collapse to one: browsers read `//evil.example` and
    `/\\evil.example` as a host, not a path."""
    parts = urlsplit(location)
    if not (parts.scheme or parts.netloc or location.startswith(("/", "\\"))):
        return location  # relative to the request's path already
    path = "/" + parts.path.lstrip("/\\")
    return urlunsplit(("", "", path, parts.query, parts.fragment))


class SecurityHeaders:
    """Adds the headers a response does not set itself; makes a redirect's Location relative."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        common = {
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
        }
        if settings.hsts_max_age_seconds:
            # Only behind TLS: a browser keeps to HTTPS for this long once it saw the header.
            common["Strict-Transport-Security"] = (
                f"max-age={settings.hsts_max_age_seconds}; includeSubDomains"
            )
        self._api_headers = {
            **common,
            "Content-Security-Policy": API_POLICY,
            # Tickets, comments and users are private data: no browser or proxy keeps a copy.
            "Cache-Control": "no-store",
        }
        self._docs_headers = {**common, "Content-Security-Policy": DOCS_POLICY}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        added = self._docs_headers if scope["path"] in DOCS_PATHS else self._api_headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in added.items():
                    headers.setdefault(name, value)
                if 300 <= message["status"] < 400 and "location" in headers:
                    headers["location"] = relative_location(headers["location"])
            await send(message)

        await self.app(scope, receive, send_with_headers)
