"""The notifier: reads events from the stream, records a delivery per subscribed endpoint,
and delivers them concurrently with retries, never letting one endpoint hold up another.

- Stream entries are acknowledged only after their deliveries are recorded; entries a dead
  replica read and never acknowledged are claimed after a while (XAUTOCLAIM).
- Deliveries live in the database: retries, tests and redeliveries are picked up from there, so
  they survive restarts; a claim (lease) keeps two replicas off the same delivery.
- Each endpoint has its own concurrency limit, and every attempt its own timeout.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections import defaultdict

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from services.notifier import metrics
from services.notifier.sender import AttemptOutcome, DeliveryJob, attempt_delivery
from services.notifier.store import DeliveryStore, StreamEvent
from services.notifier.stream import Entry, EventStream, parse_entry
from shared.logging_setup import log_context
from shared.settings import Settings

logger = logging.getLogger(__name__)

_READ_BATCH = 200
_RESULT_BATCH = 500


class Notifier:
    def __init__(self, settings: Settings, *, consumer: str | None = None) -> None:
        self.settings = settings
        self.redis = Redis.from_url(
            settings.redis_url,
            socket_timeout=max(settings.redis_timeout_seconds, 5.0),
            socket_connect_timeout=settings.redis_timeout_seconds,
        )
        self.stream = EventStream(
            self.redis,
            stream=settings.event_stream,
            group=settings.notifier_group,
            consumer=consumer or f"{socket.gethostname()}-{os.getpid()}",
        )
        self.store = DeliveryStore(settings)
        self.http = httpx.AsyncClient(
            follow_redirects=False,
            timeout=settings.webhook_timeout_seconds,
            limits=httpx.Limits(
                max_connections=settings.webhook_max_in_flight,
                max_keepalive_connections=settings.webhook_max_in_flight,
            ),
        )
        self.in_flight = asyncio.Semaphore(settings.webhook_max_in_flight)
        self.endpoint_slots: defaultdict[int, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(settings.webhook_endpoint_concurrency)
        )
        self.outcomes: asyncio.Queue[AttemptOutcome] = asyncio.Queue()
        self.attempts: set[asyncio.Task[None]] = set()
        # Deliveries this notifier has claimed and not yet recorded an outcome for.
        self.held: set[int] = set()
        self.stopping = asyncio.Event()

    # The loops -------------------------------------------------------------------------

    async def run(self) -> None:
        await self._until_ready()
        recorder = asyncio.create_task(self._record_outcomes(), name="recorder")
        loops = [
            asyncio.create_task(self._guarded(self._consume), name="consume"),
            asyncio.create_task(self._guarded(self._reclaim), name="reclaim"),
            asyncio.create_task(self._guarded(self._schedule), name="schedule"),
            asyncio.create_task(self._guarded(self._renew_claims), name="renew"),
        ]
        logger.info("notifier %s started", self.stream.consumer)
        await self.stopping.wait()
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        # Let attempts under way finish and be recorded; what cannot finish is retried later
        # by whichever replica finds its claim expired.
        if self.attempts:
            await asyncio.wait(self.attempts, timeout=self.settings.webhook_timeout_seconds + 2)
        await self.outcomes.join()
        recorder.cancel()
        await self.http.aclose()
        await self.redis.aclose()
        logger.info("notifier %s stopped", self.stream.consumer)

    def stop(self) -> None:
        self.stopping.set()

    async def _until_ready(self) -> None:
        while not self.stopping.is_set():
            try:
                await self.stream.ensure_group()
                return
            except (RedisError, OSError) as exc:
                logger.warning("waiting for Redis: %s", exc)
                await asyncio.sleep(1)

    async def _guarded(self, loop: object) -> None:
        """Run a loop forever, surviving Redis or database trouble with a pause."""
        assert callable(loop)
        while not self.stopping.is_set():
            try:
                await loop()
            except asyncio.CancelledError:
                raise
            except (RedisError, SQLAlchemyError, OSError) as exc:
                logger.warning("%s: %s; retrying in 1s", getattr(loop, "__name__", loop), exc)
                await asyncio.sleep(1)

    async def _consume(self) -> None:
        while not self.stopping.is_set():
            if self.in_flight.locked():
                await asyncio.sleep(0.05)  # back-pressure: everything is busy
                continue
            entries = await self.stream.read_new(count=_READ_BATCH, block_ms=1000)
            await self._accept(entries)

    async def _reclaim(self) -> None:
        idle_ms = int(self.settings.notifier_reclaim_idle_seconds * 1000)
        while not self.stopping.is_set():
            entries, deleted = await self.stream.claim_abandoned(
                min_idle_ms=idle_ms, count=_READ_BATCH
            )
            if entries:
                logger.info("claimed %d entries a stopped notifier left", len(entries))
                await self._accept(entries)
            await self.stream.ack(deleted)
            if not entries:
                await asyncio.sleep(self.settings.notifier_reclaim_idle_seconds / 4)

    async def _schedule(self) -> None:
        while not self.stopping.is_set():
            capacity = self.settings.webhook_max_in_flight - len(self.attempts)
            jobs = await asyncio.to_thread(self.store.claim_due, limit=capacity)
            for job in jobs:
                self._start(job)
            if capacity <= 0 or len(jobs) < capacity:
                await asyncio.sleep(self.settings.notifier_poll_seconds)

    async def _renew_claims(self) -> None:
        while not self.stopping.is_set():
            await asyncio.sleep(self.settings.notifier_lease_seconds / 3)
            await asyncio.to_thread(self.store.renew_claims, list(self.held))

    async def _record_outcomes(self) -> None:
        while True:
            batch = [await self.outcomes.get()]
            while len(batch) < _RESULT_BATCH and not self.outcomes.empty():
                batch.append(self.outcomes.get_nowait())
            while True:
                try:
                    await asyncio.to_thread(self.store.record_outcomes, batch)
                    break
                except SQLAlchemyError as exc:
                    logger.warning("recording %d outcomes failed, retrying: %s", len(batch), exc)
                    await asyncio.sleep(1)
            for outcome in batch:
                self.held.discard(outcome.job.delivery_id)
                self.outcomes.task_done()

    # The work --------------------------------------------------------------------------

    async def _accept(self, entries: list[Entry]) -> None:
        """Record the deliveries of these entries, then acknowledge them, then start them."""
        if not entries:
            return
        events = [
            event
            for entry_id, fields in entries
            if (event := parse_entry(entry_id, fields)) is not None
        ]
        jobs = await asyncio.to_thread(self.store.record_new_deliveries, _unique(events))
        await self.stream.ack([entry_id for entry_id, _fields in entries])
        logger.info("recorded %d deliveries for %d stream entries", len(jobs), len(entries))
        for job in jobs:
            self._start(job)

    def _start(self, job: DeliveryJob) -> None:
        self.held.add(job.delivery_id)
        task = asyncio.create_task(self._attempt(job))
        self.attempts.add(task)
        task.add_done_callback(self.attempts.discard)

    async def _attempt(self, job: DeliveryJob) -> None:
        with log_context(event_id=job.event_id):
            async with self.endpoint_slots[job.endpoint_id], self.in_flight:
                if self.stopping.is_set():
                    # Stopping: an attempt not yet started is left to a live replica (its
                    # claim lapses) rather than sent now and perhaps never recorded.
                    return
                with metrics.attempts_in_flight.track_inprogress():
                    outcome = await attempt_delivery(
                        self.http,
                        job,
                        timeout=self.settings.webhook_timeout_seconds,
                        allow_private=self.settings.webhook_allow_private_urls,
                        body_limit=self.settings.webhook_response_body_bytes,
                    )
            result = metrics.record_attempt(
                outcome, retry_schedule=self.settings.webhook_retry_schedule_seconds
            )
            _log_attempt(outcome, result)
        await self.outcomes.put(outcome)


def _log_attempt(outcome: AttemptOutcome, result: str) -> None:
    job = outcome.job
    if outcome.succeeded:
        logger.info(
            "delivery %d to endpoint %d: HTTP %s in %d ms (attempt %d)",
            job.delivery_id,
            job.endpoint_id,
            outcome.status_code,
            outcome.duration_ms,
            job.attempt_number,
        )
        return
    logger.warning(
        "delivery %d to endpoint %d failed: %s (attempt %d, %s)",
        job.delivery_id,
        job.endpoint_id,
        outcome.error,
        job.attempt_number,
        result.replace("_", " "),
    )


def _unique(events: list[StreamEvent]) -> list[StreamEvent]:
    """The stream may carry an event twice (publishing is at-least-once)."""
    return list({event.event_id: event for event in events}.values())
