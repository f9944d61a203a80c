"""Counting requests in Redis with the `limits` library's fixed windows, and stepping aside at
once when Redis is away: the API keeps taking tickets without limits (DESIGN.md invariant 3)."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem
from limits.aio.storage import RedisStorage
from limits.errors import StorageError
from redis.asyncio import ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

KEY_PREFIX = "ratelimit"
# A full dict of window ends is cleared of past windows; beyond this many live ones, it is
# simply emptied (each live window's end is then fetched again, once).
_MAX_REMEMBERED_WINDOWS = 50_000


@dataclass(frozen=True)
class Window:
    """One counter's state after a request: what the RateLimit-* headers say."""

    limit: int
    used: int
    reset_seconds: int

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit


class RequestCounter:
    """Fixed-window counters in Redis. Every call either answers within the timeout or returns
    None (not enforced); after a failure Redis is left alone for `pause_after_failure` so a dead
    Redis costs one timeout every couple of seconds, not one per request."""

    def __init__(
        self, *, redis_url: str, timeout_seconds: float, pause_after_failure_seconds: float
    ) -> None:
        self._redis_url = redis_url
        self._timeout_seconds = timeout_seconds
        self._pause_seconds = pause_after_failure_seconds
        self._storage: RedisStorage | None = None
        self._unavailable_until = 0.0
        self.last_error: str | None = None
        # limit key -> the wall-clock end of its current window. The window's end is fixed when
        # its first request counts it, so in the steady state a request costs one Redis call.
        self._window_ends: dict[str, float] = {}

    @property
    def available(self) -> bool:
        """False while a recent Redis failure is remembered."""
        return time.monotonic() >= self._unavailable_until

    def _storage_for_loop(self) -> RedisStorage:
        # Made on first use, inside the server's event loop that its connections belong to.
        if self._storage is None:
            url = self._redis_url.removeprefix("async+")
            options: dict[str, Any] = {
                # No retries: a refused or slow Redis means "not enforced" for this request.
                "connection_pool": ConnectionPool.from_url(
                    url,
                    socket_timeout=self._timeout_seconds,
                    socket_connect_timeout=self._timeout_seconds,
                    retry=Retry(NoBackoff(), 0),
                ),
            }
            self._storage = RedisStorage(
                f"async+{url}",
                wrap_exceptions=True,
                implementation="redispy",
                key_prefix=KEY_PREFIX,
                **options,
            )
        return self._storage

    async def hit(self, item: RateLimitItem, *identifiers: str) -> Window | None:
        """Count one request against `item` for `identifiers`; None when Redis cannot say."""
        if not self.available:
            return None
        key = item.key_for(*identifiers)
        try:
            storage = self._storage_for_loop()
            used = await storage.incr(key, item.get_expiry())
            window_end = await self._window_end(storage, key, first=used == 1, item=item)
        except (StorageError, RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)
            return None
        self._succeeded()
        return Window(item.amount, used, _seconds_until(window_end))

    async def peek(self, item: RateLimitItem, *identifiers: str) -> Window | None:
        """The counter's state without counting; None when Redis cannot say. The window's end
        is only looked up once the limit is reached (the only time anyone is told)."""
        if not self.available:
            return None
        key = item.key_for(*identifiers)
        try:
            storage = self._storage_for_loop()
            used = await storage.get(key)
            reset_seconds = item.get_expiry()  # at most; exact below when it will be shown
            if used >= item.amount:
                window_end = await self._window_end(storage, key, first=False, item=item)
                reset_seconds = _seconds_until(window_end)
        except (StorageError, RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)
            return None
        self._succeeded()
        return Window(item.amount, used, reset_seconds)

    async def _window_end(
        self, storage: RedisStorage, key: str, *, first: bool, item: RateLimitItem
    ) -> float:
        now = time.time()
        if first:
            window_end = now + item.get_expiry()
        else:
            known = self._window_ends.get(key)
            if known is not None and known > now:
                return known
            window_end = await storage.get_expiry(key)
        if len(self._window_ends) >= _MAX_REMEMBERED_WINDOWS:
            self._window_ends = {k: end for k, end in self._window_ends.items() if end > now}
            if len(self._window_ends) >= _MAX_REMEMBERED_WINDOWS:
                self._window_ends.clear()
        self._window_ends[key] = window_end
        return window_end

    def _failed(self, exc: BaseException) -> None:
        if self.last_error is None:
            logger.warning("rate limits not enforced, Redis is unreachable: %s", exc)
        self.last_error = str(exc)[:200] or type(exc).__name__
        self._unavailable_until = time.monotonic() + self._pause_seconds

    def _succeeded(self) -> None:
        if self.last_error is not None:
            logger.info("rate limits enforced again, Redis is back")
            self.last_error = None


def _seconds_until(moment: float) -> int:
    return max(1, math.ceil(moment - time.time()))
