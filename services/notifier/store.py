"""The notifier's database work: recording deliveries, claiming due ones, storing outcomes.

Synchronous SQLAlchemy, run in a thread by the asyncio service, one transaction per batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from services.notifier.retry import next_attempt_at
from services.notifier.sender import AttemptOutcome, DeliveryJob
from shared.clock import utcnow
from shared.db import session_scope
from shared.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from shared.settings import Settings

_RACE_RETRIES = 3


@dataclass(frozen=True)
class StreamEvent:
    entry_id: str
    event_id: str
    event_type: str
    occurred_at: datetime
    payload: str


def _secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    secrets = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires and expires > now:
        secrets.append(endpoint.previous_secret)
    return secrets


def _job(delivery: WebhookDelivery, endpoint: WebhookEndpoint, now: datetime) -> DeliveryJob:
    return DeliveryJob(
        delivery_id=delivery.id,
        endpoint_id=endpoint.id,
        url=endpoint.url,
        secrets=_secrets(endpoint, now),
        event_id=delivery.event_id,
        payload=delivery.payload,
        attempt_number=delivery.attempts + 1,
    )


class DeliveryStore:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lease = timedelta(seconds=settings.notifier_lease_seconds)
        self.disable_after = timedelta(hours=settings.webhook_disable_after_hours)

    def record_new_deliveries(self, events: list[StreamEvent]) -> list[DeliveryJob]:
        """A delivery row for every (enabled endpoint, event) it subscribes to, unless another
        replica recorded it already; returns the new ones, claimed by the caller."""
        if not events:
            return []
        for _ in range(_RACE_RETRIES):
            try:
                return self._record_new_deliveries(events)
            except IntegrityError:
                # Another replica recorded the same (endpoint, event) a moment ago (PostgreSQL;
                # SQLite serialises writers): run again, now seeing its rows.
                continue
        return self._record_new_deliveries(events)

    def _record_new_deliveries(self, events: list[StreamEvent]) -> list[DeliveryJob]:
        now = utcnow()
        with session_scope() as session:
            endpoints = list(
                session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True)))
            )
            wanted = [
                (endpoint, event)
                for event in events
                for endpoint in endpoints
                # An endpoint gets the events that happen after it was registered.
                if endpoint.wants(event.event_type) and event.occurred_at >= endpoint.created_at
            ]
            if not wanted:
                return []
            existing = {
                (endpoint_id, event_id)
                for endpoint_id, event_id in session.execute(
                    select(WebhookDelivery.endpoint_id, WebhookDelivery.event_id).where(
                        WebhookDelivery.event_id.in_({event.event_id for _e, event in wanted})
                    )
                )
            }
            created: list[tuple[WebhookDelivery, WebhookEndpoint]] = []
            for endpoint, event in wanted:
                if (endpoint.id, event.event_id) in existing:
                    continue
                delivery = WebhookDelivery(
                    endpoint_id=endpoint.id,
                    event_id=event.event_id,
                    event_type=event.event_type,
                    payload=event.payload,
                    status=DeliveryStatus.PENDING,
                    next_attempt_at=now,
                    claimed_until=now + self.lease,
                    created_at=now,
                    updated_at=now,
                )
                session.add(delivery)
                created.append((delivery, endpoint))
            session.flush()
            return [_job(delivery, endpoint, now) for delivery, endpoint in created]

    def claim_due(self, *, limit: int) -> list[DeliveryJob]:
        """Pending deliveries whose time has come and that nobody holds (retries, tests,
        redeliveries, the work of a crashed replica), claimed for the caller."""
        if limit <= 0:
            return []
        now = utcnow()
        with session_scope() as session:
            rows = session.execute(
                select(WebhookDelivery, WebhookEndpoint)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .where(
                    WebhookDelivery.status == DeliveryStatus.PENDING,
                    WebhookDelivery.next_attempt_at <= now,
                    or_(
                        WebhookDelivery.claimed_until.is_(None),
                        WebhookDelivery.claimed_until < now,
                    ),
                    WebhookEndpoint.enabled.is_(True),
                )
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(limit)
            ).all()
            free = or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now)
            won = set(
                session.scalars(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id.in_([d.id for d, _e in rows]), free)
                    .values(claimed_until=now + self.lease)
                    .returning(WebhookDelivery.id)
                    .execution_options(synchronize_session=False)
                )
            )
            return [
                _job(delivery, endpoint, now) for delivery, endpoint in rows if delivery.id in won
            ]

    def renew_claims(self, delivery_ids: list[int]) -> None:
        """Extend the claim on deliveries this notifier still holds (queued or under way), so
        a backlog never lets another replica think they were abandoned."""
        if not delivery_ids:
            return
        with session_scope() as session:
            session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id.in_(delivery_ids),
                    WebhookDelivery.status == DeliveryStatus.PENDING,
                )
                .values(claimed_until=utcnow() + self.lease)
                .execution_options(synchronize_session=False)
            )

    def record_outcomes(self, outcomes: list[AttemptOutcome]) -> None:
        """Each attempt into the log; each delivery succeeded, rescheduled or failed; each
        endpoint's health updated (and disabled after failing too long, or on 410 Gone).

        Bulk statements: the write lock is shared with the API, so it is held for as short a
        time as a batch allows.
        """
        if not outcomes:
            return
        with session_scope() as session:
            deliveries = {
                d.id: d
                for d in session.scalars(
                    select(WebhookDelivery).where(
                        WebhookDelivery.id.in_({o.job.delivery_id for o in outcomes})
                    )
                )
            }
            endpoints = {
                e.id: e
                for e in session.scalars(
                    select(WebhookEndpoint).where(
                        WebhookEndpoint.id.in_({o.job.endpoint_id for o in outcomes})
                    )
                )
            }
            delivery_rows: list[dict[str, object]] = []
            attempt_rows: list[dict[str, object]] = []
            for outcome in outcomes:
                delivery = deliveries.get(outcome.job.delivery_id)
                endpoint = endpoints.get(outcome.job.endpoint_id)
                if delivery is None or endpoint is None:
                    continue  # deleted meanwhile
                delivery.attempts += 1  # in memory only: the bulk UPDATE below writes it
                retry_at = None
                if outcome.succeeded:
                    status = DeliveryStatus.SUCCEEDED
                    endpoint.failing_since = None
                else:
                    retry_at = next_attempt_at(
                        attempts_made=delivery.attempts,
                        schedule=self.settings.webhook_retry_schedule_seconds,
                        now=outcome.attempted_at,
                        requested_delay=outcome.requested_delay,
                    )
                    status = DeliveryStatus.PENDING if retry_at else DeliveryStatus.FAILED
                    self._note_failure(endpoint, outcome)
                delivery_rows.append(
                    {
                        "id": delivery.id,
                        "attempts": delivery.attempts,
                        "status": status,
                        "next_attempt_at": retry_at,
                        "claimed_until": None,
                        "updated_at": outcome.attempted_at,
                    }
                )
                attempt_rows.append(
                    {
                        "delivery_id": delivery.id,
                        "attempt_number": delivery.attempts,
                        "attempted_at": outcome.attempted_at,
                        "status_code": outcome.status_code,
                        "duration_ms": outcome.duration_ms,
                        "error": outcome.error,
                        "response_body": outcome.response_body,
                        "next_retry_at": retry_at,
                    }
                )
            for delivery in deliveries.values():
                session.expire(delivery)  # keep the ORM from writing them a second time
            if delivery_rows:
                session.execute(update(WebhookDelivery), delivery_rows)
                session.execute(insert(WebhookAttempt), attempt_rows)

    def _note_failure(self, endpoint: WebhookEndpoint, outcome: AttemptOutcome) -> None:
        at = outcome.attempted_at
        endpoint.failing_since = endpoint.failing_since or at
        if not endpoint.enabled:
            return
        if outcome.status_code == 410:
            reason = "the receiver answered 410 Gone"
        elif at - endpoint.failing_since >= self.disable_after:
            reason = f"every delivery failed since {endpoint.failing_since.isoformat()}"
        else:
            return
        endpoint.enabled = False
        endpoint.disabled_reason = reason
        endpoint.disabled_at = at
