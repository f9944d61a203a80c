"""Celery tasks: thin wrappers that own the session, the retries and the acks.

Every task is idempotent: a task redelivered after a crash finds its work done or does it once.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from services.worker import automations, breaches, events, idempotency, routing
from services.worker.app import app
from shared import tasks
from shared.clock import utcnow
from shared.events import wrote_events
from shared.mail_out.recording import mail_recorded
from shared.mail_out.sending import send_due_mail
from shared.outbox_reconciler import OutboxReconciler
from shared.publishing import OutboxPublisher
from shared.redis_client import get_redis
from shared.settings import get_settings
from shared.stats import refresh_snapshot
from shared.unit_of_work import transaction

logger = logging.getLogger(__name__)

# Set while a statistics refresh is queued: events arriving meanwhile ride along with it, so
# the snapshot is recomputed at most about once a second however many events arrive.
STATS_PENDING_KEY = "stats:refresh-pending"
# Events handled per transaction in a batch task: a commit each 20 events, so SQLite's write
# lock, which the API waits for too, is held for a few milliseconds at a time.
_EVENTS_PER_TRANSACTION = 20


def _publisher() -> OutboxPublisher:
    return OutboxPublisher(redis=get_redis(), celery=app, settings=get_settings())


def request_stats_refresh() -> None:
    if get_redis().set(STATS_PENDING_KEY, "1", nx=True, ex=30):
        refresh_stats.apply_async(countdown=1)


def _handle(session: Session, chunk: list[tuple[str, str, int | None]]) -> list[str]:
    """Events' work inside the caller's transaction: for each, "duplicate", "handled" or
    "assigned"."""
    handled = events.handle_ticket_events(
        session,
        events=chunk,
        now=utcnow(),
    )
    outcomes = []
    for event_id, event_type, ticket_id in chunk:
        if event_id not in handled:
            logger.info("event %s (%s) already handled", event_id, event_type)
            outcomes.append("duplicate")
            continue
        # In the transaction that records the event as handled: a redelivered copy assigns
        # nobody a second time.
        assignee = routing.route_ticket_event(
            session, event_type=event_type, ticket_id=ticket_id, now=utcnow()
        )
        if assignee:
            logger.info("ticket %s assigned to user %s by its pool", ticket_id, assignee.id)
        outcomes.append("assigned" if assignee else "handled")
    return outcomes


def _after(outcomes: list[str], *, wrote_events: bool, mail: bool = False) -> None:
    """After the commit: publish what the work announced (an assignment, moved due times), and
    send the mail it recorded."""
    if wrote_events:
        _publisher().publish_pending()
    if mail:
        request_mail_sending()
    if any(outcome != "duplicate" for outcome in outcomes):
        request_stats_refresh()


def request_mail_sending() -> None:
    """Queue a sending pass now; if Redis is away the beat's next pass sends the mail."""
    try:
        send_mail.apply_async()
    except Exception:
        logger.warning("could not queue worker.send_mail; the beat schedule will send the mail")


@app.task(
    name=tasks.HANDLE_EVENT, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=8
)
def handle_event(event_id: str, event_type: str, ticket_id: int | None) -> str:
    with transaction() as session:
        outcomes = _handle(session, [(event_id, event_type, ticket_id)])
        announced = wrote_events(session)
        mail = mail_recorded(session)
    _after(outcomes, wrote_events=announced, mail=mail)
    return "duplicate" if outcomes == ["duplicate"] else "handled"


