"""The notifier's database work: recording deliveries, claiming due ones, storing outcomes.

Synchronous SQLAlchemy, run in a thread by the asyncio service, one transaction per batch.
Core statements on plain rows, not ORM objects: a backlog is drained thousands of deliveries a
second, and the write lock is shared with the API, so it is held for as short a time as a batch
allows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import orjson
from sqlalchemy import Insert, Table, bindparam, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import (
    DisconnectionError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from services.notifier.retry import next_attempt_at
from services.notifier.sender import AttemptOutcome, DeliveryJob
from shared.clock import utcnow
from shared.event_types import EventType
from shared.models import (
    DeliveryStatus,
    NotifiedEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from shared.settings import Settings
from shared.unit_of_work import transaction

# Parameters a statement takes: PostgreSQL 65,535; SQLite 32,766 (unless built with more).
_IDS_PER_STATEMENT = 10_000

_deliveries = cast(Table, WebhookDelivery.__table__)
_attempts = cast(Table, WebhookAttempt.__table__)
_endpoints = cast(Table, WebhookEndpoint.__table__)
_notified = cast(Table, NotifiedEvent.__table__)

# What a delivery attempt needs to know about its endpoint.
_ENDPOINT_COLUMNS = (
    WebhookEndpoint.id,
    WebhookEndpoint.url,
    WebhookEndpoint.secret,
    WebhookEndpoint.previous_secret,
    WebhookEndpoint.previous_secret_expires_at,
)


@dataclass(frozen=True)
class StreamEvent:
    entry_id: str
    event_id: str
    event_type: str
    occurred_at: datetime
    payload: str


@dataclass(frozen=True)
class Refusal:
    """An outcome the database would not store while it stored others."""

    outcome: AttemptOutcome
    reason: str


@dataclass
class _Health:
    """An endpoint's failure run as the outcomes of a batch change it."""

    enabled: bool
    failing_since: datetime | None
    changes: dict[str, Any]


def _secrets(endpoint: Any, now: datetime) -> list[str]:
    """The secrets to sign with: after a rotation, the previous one too until it expires (a
    row with the columns of `_ENDPOINT_COLUMNS`)."""
    secrets: list[str] = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires and expires > now:
        secrets.append(endpoint.previous_secret)
    return secrets


def _forwarded_to(event: StreamEvent) -> int | None:
    """The one endpoint a trigger sent this event to (`ticket.forwarded`), else None."""
    if event.event_type != EventType.TICKET_FORWARDED:
        return None
    endpoint_id = orjson.loads(event.payload).get("data", {}).get("endpoint_id")
    return int(endpoint_id) if isinstance(endpoint_id, int) else -1


def _delivers(endpoint: Any, event: StreamEvent, target: int | None) -> bool:
    """Whether the endpoint gets the event: a forwarded one goes to its target only, whatever
    it subscribes to; the others to their subscribers registered before they happened."""
    if target is not None:
        return bool(endpoint.id == target)
    return (
        _wants(endpoint.event_types, event.event_type) and event.occurred_at >= endpoint.created_at
    )


def _wants(event_types: list[str] | None, event_type: str) -> bool:
    """The rule of `WebhookEndpoint.wants`: an empty list means every type."""
    return not event_types or event_type in event_types


def _database_trouble(exc: SQLAlchemyError) -> bool:
    """An error of the database itself (connection lost, locked past the busy timeout, no
    connection free), which every transaction would meet now: one statement at a time would
    only wait longer."""
    return isinstance(exc, OperationalError | InterfaceError | PoolTimeout | DisconnectionError)


def _on_conflict_do_nothing(session: Session, table: Table) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING: another replica may have recorded the same (endpoint,
    event) a moment ago; its row stands and the delivery is its to make."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert(table).on_conflict_do_nothing()


