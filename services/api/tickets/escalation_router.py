from __future__ import annotations

from fastapi import APIRouter, Response, status

from services.api.dependencies import ActingUser, DbSession
from services.api.idempotency import respond_once
from services.api.responses import etag
from services.api.schemas import IdempotencyKeyHeader, IfMatchHeader
from services.api.tickets import escalation
from services.api.tickets.escalation_schemas import EscalationOut, EscalationRequest
from services.api.tickets.router import TicketRef

router = APIRouter(prefix="/tickets", tags=["tickets"])


@router.post(
    "/{ticket_ref}/escalate",
    response_model=EscalationOut,
    responses={200: {"headers": {"ETag": {"schema": {"type": "string"}}}}},
)
def escalate_ticket(
    ticket_ref: TicketRef,
    body: EscalationRequest,
    session: DbSession,
    actor: ActingUser,
    idempotency_key: IdempotencyKeyHeader = None,
    if_match: IfMatchHeader = None,
) -> Response:
    """Hand a ticket from a bot to a human agent of its category's pool (agents and admins)."""

    def escalate() -> tuple[EscalationOut, dict[str, str]]:
        outcome = escalation.escalate_ticket(
            session, actor=actor, ref=ticket_ref, request=body, if_match=if_match
        )
        out = escalation.escalation_out(session, outcome, viewer=actor)
        return out, etag(out.ticket.version)

    return respond_once(
        session,
        user=actor,
        key=idempotency_key,
        path=f"/tickets/{ticket_ref}/escalate",
        payload=body,
        status_code=status.HTTP_200_OK,
        action=escalate,
    )
