"""The API's outbox publisher: a thread that publishes right after each commit.

Requests never wait for Redis: the commit wakes this thread and the response goes out. If Redis
is away the rows stay in the outbox; the thread retries with backoff, and the beat relay covers
a process that died before publishing.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout

from kombu.exceptions import KombuError
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from shared.publishing import InTransaction, Marker, OutboxPublisher
from shared.unit_of_work import run_sync, transaction, write_savepoint

logger = logging.getLogger(__name__)

# While another process holds the publisher lock, look again this soon: it may have finished
# before our rows were committed.
_LOCK_BUSY_RETRY_SECONDS = 0.02
# Even without commits, look for stragglers this often.
_IDLE_POLL_SECONDS = 1.0
_MAX_BACKOFF_SECONDS = 5.0
# A mark that rides in a batch of writes waits this long for its commit at most (a batch commits
# within milliseconds; after that the rows are published again, which consumers tolerate).
_MARK_TIMEOUT_SECONDS = 5.0
# Rounds start at most this often: a lone commit is published at once, while a flood of
# commits is published many at a time instead of one round (a query, a Redis pipeline, a Celery
# message, an UPDATE: about a millisecond of CPU in the API process) per commit. After a round
# of a few events the next may start soon (an event waits at most 10 ms: webhooks at 100
# tickets/s); after a round of many, the pause is longer, and a flood costs at most 40 rounds a
# second.
_ROUND_INTERVAL_SECONDS = 0.010
_FLOOD_ROUND_INTERVAL_SECONDS = 0.025
_FLOOD_ROUND_EVENTS = 8


class BackgroundPublisher:
    def __init__(self, build: Callable[[InTransaction], OutboxPublisher]) -> None:
        """`build(in_transaction)` makes the publisher; its rows are marked published in the
        process's batch of writes (joining the requests' transaction rather than taking the
        write lock for a transaction of its own)."""
        self._loop = asyncio.get_running_loop()
        self._publisher = build(self._mark_in_batch)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-publisher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=5)

    def wake(self) -> None:
        self._wake.set()

    def _mark_in_batch(self, mark: Marker, ids: list[int]) -> None:
        """Run in the publisher's thread: `mark` in a savepoint of the event loop's batch."""
        if self._stopping.is_set():  # the loop may be waiting for this thread to end
            with transaction() as session:
                mark(session, ids)
            return

        async def in_batch() -> None:
            async with write_savepoint(request=False) as session:
                await run_sync(lambda: mark(session, ids))

        asyncio.run_coroutine_threadsafe(in_batch(), self._loop).result(_MARK_TIMEOUT_SECONDS)

    def _run(self) -> None:
        backoff = 0.1
        last_round = 0.0
        interval = _ROUND_INTERVAL_SECONDS
        while not self._stopping.is_set():
            self._wake.wait(timeout=_IDLE_POLL_SECONDS)
            self._stopping.wait(max(0.0, last_round + interval - time.monotonic()))
            self._wake.clear()
            if self._stopping.is_set():
                return
            last_round = time.monotonic()
            try:
                published = self._publisher.publish_pending()
            except (RedisError, KombuError, SQLAlchemyError, OSError, FutureTimeout) as exc:
                logger.warning("outbox publishing failed, retrying in %.1fs: %s", backoff, exc)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)
                self._wake.set()
                continue
            backoff = 0.1
            flood = published is not None and published >= _FLOOD_ROUND_EVENTS
            interval = _FLOOD_ROUND_INTERVAL_SECONDS if flood else _ROUND_INTERVAL_SECONDS
            if published is None:
                self._stopping.wait(_LOCK_BUSY_RETRY_SECONDS)
                self._wake.set()