@app.task(
    name=tasks.HANDLE_EVENTS, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=8
)
def handle_events(batch: list[tuple[str, str, int | None]]) -> str:
    """Several events published together: under a flood, one task for many events instead of
    one each. They are handled a few per transaction, so the database's write lock is never
    held long (the API waits for it too). A chunk whose work fails for another reason than a
    busy database is handled again one event per transaction, setting the culprit apart."""
    outcomes: list[str] = []
    announced = mail = False
    for start in range(0, len(batch), _EVENTS_PER_TRANSACTION):
        chunk = batch[start : start + _EVENTS_PER_TRANSACTION]
        try:
            with transaction() as session:
                outcomes += _handle(session, chunk)
                announced |= wrote_events(session)
                mail |= mail_recorded(session)
        except OperationalError:
            raise
        except Exception:
            logger.exception("a chunk of %d events failed; handling them one by one", len(chunk))
            chunk_outcomes, chunk_announced, chunk_mail = _one_by_one(chunk)
            outcomes += chunk_outcomes
            announced |= chunk_announced
            mail |= chunk_mail
    _after(outcomes, wrote_events=announced, mail=mail)
    return f"{len(batch)} events, {outcomes.count('duplicate')} duplicates"


def _one_by_one(events: list[tuple[str, str, int | None]]) -> tuple[list[str], bool, bool]:
    outcomes = []
    announced = mail = False
    for event in events:
        try:
            with transaction() as session:
                outcomes += _handle(session, [event])
                announced |= wrote_events(session)
                mail |= mail_recorded(session)
        except OperationalError:
            raise
        except Exception:
            logger.exception("event %s failed", event[0])
    return outcomes, announced, mail


@app.task(
    name=tasks.SEND_MAIL, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=8
)
def send_mail() -> int:
    """Send the recorded mail that is due (new messages, retries, a crashed worker's); how many
    were sent."""
    report = send_due_mail(get_settings())
    if report.sent or report.failed:
        logger.info(
            "mail out: %d sent, %d to retry, %d failed",
            report.sent,
            report.retrying,
            report.failed,
        )
    return report.sent


@app.task(
    name=tasks.REFRESH_STATS, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=8
)
def refresh_stats() -> None:
    get_redis().delete(STATS_PENDING_KEY)
    with transaction() as session:
        refresh_snapshot(session, now=utcnow())


@app.task(
    name=tasks.SCAN_SLA_BREACHES,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=8,
)
def scan_sla_breaches() -> int:
    with transaction() as session:
        breached = breaches.mark_breaches(session, now=utcnow())
        announced = wrote_events(session)
    if breached:
        logger.info("SLA breached: tickets %s", breached)
    if announced:
        _publisher().publish_pending()
    return len(breached)


@app.task(
    name=tasks.SCAN_AUTOMATIONS,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=8,
)
def scan_automations() -> int:
    """Run the time-based automations; a run retried after a crash acts on nothing twice (each
    act is marked in its own transaction)."""
    publisher = _publisher()
    outcomes = automations.scan_automations(
        now=utcnow(),
        limit=get_settings().automation_scan_limit,
        published=publisher.publish_pending,
    )
    acted = outcomes["acted"]
    if acted or outcomes["failed"]:
        request_stats_refresh()
    return acted


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
    name=tasks.RECONCILE_OUTBOX,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=8,
)
def reconcile_outbox() -> int:
    """Publish again the events a consumer has not recorded in time (Redis lost them)."""
    reconciler = OutboxReconciler(
        publisher=_publisher(), redis=get_redis(), settings=get_settings()
    )
    done = reconciler.reconcile()
    return 0 if done is None else done.to_worker + done.to_stream


@app.task(
    name=tasks.PRUNE_PROCESSED_EVENTS,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=8,
)
def prune_processed_events() -> int:
    with transaction() as session:
        return events.prune_processed_events(session, now=utcnow())


@app.task(
    name=tasks.PRUNE_IDEMPOTENCY_KEYS,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=8,
)
def prune_idempotency_keys(batch_rows: int = idempotency.PRUNE_BATCH_ROWS) -> int:
    """Delete the Idempotency-Key answers past their time to live, a batch per transaction."""
    kept = timedelta(hours=get_settings().idempotency_ttl_hours)
    pruned = 0
    while True:
        with transaction() as session:
            batch = idempotency.prune_expired_keys(
                session, now=utcnow(), kept=kept, limit=batch_rows
            )
        pruned += batch
        if batch < batch_rows:
            return pruned
