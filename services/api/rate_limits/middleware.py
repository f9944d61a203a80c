"""The rate limit check in front of every request (at most one Redis round trip; none for a
known user far from their limit: rate_limits/local_windows.py), and the RateLimit-* headers on
every answer."""

from __future__ import annotations

from dataclasses import dataclass

from limits import RateLimitItem
from limits import parse as parse_rate_limit
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.auth.keys import hash_key
from services.api.errors import problem
from services.api.rate_limits.callers import KnownKeys, start_note
from services.api.rate_limits.counter import Counter, RequestCounter, Window
from services.api.rate_limits.local_windows import LocalWindows
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
        self.user_windows = LocalWindows(self.counter)


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
    """429 once a user (or, without a known key, an address) is past its limit, or once an
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
        refusal: Window | None = None
        if known is not None:
            # A user's keys share one budget: more keys are not more requests.
            budget = limits.by_role.get(known.role, limits.anonymous)
            window = await limiter.user_windows.hit(Counter(budget, ("user", str(known.user_id))))
        else:
            # Not known to be valid (no key, a made-up one, or one not yet seen authenticating
            # here): the address's anonymous budget, one round trip that also reads whether
            # the address is past its failed-authentication limit.
            counted = await limiter.counter.hit_and_read(
                Counter(limits.anonymous, ("address", address)),
                Counter(limits.failed_auth, ("failed-auth", address)),
            )
            window, failures = counted if counted is not None else (None, None)
            if failures is not None and failures.used >= failures.limit:
                refusal = failures
        if refusal is None and window is not None and window.exceeded:
            refusal = window

        if refusal is not None:
            seconds = refusal.reset_seconds
            response = problem(
                429,
                f"too many requests; retry in {seconds} s",
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

        if key_hash is not None and note.user_id is not None and note.role is not None:
            limiter.known_keys.remember(key_hash, user_id=note.user_id, role=note.role)
        elif status == 401:
            if key_hash is not None:
                limiter.known_keys.forget(key_hash)
            await limiter.counter.hit(Counter(limits.failed_auth, ("failed-auth", address)))