class DeliveryStore:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lease = timedelta(seconds=settings.notifier_lease_seconds)
        self.disable_after = timedelta(hours=settings.webhook_disable_after_hours)

    def record_new_deliveries(self, events: list[StreamEvent]) -> list[DeliveryJob]:
        """A delivery row for every (enabled endpoint, event) it subscribes to, unless one was
        recorded already (by another replica, or from a copy of the event); returns the new
        ones, claimed for the caller in the same statement."""
        if not events:
            return []
        now = utcnow()
        with transaction() as session:
            # The notifier's acknowledgement, in the transaction of the deliveries: the outbox
            # reconciler sends again what it never recorded (a Redis that lost the entries).
            session.execute(
                _on_conflict_do_nothing(session, _notified),
                [{"event_id": event.event_id, "recorded_at": now} for event in events],
            )
            endpoints = session.execute(
                select(
                    *_ENDPOINT_COLUMNS, WebhookEndpoint.event_types, WebhookEndpoint.created_at
                ).where(WebhookEndpoint.enabled.is_(True))
            ).all()
            targets = {event.event_id: _forwarded_to(event) for event in events}
            rows = [
                {
                    "endpoint_id": endpoint.id,
                    "event_id": event.event_id,
                    "event_type": event.event_type,
                    "payload": event.payload,
                    "status": DeliveryStatus.PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "claimed_until": now + self.lease,
                    "created_at": now,
                    "updated_at": now,
                }
                for event in events
                for endpoint in endpoints
                if _delivers(endpoint, event, targets[event.event_id])
            ]
            if not rows:
                return []
            created = session.execute(
                _on_conflict_do_nothing(session, _deliveries).returning(
                    _deliveries.c.id, _deliveries.c.endpoint_id, _deliveries.c.event_id
                ),
                rows,
            ).all()
        by_id = {endpoint.id: endpoint for endpoint in endpoints}
        by_event = {event.event_id: event for event in events}
        jobs = []
        for delivery_id, endpoint_id, event_id in created:
            endpoint = by_id[endpoint_id]
            event = by_event[event_id]
            jobs.append(
                DeliveryJob(
                    delivery_id=delivery_id,
                    endpoint_id=endpoint_id,
                    url=endpoint.url,
                    secrets=_secrets(endpoint, now),
                    event_id=event_id,
                    payload=event.payload,
                    attempt_number=1,
                    occurred_at=event.occurred_at,
                )
            )
        # In the order the events came, as a receiver would expect them.
        order = {event.event_id: n for n, event in enumerate(events)}
        return sorted(jobs, key=lambda job: order[job.event_id])

    @staticmethod
    def forget_notified(*, before: datetime) -> int:
        """Drop the ledger's rows older than any event the reconciler still looks at."""
        with transaction() as session:
            result = session.execute(delete(_notified).where(_notified.c.recorded_at < before))
        return int(getattr(result, "rowcount", 0) or 0)

    def claim_due(self, *, limit: int) -> list[DeliveryJob]:
        """Pending deliveries whose time has come and that nobody holds (retries, tests,
        redeliveries, the work of a crashed replica), claimed for the caller."""
        if limit <= 0:
            return []
        now = utcnow()
        free = or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now)
        with transaction() as session:
            due = session.execute(
                select(
                    WebhookDelivery.id.label("delivery_id"),
                    WebhookDelivery.event_id,
                    WebhookDelivery.payload,
                    WebhookDelivery.attempts,
                    *_ENDPOINT_COLUMNS,
                )
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .where(
                    WebhookDelivery.status == DeliveryStatus.PENDING,
                    WebhookDelivery.next_attempt_at <= now,
                    free,
                    WebhookEndpoint.enabled.is_(True),
                )
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(limit)
            ).all()
            if not due:
                return []
            won = set(
                session.scalars(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id.in_([row.delivery_id for row in due]), free)
                    .values(claimed_until=now + self.lease)
                    .returning(WebhookDelivery.id)
                    .execution_options(synchronize_session=False)
                )
            )
        return [
            DeliveryJob(
                delivery_id=row.delivery_id,
                endpoint_id=row.id,
                url=row.url,
                secrets=_secrets(row, now),
                event_id=row.event_id,
                payload=row.payload,
                attempt_number=row.attempts + 1,
            )
            for row in due
            if row.delivery_id in won
        ]

    def renew_claims(self, delivery_ids: list[int]) -> None:
        """Extend the claim on deliveries this notifier still holds (queued or under way), so
        a backlog never lets another replica think they were abandoned."""
        self._set_claims(delivery_ids, claimed_until=utcnow() + self.lease)

    def release_claims(self, delivery_ids: list[int]) -> None:
        """Give up deliveries this notifier will not attempt (it is stopping), so that another
        replica, or this one restarted, takes them at once rather than after the lease."""
        self._set_claims(delivery_ids, claimed_until=None)

    @staticmethod
    def _set_claims(delivery_ids: list[int], *, claimed_until: datetime | None) -> None:
        if not delivery_ids:
            return
        with transaction() as session:
            # In slices: a backlog holds more deliveries than a statement takes parameters.
            for start in range(0, len(delivery_ids), _IDS_PER_STATEMENT):
                session.execute(
                    update(WebhookDelivery)
                    .where(
                        WebhookDelivery.id.in_(delivery_ids[start : start + _IDS_PER_STATEMENT]),
                        WebhookDelivery.status == DeliveryStatus.PENDING,
                    )
                    .values(claimed_until=claimed_until)
                    .execution_options(synchronize_session=False)
                )

    def record_outcomes(self, outcomes: Sequence[AttemptOutcome]) -> list[Refusal]:
        """Each attempt into the log; each delivery succeeded, rescheduled or failed; each
        endpoint's health updated (and disabled after failing too long, or on 410 Gone).

        One transaction for the batch. Should the database refuse it, each outcome is stored
        in a transaction of its own, so that one it cannot take does not hold back the others;
        those refused are returned. When the database is in trouble rather than an outcome
        (unreachable, locked, or it stored none of them), the error is raised.
        """
        if not outcomes:
            return []
        try:
            self._record_outcomes(outcomes)
            return []
        except SQLAlchemyError as exc:
            if len(outcomes) == 1 or _database_trouble(exc):
                raise
        refused: list[Refusal] = []
        error: SQLAlchemyError | None = None
        for outcome in outcomes:
            try:
                self._record_outcomes([outcome])
            except SQLAlchemyError as exc:
                if _database_trouble(exc):
                    raise
                refused.append(Refusal(outcome, str(getattr(exc, "orig", None) or exc)[:500]))
                error = exc
        if error is not None and len(refused) == len(outcomes):
            raise error
        return refused

    def _record_outcomes(self, outcomes: Sequence[AttemptOutcome]) -> None:
        with transaction() as session:
            attempts_made = dict(
                session.execute(
                    select(WebhookDelivery.id, WebhookDelivery.attempts).where(
                        WebhookDelivery.id.in_({o.job.delivery_id for o in outcomes})
                    )
                ).all()
            )
            health = {
                endpoint_id: _Health(enabled, failing_since, {})
                for endpoint_id, enabled, failing_since in session.execute(
                    select(
                        WebhookEndpoint.id, WebhookEndpoint.enabled, WebhookEndpoint.failing_since
                    ).where(WebhookEndpoint.id.in_({o.job.endpoint_id for o in outcomes}))
                )
            }
            delivery_rows: list[dict[str, Any]] = []
            attempt_rows: list[dict[str, Any]] = []
            for outcome in outcomes:
                delivery_id = outcome.job.delivery_id
                endpoint = health.get(outcome.job.endpoint_id)
                if delivery_id not in attempts_made or endpoint is None:
                    continue  # deleted meanwhile
                attempts = attempts_made[delivery_id] = attempts_made[delivery_id] + 1
                retry_at = None
                if outcome.succeeded:
                    status = DeliveryStatus.SUCCEEDED
                    self._note_success(endpoint)
                else:
                    retry_at = next_attempt_at(
                        attempts_made=attempts,
                        schedule=self.settings.webhook_retry_schedule_seconds,
                        now=outcome.attempted_at,
                        requested_delay=outcome.requested_delay,
                    )
                    status = DeliveryStatus.PENDING if retry_at else DeliveryStatus.FAILED
                    self._note_failure(endpoint, outcome)
                delivery_rows.append(
                    {
                        "delivery_id": delivery_id,
                        "attempts": attempts,
                        "status": status,
                        "next_attempt_at": retry_at,
                        "updated_at": outcome.attempted_at,
                    }
                )
                attempt_rows.append(
                    {
                        "delivery_id": delivery_id,
                        "attempt_number": attempts,
                        "attempted_at": outcome.attempted_at,
                        "status_code": outcome.status_code,
                        "duration_ms": outcome.duration_ms,
                        "error": outcome.error,
                        "response_body": outcome.response_body,
                        "next_retry_at": retry_at,
                    }
                )
            if not delivery_rows:
                return
            connection = session.connection()
            connection.execute(
                update(_deliveries)
                .where(_deliveries.c.id == bindparam("delivery_id"))
                .values(
                    attempts=bindparam("attempts"),
                    status=bindparam("status"),
                    next_attempt_at=bindparam("next_attempt_at"),
                    claimed_until=None,
                    updated_at=bindparam("updated_at"),
                ),
                delivery_rows,
            )
            connection.execute(_attempts.insert(), attempt_rows)
            now = utcnow()
            for endpoint_id, endpoint in health.items():
                if endpoint.changes:
                    connection.execute(
                        update(_endpoints)
                        .where(_endpoints.c.id == endpoint_id)
                        .values(**endpoint.changes, updated_at=now)
                    )

    @staticmethod
    def _note_success(endpoint: _Health) -> None:
        if endpoint.failing_since is not None:
            endpoint.failing_since = endpoint.changes["failing_since"] = None

    def _note_failure(self, endpoint: _Health, outcome: AttemptOutcome) -> None:
        at = outcome.attempted_at
        if endpoint.failing_since is None:
            endpoint.failing_since = endpoint.changes["failing_since"] = at
        if not endpoint.enabled:
            return
        if outcome.status_code == 410:
            reason = "the receiver answered 410 Gone"
        elif at - endpoint.failing_since >= self.disable_after:
            reason = f"every delivery failed since {endpoint.failing_since.isoformat()}"
        else:
            return
        endpoint.enabled = False
        endpoint.changes.update(enabled=False, disabled_reason=reason, disabled_at=at)
