"""Webhook subscriptions (admins only): register, change, rotate secrets, test, redeliver.

A new or changed URL is checked in two steps: `check_url` (its host resolved, with a timeout)
before the request's write turn, then `create_endpoint` / `update_endpoint` in it, which take
the URL apart again but never wait for DNS."""

from __future__ import annotations

from datetime import timedelta

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.api.webhooks.schemas import TEST_EVENT_TYPE, WebhookCreate, WebhookUpdate
from shared.clock import utcnow
from shared.errors import Conflict, Forbidden, NotFound
from shared.events import build_envelope, new_event_id
from shared.models import (
    DeliveryStatus,
    Role,
    User,
    WebhookDelivery,
    WebhookEndpoint,
)
from shared.settings import get_settings
from shared.webhook_security import (
    check_url_at_registration,
    new_signing_secret,
    parse_webhook_url,
)

SECRET_OVERLAP = timedelta(hours=24)


def require_admin(actor: User) -> None:
    if actor.role is not Role.ADMIN:
        raise Forbidden("only admins manage webhooks")


async def check_url(url: str) -> None:
    """Refuse a malformed URL or one whose host is not public (or does not resolve in time).
    Outside any transaction: a slow DNS answer must not hold up other writes."""
    settings = get_settings()
    await check_url_at_registration(
        url,
        allow_private=settings.webhook_allow_private_urls,
        timeout=settings.webhook_dns_timeout_seconds,
    )


def list_endpoints(session: Session, *, actor: User) -> list[WebhookEndpoint]:
    require_admin(actor)
    return list(session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def get_endpoint(session: Session, *, actor: User, endpoint_id: int) -> WebhookEndpoint:
    require_admin(actor)
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise NotFound(f"no webhook endpoint with id {endpoint_id}")
    return endpoint


def create_endpoint(session: Session, *, actor: User, fields: WebhookCreate) -> WebhookEndpoint:
    require_admin(actor)
    parse_webhook_url(fields.url)
    endpoint = WebhookEndpoint(
        url=fields.url,
        description=fields.description,
        event_types=fields.event_types,
        secret=new_signing_secret(),
    )
    session.add(endpoint)
    session.flush()
    return endpoint


def update_endpoint(
    session: Session, *, actor: User, endpoint_id: int, fields: WebhookUpdate
) -> WebhookEndpoint:
    endpoint = get_endpoint(session, actor=actor, endpoint_id=endpoint_id)
    changes = fields.model_dump(exclude_unset=True, exclude_none=True)
    if "url" in changes:
        parse_webhook_url(changes["url"])
    for name, value in changes.items():
        setattr(endpoint, name, value)
    session.flush()
    return endpoint


def delete_endpoint(session: Session, *, actor: User, endpoint_id: int) -> None:
    session.delete(get_endpoint(session, actor=actor, endpoint_id=endpoint_id))
    session.flush()


def rotate_secret(session: Session, *, actor: User, endpoint_id: int) -> WebhookEndpoint:
    """A new secret; the old one keeps signing, as a second signature, for 24 hours."""
    endpoint = get_endpoint(session, actor=actor, endpoint_id=endpoint_id)
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = utcnow() + SECRET_OVERLAP
    endpoint.secret = new_signing_secret()
    session.flush()
    return endpoint


def enable_endpoint(session: Session, *, actor: User, endpoint_id: int) -> WebhookEndpoint:
    endpoint = get_endpoint(session, actor=actor, endpoint_id=endpoint_id)
    endpoint.enabled = True
    endpoint.disabled_reason = None
    endpoint.disabled_at = None
    endpoint.failing_since = None
    session.flush()
    return endpoint


def send_test_event(session: Session, *, actor: User, endpoint_id: int) -> WebhookDelivery:
    """Queue a `webhook.test` delivery: the notifier picks it up within a second."""
    endpoint = get_endpoint(session, actor=actor, endpoint_id=endpoint_id)
    if not endpoint.enabled:
        raise Conflict("the endpoint is disabled; enable it first")
    now = utcnow()
    event_id = new_event_id()
    data = {"endpoint_id": endpoint.id, "message": "A test event from Ticketing"}
    envelope = build_envelope(TEST_EVENT_TYPE, data, event_id=event_id, occurred_at=now)
    delivery = WebhookDelivery(
        endpoint_id=endpoint.id,
        event_id=event_id,
        event_type=TEST_EVENT_TYPE,
        payload=orjson.dumps(envelope).decode(),
        status=DeliveryStatus.PENDING,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(delivery)
    session.flush()
    return delivery


def list_deliveries(
    session: Session,
    *,
    actor: User,
    endpoint_id: int,
    status: DeliveryStatus | None,
    limit: int,
    offset: int,
) -> tuple[list[WebhookDelivery], int]:
    get_endpoint(session, actor=actor, endpoint_id=endpoint_id)
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = query.order_by(WebhookDelivery.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(page)), total


def redeliver(
    session: Session, *, actor: User, endpoint_id: int, delivery_id: int
) -> WebhookDelivery:
    """One more attempt now, whatever happened before."""
    endpoint = get_endpoint(session, actor=actor, endpoint_id=endpoint_id)
    if not endpoint.enabled:
        raise Conflict("the endpoint is disabled; enable it first")
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.endpoint_id != endpoint_id:
        raise NotFound(f"no delivery {delivery_id} for webhook endpoint {endpoint_id}")
    now = utcnow()
    if delivery.claimed_until is not None and delivery.claimed_until > now:
        raise Conflict("an attempt of this delivery is under way; look again in a moment")
    delivery.status = DeliveryStatus.PENDING
    delivery.next_attempt_at = now
    delivery.updated_at = now
    session.flush()
    return delivery
