from __future__ import annotations

from fastapi import APIRouter, Response

from services.api.bulk import service
from services.api.bulk.dependencies import BulkCaller
from services.api.bulk.schemas import BulkOutcome, BulkUpdate
from services.api.schemas import IdempotencyKeyHeader

router = APIRouter(prefix="/tickets", tags=["tickets"])


@router.post("/bulk", response_model=BulkOutcome)
async def bulk_update_tickets(
    body: BulkUpdate, actor: BulkCaller, idempotency_key: IdempotencyKeyHeader = None
) -> Response:
    """Apply one change (`changes`) or one macro (`macro_id`) to up to 500 tickets (agents and
    admins), with an outcome per ticket: 200 (changed or already as wanted), or the
    403/404/409/412/422 a PATCH (or an apply of the macro) of it alone would get."""
    return await service.bulk_update(actor=actor, request=body, idempotency_key=idempotency_key)
