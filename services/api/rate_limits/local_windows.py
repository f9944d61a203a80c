"""Known users' requests, counted in this process and reconciled with Redis in batches.

A round trip to Redis for every request cost an authenticated GET about a quarter of its CPU.
Far from a user's limit nothing is decided by the exact count, so this process counts the
user's requests itself and adds them to Redis's counter every `reconcile_seconds`, all users
in one round trip, learning the other processes' requests from the totals Redis answers.
Near the limit (within `margin_for(limit)` requests of it), at the start of a window and for a
user this process has not counted yet, a request is counted in Redis before it is answered, as
every request was before: small limits are exact, and the slack of a large one is at most
what the other processes counted in their last `reconcile_seconds`.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

from services.api.rate_limits.counter import Counter, RequestCounter, Window

RECONCILE_SECONDS = 0.05


def margin_for(limit: int) -> int:
    """How close to `limit` every request is counted in Redis first."""
    return max(16, limit // 10)


@dataclass
class _Tally:
    """One counter as this process knows it."""

    counter: Counter
    used: int  # the count Redis last answered: every process's requests until then
    pending: int  # this process's requests since, not yet sent to Redis
    ends_at: float  # time.monotonic() when the window ends
    sending: int = 0  # this process's requests on their way to Redis, not yet answered

    @property
    def known(self) -> int:
        return self.used + self.sending + self.pending


class LocalWindows:
    def __init__(
        self, counter: RequestCounter, *, reconcile_seconds: float = RECONCILE_SECONDS
    ) -> None:
        self._counter = counter
        self._reconcile_seconds = reconcile_seconds
        self._tallies: dict[str, _Tally] = {}
        self._scheduled = False
        self._reconciling: asyncio.Task[None] | None = None

    async def hit(self, counter: Counter) -> Window | None:
        """Count one request; the window as this process knows it (None: Redis cannot say)."""
        now = time.monotonic()
        tally = self._tallies.get(counter.key)
        if tally is None or now >= tally.ends_at:
            tally = None
        else:
            used = tally.known + 1
            if counter.item.amount - used >= margin_for(counter.item.amount):
                tally.pending += 1
                self._schedule()
                return Window(counter.item.amount, used, math.ceil(tally.ends_at - now))
        # Near the limit, or the first request of a window here: this request and those
        # counted here meanwhile go to Redis now.
        requests = 1
        if tally is not None:
            requests += tally.pending
            tally.pending, tally.sending = 0, tally.sending + requests
        try:
            window = await self._counter.hit(counter, requests=requests)
        finally:
            if tally is not None:
                tally.sending -= requests
        if window is not None:
            self._learn(counter, window, now)
        return window

    def _learn(self, counter: Counter, window: Window, asked_at: float) -> None:
        tally = self._tallies.get(counter.key)
        ends_at = asked_at + window.reset_seconds
        if tally is None or asked_at >= tally.ends_at:
            self._tallies[counter.key] = _Tally(counter, window.used, 0, ends_at)
        else:  # answers may cross: Redis's count only grows within a window
            tally.used = max(tally.used, window.used)

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_later(self._reconcile_seconds, self._start)

    def _start(self) -> None:
        self._scheduled = False
        if self._reconciling is None or self._reconciling.done():
            # Held here: the event loop keeps only a weak reference to a task.
            self._reconciling = asyncio.get_running_loop().create_task(self._reconcile())
        else:
            self._schedule()

    async def _reconcile(self) -> None:
        """Add this process's pending requests in Redis, one round trip for every counter, and
        forget the windows that ended."""
        now = time.monotonic()
        due: list[tuple[_Tally, int]] = []
        for key, tally in list(self._tallies.items()):
            if now >= tally.ends_at:
                del self._tallies[key]
            elif tally.pending:
                due.append((tally, tally.pending))
                tally.sending += tally.pending
                tally.pending = 0
        if not due:
            return
        try:
            windows = await self._counter.hit_many([(tally.counter, sent) for tally, sent in due])
        finally:
            for tally, sent in due:
                tally.sending -= sent
        if windows is None:
            return  # Redis is away: limits are not enforced until it is back
        for (tally, _sent), window in zip(due, windows, strict=True):
            self._learn(tally.counter, window, now)
