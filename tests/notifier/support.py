"""Endpoints, stream events and outcomes for the notifier's tests, on the test database."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import insert, select

from services.notifier.sender import AttemptOutcome, DeliveryJob
from services.notifier.store import StreamEvent
from shared.clock import utcnow
from shared.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from shared.unit_of_work import transaction
from shared.webhook_security import new_signing_secret


def new_event_type() -> str:
    """An event type no other test's endpoint subscribes to by name."""
    return f"test.{uuid.uuid4().hex[:12]}"


def create_endpoint(*, event_type: str, url: str = "http://127.0.0.1:9/hook") -> int:
    now = utcnow()
    with transaction() as session:
        endpoint_id = session.scalar(
            insert(WebhookEndpoint)
            .values(
                url=url,
                description="",
                event_types=[event_type],
                secret=new_signing_secret(),
                enabled=True,
                created_at=now - timedelta(seconds=1),
                updated_at=now,
            )
            .returning(WebhookEndpoint.id)
        )
    assert endpoint_id is not None
    return int(endpoint_id)


def stream_events(event_type: str, count: int) -> list[StreamEvent]:
    now = utcnow()
    events = []
    for n in range(count):
        event_id = f"evt_{uuid.uuid4().hex}"
        payload = f'{{"id":"{event_id}","type":"{event_type}","timestamp":"{now.isoformat()}"}}'
        events.append(StreamEvent(f"{n}-0", event_id, event_type, now, payload))
    return events


def outcome(
    job: DeliveryJob, *, status_code: int | None = 200, attempted_at: datetime | None = None
) -> AttemptOutcome:
    return AttemptOutcome(
        job=job,
        attempted_at=attempted_at or utcnow(),
        duration_ms=3,
        status_code=status_code,
        error=None if status_code == 200 else f"HTTP {status_code}",
        response_body="ok",
        requested_delay=None,
    )


def refused_outcome(job: DeliveryJob) -> AttemptOutcome:
    """An outcome no database stores: its time has no zone, which our columns refuse."""
    return outcome(job, attempted_at=datetime.now())  # noqa: DTZ005


def delivery(delivery_id: int) -> WebhookDelivery:
    with transaction(write=False) as session:
        found = session.get(WebhookDelivery, delivery_id)
        assert found is not None
        return found


def attempt_codes(delivery_id: int) -> list[int | None]:
    with transaction(write=False) as session:
        return list(
            session.scalars(
                select(WebhookAttempt.status_code)
                .where(WebhookAttempt.delivery_id == delivery_id)
                .order_by(WebhookAttempt.attempt_number)
            )
        )


def endpoint(endpoint_id: int) -> WebhookEndpoint:
    with transaction(write=False) as session:
        found = session.get(WebhookEndpoint, endpoint_id)
        assert found is not None
        return found
