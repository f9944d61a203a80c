"""Escalation: a ticket a bot cannot solve goes to a human agent from its category's pool.

Only tickets held by a bot, or by nobody, are escalated: a ticket a human already holds has
nobody to escalate to (409; reassign it instead), and a closed ticket is re-opened first.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from services.api.comments.schemas import CommentCreate, CommentOut
from services.api.comments.service import add_comment
from services.api.tickets.escalation_schemas import EscalationOut, EscalationRequest
from services.api.tickets.service import check_version, get_visible_ticket, render
from shared.clock import utcnow
from shared.errors import Conflict, Forbidden, InvalidInput, InvalidReference
from shared.event_types import Escalation as EscalationData
from shared.event_types import TicketEscalated
from shared.models import PriorityLevel, Ticket, TicketEscalation, User
from shared.routing import named_ref, pick_assignee
from shared.rules.escalation import NOBODY_AVAILABLE
from shared.ticket_changes import (
    FieldChange,
    HistoryEntry,
    record_field_changes,
    record_ticket_change,
)
from shared.ticket_view import staff_view, user_ref


@dataclass(frozen=True)
class Escalation:
    ticket: Ticket
    escalated_from: User | None
    escalated_to: User | None
    comment: CommentOut
    detail: str


def _ensure_escalable(ticket: Ticket) -> None:
    holder = ticket.assignee
    if ticket.status.is_closed:
        raise Conflict(f"{ticket.number} is closed; re-open it before escalating it")
    if holder is not None and not holder.is_bot:
        raise Conflict(
            f"{ticket.number} is already held by a human agent ({holder.name}); "
            "assign it to someone else instead of escalating it",
            field="assigned_to",
        )


def _raised_priority(session: Session, ticket: Ticket, priority_id: int) -> PriorityLevel:
    priority = session.get(PriorityLevel, priority_id)
    if priority is None:
        raise InvalidReference(f"no priority with id {priority_id}", field="priority_id")
    if priority.rank > ticket.priority.rank:
        raise InvalidInput(
            f"escalation only raises the priority: {priority.name} is less urgent than "
            f"{ticket.priority.name}",
            field="priority_id",
        )
    return priority


def escalate_ticket(
    session: Session,
    *,
    actor: User,
    ref: str,
    request: EscalationRequest,
    if_match: str | None,
) -> Escalation:
    if not actor.role.is_staff:
        raise Forbidden("customers cannot escalate tickets")
    ticket = get_visible_ticket(session, viewer=actor, ref=ref)
    check_version(ticket.version, if_match)
    _ensure_escalable(ticket)
    priority = (
        _raised_priority(session, ticket, request.priority_id)
        if request.priority_id is not None
        else None
    )
    bot = ticket.assignee
    human = pick_assignee(session, category_id=ticket.category_id, humans_only=True).assignee

    comment = add_comment(
        session,
        actor=actor,
        ref=str(ticket.id),
        request=CommentCreate(body=f"Escalated to a human agent: {request.reason}", internal=True),
    )
    now = utcnow()
    changes: list[FieldChange] = []
    if human is not bot:
        changes.append(FieldChange("assignee", named_ref(bot), named_ref(human)))
        ticket.assignee = human
    if priority is not None and priority.id != ticket.priority_id:
        changes.append(
            FieldChange(
                "priority",
                {"id": ticket.priority.id, "name": ticket.priority.name},
                {"id": priority.id, "name": priority.name},
            )
        )
        ticket.priority = priority
    if changes:
        ticket.updated_at = now
        record_field_changes(session, ticket, changes, actor=actor, at=now, resolved=False)

    detail = (
        f"escalated to {human.name}"
        if human is not None
        else "escalated, but no human agent is available in the category's assignment pool: "
        "the ticket is unassigned until someone takes it"
    )
    session.add(
        TicketEscalation(
            ticket_id=ticket.id,
            actor_id=actor.id,
            from_user_id=bot.id if bot else None,
            to_user_id=human.id if human else None,
            reason=request.reason,
            escalated_at=now,
        )
    )
    escalated = TicketEscalated(
        ticket=staff_view(session, ticket),
        actor=user_ref(actor),
        escalation=EscalationData(
            reason=request.reason,
            from_=named_ref(bot),
            to=named_ref(human),
            comment_id=comment.id,
        ),
    )
    record_ticket_change(
        session,
        ticket_id=ticket.id,
        actor_id=actor.id,
        at=now,
        history=[
            HistoryEntry(
                "escalated", bot.name if bot else None, human.name if human else NOBODY_AVAILABLE
            )
        ],
        events=[escalated],
    )
    return Escalation(
        ticket=ticket, escalated_from=bot, escalated_to=human, comment=comment, detail=detail
    )


def escalation_out(session: Session, outcome: Escalation, *, viewer: User) -> EscalationOut:
    """An escalation as the API answers it (REST and MCP alike)."""
    return EscalationOut(
        ticket=render(session, outcome.ticket, viewer=viewer),
        escalated_from=user_ref(outcome.escalated_from) if outcome.escalated_from else None,
        escalated_to=user_ref(outcome.escalated_to) if outcome.escalated_to else None,
        comment=outcome.comment,
        detail=outcome.detail,
    )
