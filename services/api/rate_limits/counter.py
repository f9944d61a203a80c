"""Counting requests in Redis: fixed windows of the `limits` library's rate items, one script
call per check, and stepping aside at once when Redis is away: the API keeps taking tickets
without limits (DESIGN.md invariant 3).

Why a script of our own rather than `limits`' storage: a check counts the caller's budget and,
for callers without a known key, reads the address's failed-authentication counter too, with
both windows' remaining time. `limits` offers one counter per call and the remaining time as
another call; this is the same fixed window (INCR, EXPIRE on the first hit, keys named by the
rate item) in one round trip."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

KEY_PREFIX = "ratelimit"

# KEYS[1]: the counter to count requests in; KEYS[2], when given: a counter only read.
# ARGV[1]: KEYS[1]'s window in milliseconds; ARGV[2]: how many requests to count.
# Returns {used, ms left} for each key.
_COUNT_AND_READ = """
local used = redis.call('incrby', KEYS[1], ARGV[2])
local left = redis.call('pttl', KEYS[1])
if left < 0 then
    redis.call('pexpire', KEYS[1], ARGV[1])
    left = tonumber(ARGV[1])
end
if not KEYS[2] then
    return {used, left}
end
local read = tonumber(redis.call('get', KEYS[2]) or '0')
return {used, left, read, math.max(redis.call('pttl', KEYS[2]), 0)}
"""


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


@dataclass(frozen=True)
class Counter:
    """A rate item and whose requests it counts (("user", "4"), ("address", "10.0.0.7"))."""

    item: RateLimitItem
    identifiers: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{KEY_PREFIX}:{self.item.key_for(*self.identifiers)}"


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
        self._redis: Redis | None = None
        self._script: AsyncScript | None = None
        self._unavailable_until = 0.0
        self.last_error: str | None = None

    @property
    def available(self) -> bool:
        """False while a recent Redis failure is remembered."""
        return time.monotonic() >= self._unavailable_until

    def _script_for_loop(self) -> AsyncScript:
        # Made on first use, inside the server's event loop that its connections belong to.
        if self._script is None:
            pool = ConnectionPool.from_url(
                self._redis_url.removeprefix("async+"),
                socket_timeout=self._timeout_seconds,
                socket_connect_timeout=self._timeout_seconds,
                # No retries: a refused or slow Redis means "not enforced" for this request.
                retry=Retry(NoBackoff(), 0),
            )
            self._redis = Redis(connection_pool=pool)
            self._script = self._redis.register_script(_COUNT_AND_READ)
        return self._script

    async def hit(self, counter: Counter, *, requests: int = 1) -> Window | None:
        """Count `requests` requests in `counter`; None when Redis cannot say."""
        answer = await self._run([counter.key], expiry=counter.item.get_expiry(), count=requests)
        return None if answer is None else _window(counter, answer[0], answer[1])

    async def hit_many(self, counts: list[tuple[Counter, int]]) -> list[Window] | None:
        """Count requests in several counters in one round trip (a pipeline of script calls);
        None when Redis cannot say."""
        if not self.available:
            return None
        script = self._script_for_loop()
        assert self._redis is not None  # made with the script
        try:
            async with self._redis.pipeline(transaction=False) as pipeline:
                for counter, requests in counts:
                    await script(
                        keys=[counter.key],
                        args=[counter.item.get_expiry() * 1000, requests],
                        client=pipeline,
                    )
                answers: list[Any] = await pipeline.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)
            return None
        self._succeeded()
        return [
            _window(counter, answer[0], answer[1])
            for (counter, _requests), answer in zip(counts, answers, strict=True)
        ]

    async def hit_and_read(self, counter: Counter, read: Counter) -> tuple[Window, Window] | None:
        """Count one request in `counter` and read `read` without counting, in one round trip;
        None when Redis cannot say."""
        answer = await self._run([counter.key, read.key], expiry=counter.item.get_expiry())
        if answer is None:
            return None
        return _window(counter, answer[0], answer[1]), _window(read, answer[2], answer[3])

    async def _run(self, keys: list[str], *, expiry: int, count: int = 1) -> list[Any] | None:
        if not self.available:
            return None
        try:
            answer: list[Any] = await self._script_for_loop()(
                keys=keys, args=[expiry * 1000, count]
            )
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)
            return None
        self._succeeded()
        return answer

    def _failed(self, exc: BaseException) -> None:
        if self.last_error is None:
            logger.warning("rate limits not enforced, Redis is unreachable: %s", exc)
        self.last_error = str(exc)[:200] or type(exc).__name__
        self._unavailable_until = time.monotonic() + self._pause_seconds

    def _succeeded(self) -> None:
        if self.last_error is not None:
            logger.info("rate limits enforced again, Redis is back")
            self.last_error = None


def _window(counter: Counter, used: Any, milliseconds_left: Any) -> Window:
    reset_seconds = max(1, math.ceil(int(milliseconds_left) / 1000))
    return Window(counter.item.amount, int(used), reset_seconds)
