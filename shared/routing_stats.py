"""Bots and escalation in the statistics: what bots resolve alone, and what they hand on."""

from __future__ import annotations

import statistics
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from shared.models import Ticket, TicketEscalation, User


def _seconds_between(pairs: list[tuple[datetime, datetime]]) -> dict[str, Any]:
    seconds = [(end - start).total_seconds() for start, end in pairs]
    return {
        "count": len(seconds),
        "mean_seconds": round(statistics.fmean(seconds), 1) if seconds else None,
        "median_seconds": round(statistics.median(seconds), 1) if seconds else None,
    }


def bot_figures(session: Session) -> dict[str, Any]:
    """Tickets bots handled, those they resolved without an escalation, the share escalated,
    and the time from a ticket's creation to its first escalation (mean and median)."""
    bots = select(User.id).where(User.is_bot.is_(True))
    escalated = select(TicketEscalation.ticket_id)
    held_by_bot = Ticket.assignee_id.in_(bots)
    # In the bots' hands: held by one now, or escalated (a bot gave up on it).
    handled = (
        session.scalar(select(func.count()).where(or_(held_by_bot, Ticket.id.in_(escalated)))) or 0
    )
    escalated_total = (
        session.scalar(select(func.count(func.distinct(TicketEscalation.ticket_id)))) or 0
    )
    resolved_alone = (
        session.scalar(
            select(func.count()).where(
                held_by_bot, Ticket.resolved_at.is_not(None), Ticket.id.not_in(escalated)
            )
        )
        or 0
    )
    first_escalations = (
        select(TicketEscalation.ticket_id, func.min(TicketEscalation.escalated_at).label("at"))
        .group_by(TicketEscalation.ticket_id)
        .subquery()
    )
    pairs = session.execute(
        select(Ticket.created_at, first_escalations.c.at).join(
            first_escalations, first_escalations.c.ticket_id == Ticket.id
        )
    ).all()
    return {
        "tickets_handled": handled,
        "resolved_without_escalation": resolved_alone,
        "escalated": escalated_total,
        "escalation_rate": round(escalated_total / handled, 4) if handled else None,
        "time_to_escalation": _seconds_between([(start, end) for start, end in pairs]),
    }
