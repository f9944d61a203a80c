"""Celery tasks: thin wrappers that own the session, the retries and the acks.

Every task is idempotent: a task redelivered after a crash finds its work done or does it once.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy.exc import OperationalError

from services.worker import breaches, events, routing
from services.worker.app import app
from shared import tasks
from shared.clock import utcnow
from shared.db import session_scope
from shared.publishing import OutboxPublisher
from shared.redis_client import get_redis
from shared.settings import get_settings
from shared.stats import refresh_snapshot

logger = logging.getLogger(__name__)

# Set while a statistics refresh is queued: events arriving meanwhile ride along with it, so
# the snapshot is recomputed at most about once a second however many events arrive.
STATS_PENDING_KEY = "stats:refresh-pending"


def _publisher() -> OutboxPublisher:
    return OutboxPublisher(redis=get_redis(), celery=app, settings=get_settings())


def request_stats_refresh() -> None:
    if get_redis().set(STATS_PENDING_KEY, "1", nx=True, ex=30):
        refresh_stats.apply_async(countdown=1)


@app.task(
    name=tasks.HANDLE_EVENT, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=8
)
def handle_event(event_id: str, event_type: str, ticket_id: int | None) -> str:
    with session_scope() as session:
        first_time = events.handle_ticket_event(
            session, event_id=event_id, ticket_id=ticket_id, now=utcnow()
        )
        # In the transaction that records the event as handled: a redelivered copy assigns
        # nobody a second time.
        assignee = first_time and routing.route_ticket_event(
            session, event_type=event_type, ticket_id=ticket_id, now=utcnow()
        )
    if not first_time:
        logger.info("event %s (%s) already handled", event_id, event_type)
        return "duplicate"
    if assignee:
        logger.info("ticket %s assigned to user %s by its pool", ticket_id, assignee.id)
        _publisher().publish_pending()
    request_stats_refresh()
    return "handled"


@app.task(
    name=tasks.REFRESH_STATS, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=8
)
def refresh_stats() -> None:
    get_redis().delete(STATS_PENDING_KEY)
    with session_scope() as session:
        refresh_snapshot(session, now=utcnow())


@app.task(
    name=tasks.SCAN_SLA_BREACHES,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=8,
)
def scan_sla_breaches() -> int:
    with session_scope() as session:
        breached = breaches.mark_breaches(session, now=utcnow())
    if breached:
        logger.info("SLA breached: tickets %s", breached)
        _publisher().publish_pending()
    return len(breached)


@app.task(
    name=tasks.RELAY_OUTBOX, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=8
)
def relay_outbox() -> int:
    """Publish what no API process did (it died, or Redis was away)."""
    min_age = timedelta(seconds=get_settings().outbox_relay_min_age_seconds)
    published = _publisher().publish_pending(min_age=min_age)
    if published:
        logger.info("relayed %d outbox events", published)
    return published or 0


@app.task(
    name=tasks.PRUNE_PROCESSED_EVENTS,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=8,
)
def prune_processed_events() -> int:
    with session_scope() as session:
        return events.prune_processed_events(session, now=utcnow())
