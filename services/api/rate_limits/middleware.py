"""The rate limit check in front of every request, and the RateLimit-* headers on every answer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from limits import RateLimitItem
from limits import parse as parse_rate_limit
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.auth.keys import hash_key
from services.api.errors import problem
from services.api.rate_limits.callers import KnownKeys, start_note
from services.api.rate_limits.counter import RequestCounter, Window
from shared.settings import Settings

# Probes, scrapes and the documentation are never limited: a load balancer or Prometheus must
# not be locked out by traffic, and the docs are static.
EXEMPT_PATHS = frozenset(
    {"/health", "/ready", "/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
)


@dataclass(frozen=True)
class RateLimits:
    """The configured limits, parsed once."""

    by_role: dict[str, RateLimitItem]
    anonymous: RateLimitItem
    failed_auth: RateLimitItem

    @property
    def unverified_key(self) -> RateLimitItem:
        """A request with a key this process has not seen authenticate yet (after a restart,
        every key): counted as its address, at the most generous role's rate, so a busy
        client is not refused a burst of 429s while its key becomes known. Guessed keys are
        stopped by the failed-authentication limit."""
        return max(self.by_role.values(), key=lambda item: item.amount / item.get_expiry())

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimits:
        return cls(
            by_role={
                "customer": parse_rate_limit(settings.rate_limit_customer),
                "agent": parse_rate_limit(settings.rate_limit_agent),
                "admin": parse_rate_limit(settings.rate_limit_admin),
            },
            anonymous=parse_rate_limit(settings.rate_limit_anonymous),
            failed_auth=parse_rate_limit(settings.rate_limit_failed_auth),
        )


class RateLimiter:
    """The process's limits, its counter and the keys it knows; `/ready` reads its state."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limit_enabled
        self.limits = RateLimits.from_settings(settings)
        self.counter = RequestCounter(
            redis_url=settings.redis_url,
            timeout_seconds=settings.rate_limit_redis_timeout_seconds,
            pause_after_failure_seconds=settings.rate_limit_pause_after_failure_seconds,
        )
        self.known_keys = KnownKeys()


def _bearer_key_hash(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, key = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and key.strip():
                return hash_key(key.strip())
            return None
    return None


def _client_address(scope: Scope) -> str:
    # uvicorn puts the proxy's X-Forwarded-For address here when it trusts the proxy
    # (FORWARDED_ALLOW_IPS); otherwise this is the peer address.
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _headers(window: Window) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(window.limit),
        "RateLimit-Remaining": str(window.remaining),
        "RateLimit-Reset": str(window.reset_seconds),
    }


class RateLimitMiddleware:
    """429 once a key (or, without a known key, an address) is past its limit, or once an
    address has failed authentication too often; RateLimit-* headers on every other answer."""

    def __init__(self, app: ASGIApp, *, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limiter = self.limiter
        if (
            scope["type"] != "http"
            or not limiter.enabled
            or scope["path"] in EXEMPT_PATHS
            or not limiter.counter.available
        ):
            await self.app(scope, receive, send)
            return

        key_hash = _bearer_key_hash(scope)
        known = limiter.known_keys.get(key_hash) if key_hash is not None else None
        address = _client_address(scope)
        limits = limiter.limits
        if known is not None:
            window = await limiter.counter.hit(
                limits.by_role.get(known.role, limits.anonymous), "key", str(known.api_key_id)
            )
            refusal = window if window is not None and window.exceeded else None
        else:
            # Not known to be valid: counted as its address, and refused while the address is
            # past its failed-authentication limit.
            per_address = limits.anonymous if key_hash is None else limits.unverified_key
            window, failures = await asyncio.gather(
                limiter.counter.hit(per_address, "address", address),
                limiter.counter.peek(limits.failed_auth, "failed-auth", address),
            )
            if failures is not None and failures.used >= failures.limit:
                refusal = failures
            else:
                refusal = window if window is not None and window.exceeded else None

        if refusal is not None:
            seconds = refusal.reset_seconds
            response = problem(
                429,
                f"too many requests; retry in {seconds} s",
                title="Too many requests",
                headers={**_headers(refusal), "Retry-After": str(seconds)},
            )
            await response(scope, receive, send)
            return

        note = start_note()
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if window is not None:
                    MutableHeaders(scope=message).update(_headers(window))
            await send(message)

        await self.app(scope, receive, send_with_headers)

        if key_hash is not None and note.api_key_id is not None and note.role is not None:
            limiter.known_keys.remember(key_hash, api_key_id=note.api_key_id, role=note.role)
        elif status == 401:
            if key_hash is not None:
                limiter.known_keys.forget(key_hash)
            await limiter.counter.hit(limits.failed_auth, "failed-auth", address)
