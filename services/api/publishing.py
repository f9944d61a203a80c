"""The API's outbox publisher: a thread that publishes right after each commit.

Requests never wait for Redis: the commit wakes this thread and the response goes out. If Redis
is away the rows stay in the outbox; the thread retries with backoff, and the beat relay covers
a process that died before publishing.
"""

from __future__ import annotations

import logging
import threading
import time

from kombu.exceptions import KombuError
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from shared.publishing import OutboxPublisher

logger = logging.getLogger(__name__)

# While another process holds the publisher lock, look again this soon: it may have finished
# before our rows were committed.
_LOCK_BUSY_RETRY_SECONDS = 0.02
# Even without commits, look for stragglers this often.
_IDLE_POLL_SECONDS = 1.0
_MAX_BACKOFF_SECONDS = 5.0
# Rounds start at most this often: a lone commit is published at once, while a flood of
# commits is published a few dozen at a time instead of one round (a query, a Redis pipeline,
# a Celery message, an UPDATE: about 2 ms of CPU in the API process) per commit. Under load an
# event waits up to this long before it is sent.
_MIN_ROUND_INTERVAL_SECONDS = 0.025


class BackgroundPublisher:
    def __init__(self, publisher: OutboxPublisher) -> None:
        self._publisher = publisher
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

    def _run(self) -> None:
        backoff = 0.1
        last_round = 0.0
        while not self._stopping.is_set():
            self._wake.wait(timeout=_IDLE_POLL_SECONDS)
            self._stopping.wait(
                max(0.0, last_round + _MIN_ROUND_INTERVAL_SECONDS - time.monotonic())
            )
            self._wake.clear()
            if self._stopping.is_set():
                return
            last_round = time.monotonic()
            try:
                published = self._publisher.publish_pending()
            except (RedisError, KombuError, SQLAlchemyError, OSError) as exc:
                logger.warning("outbox publishing failed, retrying in %.1fs: %s", backoff, exc)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)
                self._wake.set()
                continue
            backoff = 0.1
            if published is None:
                self._stopping.wait(_LOCK_BUSY_RETRY_SECONDS)
                self._wake.set()
