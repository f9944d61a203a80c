"""The notifier: reads events from the stream, records a delivery per subscribed endpoint,
and delivers them concurrently with retries, never letting one endpoint hold up another.

- Stream entries are acknowledged only after their deliveries are recorded; entries a dead
  replica read and never acknowledged are claimed after a while (XAUTOCLAIM).
- Deliveries live in the database: retries, tests and redeliveries are picked up from there, so
  they survive restarts; a claim (lease) keeps two replicas off the same delivery.
- Each endpoint has its own queue and at most WEBHOOK_ENDPOINT_CONCURRENCY senders, each
  reusing a keep-alive connection; every attempt has its own timeout.
- Outcomes are stored in batches; one the database refuses does not hold back the others.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections import defaultdict, deque
from dataclasses import dataclass, field

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from services.notifier import metrics
from services.notifier.connections import KEEPALIVE_SECONDS, ConnectionPool
from services.notifier.sender import AttemptOutcome, DeliveryJob, attempt_delivery
from services.notifier.store import DeliveryStore, StreamEvent
from services.notifier.stream import Entry, EventStream, parse_entry
from shared.clock import utcnow
from shared.logging_setup import log_context
from shared.settings import CONSUMER_RECORDS_KEPT, Settings

logger = logging.getLogger(__name__)

_READ_BATCH = 500
_RESULT_BATCH = 500
# Outcomes are stored this long after the first of a batch arrived (the delivery log lags by
# as much; receivers wait for nothing).
_RESULT_LINGER_SECONDS = 0.05
_FORGET_NOTIFIED_EVERY_SECONDS = 3600.0
# An outcome the database refuses this many times, while it stores others, is given up on: its
# delivery is attempted again once the claim lapses.
_REFUSALS_BEFORE_GIVING_UP = 3


@dataclass
class _EndpointQueue:
    """Deliveries waiting for one endpoint, and how many senders work on them."""

    waiting: deque[DeliveryJob] = field(default_factory=deque)
    senders: int = 0


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
        self.connections = ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_idle_per_origin=settings.webhook_max_in_flight,
        )
        self.in_flight = asyncio.Semaphore(settings.webhook_max_in_flight)
        self.queues: defaultdict[int, _EndpointQueue] = defaultdict(_EndpointQueue)
        self.outcomes: asyncio.Queue[AttemptOutcome] = asyncio.Queue()
        self.senders: set[asyncio.Task[None]] = set()
        self.sending = 0  # attempts waiting for an answer
        metrics.attempts_in_flight.set_function(lambda: self.sending)
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
            asyncio.create_task(self._close_idle_connections(), name="close-idle"),
            asyncio.create_task(self._guarded(self._forget_notified), name="forget"),
        ]
        logger.info("notifier %s started", self.stream.consumer)
        await self.stopping.wait()
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        # Let attempts under way finish and be recorded; what cannot finish is retried later
        # by whichever replica finds its claim expired. Deliveries still queued are let go now.
        if self.senders:
            await asyncio.wait(self.senders, timeout=self.settings.webhook_timeout_seconds + 2)
        await self._release_queued()
        await self.outcomes.join()
        recorder.cancel()
        await self.connections.aclose()
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
            capacity = self.settings.webhook_max_in_flight - len(self.held)
            jobs = await asyncio.to_thread(self.store.claim_due, limit=capacity)
            for job in jobs:
                self._start(job)
            if capacity <= 0 or len(jobs) < capacity:
                await asyncio.sleep(self.settings.notifier_poll_seconds)

    async def _renew_claims(self) -> None:
        while not self.stopping.is_set():
            await asyncio.sleep(self.settings.notifier_lease_seconds / 3)
            await asyncio.to_thread(self.store.renew_claims, list(self.held))

    async def _close_idle_connections(self) -> None:
        while not self.stopping.is_set():
            await asyncio.sleep(KEEPALIVE_SECONDS)
            self.connections.close_expired()

    async def _forget_notified(self) -> None:
        while not self.stopping.is_set():
            forgotten = await asyncio.to_thread(
                self.store.forget_notified, before=utcnow() - CONSUMER_RECORDS_KEPT
            )
            if forgotten:
                logger.info("forgot %d notified events past their keeping", forgotten)
            await asyncio.sleep(_FORGET_NOTIFIED_EVERY_SECONDS)

    async def _record_outcomes(self) -> None:
        """Store outcomes in batches. When the database stores none of a batch, the batch is
        tried again after a pause, with whatever arrived meanwhile; an outcome it refuses
        while storing the others is tried again with the next batch, and given up on after a
        few refusals (its delivery is attempted again once the claim lapses)."""
        kept: list[AttemptOutcome] = []
        refusals: dict[int, int] = {}
        while True:
            batch = kept or [await self.outcomes.get()]
            # Let a batch gather: a transaction costs about as much as fifty outcomes in it.
            await asyncio.sleep(_RESULT_LINGER_SECONDS)
            while len(batch) < _RESULT_BATCH + len(kept) and not self.outcomes.empty():
                batch.append(self.outcomes.get_nowait())
            try:
                refused = await asyncio.to_thread(self.store.record_outcomes, batch)
            except SQLAlchemyError as exc:
                logger.warning("storing %d outcomes failed, retrying: %s", len(batch), exc)
                kept = batch
                await asyncio.sleep(1)
                continue
            except Exception:
                # A bug, not the database: say so loudly, but never stop storing outcomes.
                logger.exception("storing %d outcomes failed, retrying", len(batch))
                kept = batch
                await asyncio.sleep(1)
                continue
            kept = []
            for refusal in refused:
                delivery_id = refusal.outcome.job.delivery_id
                refusals[delivery_id] = refusals.get(delivery_id, 0) + 1
                if refusals[delivery_id] < _REFUSALS_BEFORE_GIVING_UP:
                    kept.append(refusal.outcome)
                    continue
                logger.error(
                    "delivery %d: the database refused the outcome of attempt %d %d times; "
                    "given up (the delivery is attempted again when its claim lapses): %s",
                    delivery_id,
                    refusal.outcome.job.attempt_number,
                    refusals[delivery_id],
                    refusal.reason,
                )
            still_kept = {id(outcome) for outcome in kept}
            for outcome in batch:
                if id(outcome) not in still_kept:
                    refusals.pop(outcome.job.delivery_id, None)
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
        """Queue the delivery behind its endpoint's others; add a sender if it has room."""
        self.held.add(job.delivery_id)
        queue = self.queues[job.endpoint_id]
        queue.waiting.append(job)
        if queue.senders < self.settings.webhook_endpoint_concurrency:
            queue.senders += 1
            sender = asyncio.create_task(self._send(job.endpoint_id, queue))
            self.senders.add(sender)
            sender.add_done_callback(self.senders.discard)

    async def _send(self, endpoint_id: int, queue: _EndpointQueue) -> None:
        """Attempt the endpoint's queued deliveries one after another, until none is left."""
        try:
            while queue.waiting and not self.stopping.is_set():
                job = queue.waiting.popleft()
                async with self.in_flight:
                    self.sending += 1
                    try:
                        outcome = await attempt_delivery(
                            self.connections,
                            job,
                            timeout=self.settings.webhook_timeout_seconds,
                            allow_private=self.settings.webhook_allow_private_urls,
                            body_limit=self.settings.webhook_response_body_bytes,
                        )
                    finally:
                        self.sending -= 1
                result = metrics.record_attempt(
                    outcome, retry_schedule=self.settings.webhook_retry_schedule_seconds
                )
                with log_context(event_id=job.event_id):
                    _log_attempt(outcome, result)
                self.outcomes.put_nowait(outcome)
        finally:
            queue.senders -= 1
            if not queue.senders and not queue.waiting:
                self.queues.pop(endpoint_id, None)

    async def _release_queued(self) -> None:
        """Let go of the deliveries no sender started (stopping): an attempt not yet started
        is left to a live replica rather than sent now and perhaps never recorded."""
        queued = [job.delivery_id for queue in self.queues.values() for job in queue.waiting]
        self.queues.clear()
        if not queued:
            return
        try:
            await asyncio.to_thread(self.store.release_claims, queued)
        except SQLAlchemyError as exc:
            logger.warning(
                "releasing %d queued deliveries failed (their claims lapse): %s", len(queued), exc
            )
        self.held.difference_update(queued)


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
