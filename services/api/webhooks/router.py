from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from services.api.dependencies import CurrentUser, DbSession
from services.api.schemas import Limit, Offset, Page, PathId
from services.api.webhooks import service
from services.api.webhooks.dependencies import Admin
from services.api.webhooks.schemas import (
    DeliveryOut,
    WebhookCreate,
    WebhookOut,
    WebhookUpdate,
    WebhookWithSecret,
)
from shared.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from shared.unit_of_work import run_sync, write_savepoint

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


@router.get("", response_model=list[WebhookOut])
def list_webhooks(session: DbSession, actor: CurrentUser) -> list[WebhookEndpoint]:
    """List webhook endpoints (admins)."""
    return service.list_endpoints(session, actor=actor)


# Registering or changing a URL resolves its host first, then takes the write turn: the
# session is opened here rather than by DbSession, which would take the turn before the DNS.


@router.post("", response_model=WebhookWithSecret, status_code=status.HTTP_201_CREATED)
async def create_webhook(body: WebhookCreate, actor: Admin) -> WebhookEndpoint:
    """Subscribe a URL to events; the answer carries the signing secret (admins)."""
    await service.check_url(body.url)
    async with write_savepoint() as session:
        return await run_sync(lambda: service.create_endpoint(session, actor=actor, fields=body))


@router.get("/{endpoint_id}", response_model=WebhookWithSecret)
def get_webhook(endpoint_id: PathId, session: DbSession, actor: CurrentUser) -> WebhookEndpoint:
    """Get a webhook endpoint with its signing secret (admins)."""
    return service.get_endpoint(session, actor=actor, endpoint_id=endpoint_id)


@router.patch("/{endpoint_id}", response_model=WebhookOut)
async def update_webhook(endpoint_id: PathId, body: WebhookUpdate, actor: Admin) -> WebhookEndpoint:
    """Change the URL, the event filter or the description (admins)."""
    if body.url is not None:
        await service.check_url(body.url)
    async with write_savepoint() as session:
        return await run_sync(
            lambda: service.update_endpoint(
                session, actor=actor, endpoint_id=endpoint_id, fields=body
            )
        )


@router.delete("/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_webhook(endpoint_id: PathId, session: DbSession, actor: CurrentUser) -> Response:
    """Delete an endpoint and its delivery log (admins)."""
    service.delete_endpoint(session, actor=actor, endpoint_id=endpoint_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{endpoint_id}/rotate-secret", response_model=WebhookWithSecret)
def rotate_secret(endpoint_id: PathId, session: DbSession, actor: CurrentUser) -> WebhookEndpoint:
    """A new signing secret; the old one keeps signing beside it for 24 hours (admins)."""
    return service.rotate_secret(session, actor=actor, endpoint_id=endpoint_id)


@router.post("/{endpoint_id}/enable", response_model=WebhookOut)
def enable_webhook(endpoint_id: PathId, session: DbSession, actor: CurrentUser) -> WebhookEndpoint:
    """Re-enable a disabled endpoint; its pending deliveries resume (admins)."""
    return service.enable_endpoint(session, actor=actor, endpoint_id=endpoint_id)


@router.post(
    "/{endpoint_id}/test", response_model=DeliveryOut, status_code=status.HTTP_202_ACCEPTED
)
def test_webhook(endpoint_id: PathId, session: DbSession, actor: CurrentUser) -> WebhookDelivery:
    """Send a `webhook.test` event to the endpoint (admins)."""
    return service.send_test_event(session, actor=actor, endpoint_id=endpoint_id)


@router.get("/{endpoint_id}/deliveries", response_model=Page[DeliveryOut])
def list_deliveries(
    endpoint_id: PathId,
    session: DbSession,
    actor: CurrentUser,
    delivery_status: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    limit: Annotated[Limit, Query()] = 50,
    offset: Annotated[Offset, Query()] = 0,
) -> Page[DeliveryOut]:
    """Every delivery to the endpoint, newest first, with each attempt (admins)."""
    deliveries, total = service.list_deliveries(
        session,
        actor=actor,
        endpoint_id=endpoint_id,
        status=delivery_status,
        limit=limit,
        offset=offset,
    )
    items = [DeliveryOut.model_validate(delivery) for delivery in deliveries]
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/redeliver",
    response_model=DeliveryOut,
    status_code=status.HTTP_202_ACCEPTED,
)
def redeliver(
    endpoint_id: PathId, delivery_id: PathId, session: DbSession, actor: CurrentUser
) -> WebhookDelivery:
    """Attempt a delivery once more, now (admins)."""
    return service.redeliver(session, actor=actor, endpoint_id=endpoint_id, delivery_id=delivery_id)
