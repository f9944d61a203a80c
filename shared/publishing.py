"""Publishing the outbox: each unpublished row goes to the event stream (`XADD`) and to the
worker (its Celery task), oldest first, and is then marked published.

Publishing is at-least-once: a crash between sending and marking sends the row again later, and
consumers drop the copy by its event id. One publisher at a time holds a short Redis lock, so a
ticket's events reach the stream in the order they were committed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple, Protocol

from celery import Celery
from redis import Redis
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from shared import tasks
from shared.clock import utcnow
from shared.event_types import WORKER_ANNOUNCEMENTS
from shared.models import OutboxEvent
from shared.models.base import table_of
from shared.prepared import Prepared
from shared.settings import Settings
from shared.unit_of_work import transaction

logger = logging.getLogger(__name__)

PUBLISHER_LOCK = "outbox:publisher-lock"
_LOCK_TTL_MS = 15_000
_RELEASE_IF_OURS = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


_OUTBOX = table_of(OutboxEvent)
# Prepared (compiled once, run on the driver's cursor): a round runs for nearly every commit
# under load.
_PENDING = (
    select(_OUTBOX.c.id, _OUTBOX.c.event_id, _OUTBOX.c.event_type, _OUTBOX.c.ticket_id)
    .add_columns(_OUTBOX.c.payload)
    .where(_OUTBOX.c.published_at.is_(None))
    .order_by(_OUTBOX.c.id)
    .limit(bindparam("limit"))
)
_UNPUBLISHED = Prepared(_PENDING)
_UNPUBLISHED_OLDER = Prepared(_PENDING.where(_OUTBOX.c.created_at <= bindparam("before")))
# One row per run, all of a round's rows in one driver call: an IN list would be compiled anew
# for every count of rows.
_MARK_PUBLISHED = Prepared(
    update(_OUTBOX).where(_OUTBOX.c.id == bindparam("row_id")).values(published_at=bindparam("at"))
)


class Outgoing(Protocol):
    """An outbox row as sent: what the stream entry and the worker's task are built from."""

    @property
    def id(self) -> int: ...
    @property
    def event_id(self) -> str: ...
    @property
    def event_type(self) -> str: ...
    @property
    def ticket_id(self) -> int | None: ...
    @property
    def payload(self) -> str: ...


class PendingEvent(NamedTuple):
    """An unpublished outbox row, as read to be sent."""

    id: int
    event_id: str
    event_type: str
    ticket_id: int | None
    payload: str


@dataclass(frozen=True)
class Backlog:
    unpublished: int
    oldest_created_at: datetime | None


def outbox_backlog() -> Backlog:
    with transaction(write=False) as session:
        count, oldest = session.execute(
            select(func.count(), func.min(OutboxEvent.created_at)).where(
                OutboxEvent.published_at.is_(None)
            )
        ).one()
    return Backlog(unpublished=int(count), oldest_created_at=oldest)


Marker = Callable[[Session, list[int]], None]
# Runs a marker in a write transaction: `in_transaction(mark, ids)`.
InTransaction = Callable[[Marker, list[int]], None]


class OutboxPublisher:
    def __init__(
        self,
        *,
        redis: Redis,
        celery: Celery,
        settings: Settings,
        in_transaction: InTransaction | None = None,
    ) -> None:
        """`in_transaction(mark, ids)` runs `mark` in a write transaction of the caller's
        choice (the API's batch of writes); by default, one of its own."""
        self.redis = redis
        self.celery = celery
        self._in_transaction = in_transaction or _in_own_transaction
        self.stream = settings.event_stream
        self.stream_maxlen = settings.event_stream_maxlen

    def publish_pending(
        self, *, min_age: timedelta = timedelta(0), batch_size: int = 500
    ) -> int | None:
        """Publish every unpublished row (older than `min_age`), oldest first; the number
        published, or None when another publisher holds the lock (it will publish them)."""
        token = uuid.uuid4().hex
        if not self.redis.set(PUBLISHER_LOCK, token, nx=True, px=_LOCK_TTL_MS):
            return None
        try:
            published = 0
            while True:
                rows = self._unpublished(min_age=min_age, limit=batch_size)
                if rows:
                    self._send(rows)
                    self._in_transaction(mark_rows_published, [row.id for row in rows])
                    published += len(rows)
                if len(rows) < batch_size:  # that was the last of them: no second look
                    return published
                self.redis.pexpire(PUBLISHER_LOCK, _LOCK_TTL_MS)
        finally:
            self.redis.eval(_RELEASE_IF_OURS, 1, PUBLISHER_LOCK, token)

    def _unpublished(self, *, min_age: timedelta, limit: int) -> list[PendingEvent]:
        with transaction(write=False) as session:
            if min_age > timedelta(0):
                found = _UNPUBLISHED_OLDER.run(
                    session, {"limit": limit, "before": utcnow() - min_age}
                )
            else:
                found = _UNPUBLISHED.run(session, {"limit": limit})
        return [PendingEvent(*row) for row in found]

    def _send(self, rows: Sequence[Outgoing]) -> None:
        self.append_to_stream(rows)
        self.queue_for_worker(rows)

    def append_to_stream(self, rows: Sequence[Outgoing]) -> None:
        """XADD each row's envelope, as stored: a copy sent again carries the same event id."""
        if not rows:
            return
        pipe = self.redis.pipeline(transaction=False)
        for row in rows:
            fields = {
                "event_id": row.event_id,
                "type": row.event_type,
                "ticket_id": "" if row.ticket_id is None else str(row.ticket_id),
                "payload": row.payload,
            }
            pipe.xadd(self.stream, fields, maxlen=self.stream_maxlen, approximate=True)  # type: ignore[arg-type]
        pipe.execute()

    def queue_for_worker(self, rows: Sequence[Outgoing]) -> None:
        if not rows:
            return
        events = [
            (row.event_id, row.event_type, row.ticket_id)
            for row in rows
            if row.event_type not in WORKER_ANNOUNCEMENTS  # recorded as handled already
        ]
        if not events:
            return
        # Sending a Celery message costs far more than handling an event's timers: a round
        # goes to the worker as one task, however many events it carries (a lone event as
        # handle_event, whose log lines and metrics name it).
        if len(events) == 1:
            self.celery.send_task(tasks.HANDLE_EVENT, args=list(events[0]))
        else:
            self.celery.send_task(tasks.HANDLE_EVENTS, args=[events])

    @staticmethod
    def mark_published(ids: list[int]) -> None:
        _in_own_transaction(mark_rows_published, ids)


def mark_rows_published(session: Session, ids: list[int]) -> None:
    at = utcnow()
    _MARK_PUBLISHED.run_many(session, [{"row_id": row_id, "at": at} for row_id in ids])


def _in_own_transaction(mark: Marker, ids: list[int]) -> None:
    with transaction() as session:
        mark(session, ids)
