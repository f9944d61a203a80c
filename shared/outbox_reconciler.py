"""The outbox reconciler: Redis is the broker, not the store of record.

Each consumer records in the database what it has handled: the worker in `processed_events`,
the notifier in `notified_events`. An event published more than the grace period ago that a
consumer has not recorded is published again from its outbox row, to that consumer only (the
stream for the notifier, a Celery task for the worker): the envelope, and so the webhook-id,
is the one stored. A Redis that restarted or failed over since the last look (its run id
changed) or lost our state key may have lost whatever it held: the events published to it
before it started are published again at once, without waiting for the grace period.

The scan is bounded: only events created within the retention window, and only from a
watermark below which every event is acknowledged by both consumers. The watermark is kept in
Redis; a Redis that lost it lost the events too, and the scan starts from the window again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from redis import Redis
from redis.lock import Lock
from sqlalchemy import Row, func, or_, select
from sqlalchemy.orm import Session

from shared.clock import utcnow
from shared.models import NotifiedEvent, OutboxEvent, ProcessedEvent
from shared.publishing import OutboxPublisher
from shared.settings import Settings
from shared.unit_of_work import transaction

logger = logging.getLogger(__name__)

# A hash: the run id of the Redis last looked at, and the watermark (an outbox id).
STATE_KEY = "outbox:reconciler"
LOCK_KEY = "outbox:reconciler-lock"
_LOCK_TIMEOUT_SECONDS = 60.0
_ROWS_PER_SCAN = 1000


@dataclass(frozen=True)
class Reconciliation:
    """What one pass did."""

    to_worker: int
    to_stream: int
    # Redis restarted, failed over or lost our state since the previous pass.
    redis_replaced: bool


@dataclass(frozen=True)
class _Due:
    """The moments before which an unacknowledged published event is sent again."""

    grace_cutoff: datetime
    # When Redis was replaced: everything published before it started.
    lost_before: datetime | None

    def __call__(self, published_at: datetime) -> bool:
        return published_at <= self.grace_cutoff or (
            self.lost_before is not None and published_at <= self.lost_before
        )


class OutboxReconciler:
    def __init__(self, *, publisher: OutboxPublisher, redis: Redis, settings: Settings) -> None:
        self.publisher = publisher
        self.redis = redis
        self.grace = timedelta(seconds=settings.outbox_reconcile_grace_seconds)
        self.window = timedelta(hours=settings.outbox_reconcile_window_hours)

    def reconcile(self) -> Reconciliation | None:
        """Publish again what a consumer has not acknowledged in time; None when another
        pass is under way."""
        lock = self.redis.lock(LOCK_KEY, timeout=_LOCK_TIMEOUT_SECONDS, blocking=False)
        if not lock.acquire():
            return None
        try:
            now = utcnow()
            info: dict[str, object] = self.redis.info("server")
            run_id = str(info["run_id"])
            stored: dict[bytes, bytes] = self.redis.hgetall(STATE_KEY)  # type: ignore[assignment]
            state = {key.decode(): value.decode() for key, value in stored.items()}
            lost_before = None
            if state.get("run_id") != run_id:
                # Restarted, failed over, or lost our state (or this is the first pass): what
                # was published before this Redis started may be gone. Whatever was published
                # since is in it; the grace period covers the rest (a FLUSHALL).
                lost_before = now - timedelta(seconds=int(str(info["uptime_in_seconds"])))
                logger.warning(
                    "Redis %s is not the one seen before (%s): publishing again the events "
                    "published before %s that a consumer has not recorded",
                    run_id,
                    state.get("run_id", "no state kept"),
                    lost_before.isoformat(),
                )
            due = _Due(grace_cutoff=now - self.grace, lost_before=lost_before)
            watermark = int(state["watermark"]) if "watermark" in state else None
            to_worker, to_stream, watermark = self._scan(
                lock=lock, now=now, watermark=watermark, due=due
            )
            self.redis.hset(STATE_KEY, mapping={"run_id": run_id, "watermark": watermark})
        finally:
            lock.release()
        if to_worker or to_stream:
            logger.info(
                "published again %d events to the worker and %d to the stream (not recorded "
                "by them in time)",
                to_worker,
                to_stream,
            )
        return Reconciliation(to_worker, to_stream, redis_replaced=lost_before is not None)

    def _scan(
        self, *, lock: Lock, now: datetime, watermark: int | None, due: _Due
    ) -> tuple[int, int, int]:
        """Send again the due rows from the watermark on; returns the counts and the new
        watermark: the first row a consumer has not recorded, and never past the rows of the
        last grace period (on PostgreSQL a row may commit after one with a higher id)."""
        with transaction(write=False) as session:
            start, settled = self._bounds(session, now=now, watermark=watermark)
        first_unacknowledged: int | None = None
        to_worker = to_stream = 0
        after = start - 1
        while True:
            with transaction(write=False) as session:
                rows = _unacknowledged(
                    session, after=after, since=now - self.window, limit=_ROWS_PER_SCAN
                )
            if rows and first_unacknowledged is None:
                first_unacknowledged = rows[0].id
            resend = [row for row in rows if row.published_at is not None and due(row.published_at)]
            if resend:
                for_stream = [row for row in resend if not row.notified]
                for_worker = [row for row in resend if not row.handled]
                self.publisher.append_to_stream(for_stream)
                self.publisher.queue_for_worker(for_worker)
                self.publisher.mark_published([row.id for row in resend])
                to_stream += len(for_stream)
                to_worker += len(for_worker)
            if len(rows) < _ROWS_PER_SCAN:
                break
            after = rows[-1].id
            lock.reacquire()
        if first_unacknowledged is not None:
            settled = min(settled, first_unacknowledged)
        return to_worker, to_stream, max(settled, start)

    def _bounds(self, session: Session, *, now: datetime, watermark: int | None) -> tuple[int, int]:
        """Where the scan starts (the watermark, or the window's first row if later) and how
        far the watermark may move (the first row of the grace period, or past the last)."""
        first_in_window = session.scalar(
            select(func.min(OutboxEvent.id)).where(OutboxEvent.created_at >= now - self.window)
        )
        last = session.scalar(select(func.max(OutboxEvent.id))) or 0
        start = max(watermark or 0, first_in_window if first_in_window is not None else last + 1)
        first_recent = session.scalar(
            select(func.min(OutboxEvent.id)).where(OutboxEvent.created_at > now - self.grace)
        )
        return start, first_recent if first_recent is not None else last + 1


# id, event_id, event_type, ticket_id, payload, published_at, handled, notified
_Unacknowledged = tuple[int, str, str, int | None, str, datetime | None, bool, bool]


def _unacknowledged(
    session: Session, *, after: int, since: datetime, limit: int
) -> list[Row[_Unacknowledged]]:
    """Outbox rows after `after`, created since `since`, that the worker or the notifier has
    not recorded."""
    return list(
        session.execute(
            select(
                OutboxEvent.id,
                OutboxEvent.event_id,
                OutboxEvent.event_type,
                OutboxEvent.ticket_id,
                OutboxEvent.payload,
                OutboxEvent.published_at,
                ProcessedEvent.event_id.is_not(None).label("handled"),
                NotifiedEvent.event_id.is_not(None).label("notified"),
            )
            .outerjoin(ProcessedEvent, ProcessedEvent.event_id == OutboxEvent.event_id)
            .outerjoin(NotifiedEvent, NotifiedEvent.event_id == OutboxEvent.event_id)
            .where(
                OutboxEvent.id > after,
                OutboxEvent.created_at >= since,
                or_(ProcessedEvent.event_id.is_(None), NotifiedEvent.event_id.is_(None)),
            )
            .order_by(OutboxEvent.id)
            .limit(limit)
        )
    )
