"""Escalation as a rule's action: a ticket held by a bot, or by nobody, goes to a human of its
category's assignment pool, with the same record the API's escalation writes (a
`ticket_escalations` row, an `escalated` history row and a `ticket.escalated` event)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from shared.errors import Conflict, InvalidReference
from shared.event_types import Escalation as EscalationData
from shared.event_types import EventActor, NamedRef, TicketEscalated
from shared.models import TicketEscalation, ticket_number
from shared.reference_cache import ReferenceData, reference_cache
from shared.routing import pick_assignee
from shared.ticket_changes import HistoryEntry, record_ticket_change
from shared.ticket_rows import row_view_for
from shared.ticket_view import TicketRow

NOBODY_AVAILABLE = "nobody: no active human agent in the category's assignment pool"


@dataclass(frozen=True)
class Handover:
    """Who held the ticket, the human it goes to (None: nobody is free), the fields to edit."""

    from_: NamedRef | None
    to: NamedRef | None
    sent: frozenset[str]
    assignee_id: int | None
    priority_id: int | None


def _refuse_unless_escalable(session: Session, row: TicketRow, reference: ReferenceData) -> None:
    if reference.statuses[row.status_id].is_closed:
        raise Conflict(f"{ticket_number(row.id)} is closed; it is not escalated", field="status_id")
    holder = reference_cache.person(session, user_id=row.assignee_id) if row.assignee_id else None
    if holder is not None and not holder.is_bot:
        raise Conflict(
            f"{ticket_number(row.id)} is already held by a human agent ({holder.name})",
            field="assigned_to",
        )


def plan_escalation(session: Session, *, row: TicketRow, priority_id: int | None) -> Handover:
    """Pick the human (moving the pool's cursor in the caller's transaction) and the raised
    priority; a priority less urgent than the ticket's is left as it is."""
    reference = reference_cache.reference(session)
    _refuse_unless_escalable(session, row, reference)
    holder = reference_cache.person(session, user_id=row.assignee_id) if row.assignee_id else None
    human = pick_assignee(session, category_id=row.category_id, humans_only=True).assignee
    sent: set[str] = set()
    if (human.id if human else None) != row.assignee_id:
        sent.add("assigned_to")
    raised = None
    if priority_id is not None:
        priority = reference.priorities.get(priority_id)
        if priority is None:
            raise InvalidReference(f"no priority with id {priority_id}", field="priority_id")
        if priority.rank < reference.priorities[row.priority_id].rank:
            sent.add("priority_id")
            raised = priority.id
    return Handover(
        from_=NamedRef(id=holder.id, name=holder.name) if holder else None,
        to=NamedRef(id=human.id, name=human.name) if human else None,
        sent=frozenset(sent),
        assignee_id=human.id if human else None,
        priority_id=raised,
    )


def record_escalation(
    session: Session,
    *,
    row: TicketRow,
    handover: Handover,
    reason: str,
    comment_id: int,
    actor: EventActor,
    author_id: int,
    actor_id: int | None,
    actor_trigger_id: int | None,
    actor_automation_id: int | None,
    at: datetime,
) -> None:
    """The escalation's own record, once the ticket (`row`, after the edit) is handed over."""
    session.add(
        TicketEscalation(
            ticket_id=row.id,
            actor_id=author_id,
            from_user_id=handover.from_.id if handover.from_ else None,
            to_user_id=handover.to.id if handover.to else None,
            reason=reason,
            escalated_at=at,
        )
    )
    record_ticket_change(
        session,
        ticket_id=row.id,
        actor_id=actor_id,
        actor_trigger_id=actor_trigger_id,
        actor_automation_id=actor_automation_id,
        at=at,
        history=[
            HistoryEntry(
                "escalated",
                handover.from_.name if handover.from_ else None,
                handover.to.name if handover.to else NOBODY_AVAILABLE,
            )
        ],
        events=[
            TicketEscalated(
                ticket=row_view_for(session, row, staff=True),
                actor=actor,
                escalation=EscalationData(
                    reason=reason, from_=handover.from_, to=handover.to, comment_id=comment_id
                ),
            )
        ],
    )


def escalation_outlook(
    session: Session, *, row: TicketRow, reference: ReferenceData
) -> tuple[bool, str]:
    """Whether the ticket would be escalated now, and how; the pool's cursor does not move."""
    try:
        _refuse_unless_escalable(session, row, reference)
    except Conflict as refused:
        return False, f"not escalated: {refused.detail}"
    category = reference.categories.get(row.category_id)
    name = category.name if category else str(row.category_id)
    return True, f"escalate to a human agent of the pool of {name}"
