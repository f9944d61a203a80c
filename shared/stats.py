"""Desk statistics, computed from the tables in one pass of grouped queries."""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, select
from sqlalchemy.orm import Session

from shared.events import rfc3339
from shared.models import (
    Category,
    CustomField,
    CustomFieldType,
    PriorityLevel,
    Role,
    StatsSnapshot,
    Status,
    Ticket,
    User,
    ticket_custom_values,
)
from shared.routing_stats import bot_figures

DAYS_OF_HISTORY = 30


def _counts(
    session: Session, column: Any, *, where: ColumnElement[bool] | None = None
) -> dict[Any, int]:
    query = select(column, func.count()).group_by(column)
    if where is not None:
        query = query.where(where)
    return dict(session.execute(query).all())


def _seconds_between(session: Session, start: Any, end: Any) -> ColumnElement[Any]:
    """`end - start` in seconds, computed by the database: turning 100,000 pairs of rows into
    Python datetimes took most of a full recompute."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def _durations(session: Session, start: Any, end: Any) -> dict[str, Any]:
    elapsed = _seconds_between(session, start, end)
    seconds = [float(value) for value in session.scalars(select(elapsed).where(end.is_not(None)))]
    return {
        "count": len(seconds),
        "mean_seconds": round(statistics.fmean(seconds), 1) if seconds else None,
        "median_seconds": round(statistics.median(seconds), 1) if seconds else None,
    }


def _daily(session: Session, column: Any, since: datetime) -> dict[str, int]:
    day = func.date(column)
    rows = session.execute(select(day, func.count()).where(column >= since).group_by(day)).all()
    return {str(d): n for d, n in rows}


def _dropdown_breakdowns(session: Session, *, total: int) -> list[dict[str, Any]]:
    """Per active dropdown field, how many tickets hold each option (and none)."""
    fields = list(
        session.scalars(
            select(CustomField)
            .where(CustomField.active, CustomField.field_type == CustomFieldType.DROPDOWN)
            .order_by(CustomField.key)
        )
    )
    if not fields:
        return []
    values = ticket_custom_values.c
    counted = (
        select(values.field_id, values.text_value, func.count())
        .where(values.field_id.in_([field.id for field in fields]))
        .group_by(values.field_id, values.text_value)
    )
    counts = {(field_id, option): n for field_id, option, n in session.execute(counted)}
    breakdowns = []
    for field in fields:
        options = [
            {"option": option, "count": counts.get((field.id, option), 0)}
            for option in field.options
        ]
        held = sum(n for (field_id, _option), n in counts.items() if field_id == field.id)
        breakdowns.append(
            {
                "id": field.id,
                "key": field.key,
                "label": field.label,
                "options": options,
                "unset": total - held,
            }
        )
    return breakdowns


def compute_snapshot(session: Session, *, now: datetime) -> dict[str, Any]:
    """Every figure `/stats` and `/dashboard` show."""
    statuses = list(session.scalars(select(Status).order_by(Status.position)))
    priorities = list(session.scalars(select(PriorityLevel).order_by(PriorityLevel.rank)))
    categories = list(session.scalars(select(Category).order_by(Category.name)))
    open_ids = [s.id for s in statuses if not s.is_closed]
    is_open = Ticket.status_id.in_(open_ids)

    by_status = _counts(session, Ticket.status_id)
    by_priority = _counts(session, Ticket.priority_id)
    by_category = _counts(session, Ticket.category_id)
    by_assignee = _counts(session, Ticket.assignee_id)
    open_by_priority = _counts(session, Ticket.priority_id, where=is_open)
    open_by_assignee = _counts(session, Ticket.assignee_id, where=is_open)
    staff = list(
        session.scalars(
            select(User).where(User.role != Role.CUSTOMER, User.active.is_(True)).order_by(User.id)
        )
    )
    names = {user.id: user.name for user in staff}
    for user_id in set(by_assignee) - set(names) - {None}:
        user = session.get(User, user_id)
        names[user_id] = user.name if user else f"user {user_id}"

    since = (now - timedelta(days=DAYS_OF_HISTORY - 1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    created = _daily(session, Ticket.created_at, since)
    resolved = _daily(session, Ticket.resolved_at, since)
    days = [(since + timedelta(days=i)).date().isoformat() for i in range(DAYS_OF_HISTORY)]

    resolved_with_target = and_(
        Ticket.resolved_at.is_not(None), Ticket.resolution_due_at.is_not(None)
    )
    resolved_count = session.scalar(select(func.count()).where(resolved_with_target)) or 0
    met_count = (
        session.scalar(
            select(func.count()).where(
                resolved_with_target,
                Ticket.resolved_at <= Ticket.resolution_due_at,
                Ticket.sla_breached_at.is_(None),
            )
        )
        or 0
    )
    open_breached = (
        session.scalar(select(func.count()).where(is_open, Ticket.sla_breached_at.is_not(None)))
        or 0
    )
    total = sum(by_status.values())
    open_total = sum(by_status.get(i, 0) for i in open_ids)

    return {
        "computed_at": rfc3339(now),
        "tickets": {"total": total, "open": open_total, "closed": total - open_total},
        "by_status": [
            {"id": s.id, "name": s.name, "count": by_status.get(s.id, 0)} for s in statuses
        ],
        "by_priority": [
            {"id": p.id, "name": p.name, "count": by_priority.get(p.id, 0)} for p in priorities
        ],
        "by_category": [
            {"id": c.id, "name": c.name, "count": by_category.get(c.id, 0)} for c in categories
        ],
        "by_assignee": [
            {"id": user_id, "name": names.get(user_id) if user_id else None, "count": count}
            for user_id, count in sorted(by_assignee.items(), key=lambda kv: -kv[1])
        ],
        "open_backlog": {
            "total": open_total,
            "unassigned": open_by_assignee.get(None, 0),
            "by_priority": [
                {"id": p.id, "name": p.name, "count": open_by_priority.get(p.id, 0)}
                for p in priorities
            ],
        },
        "daily": [
            {"date": day, "created": created.get(day, 0), "resolved": resolved.get(day, 0)}
            for day in days
        ],
        "first_response": _durations(session, Ticket.created_at, Ticket.first_response_at),
        "resolution": _durations(session, Ticket.created_at, Ticket.resolved_at),
        "sla": {
            "resolved_with_target": resolved_count,
            "met": met_count,
            "compliance": round(met_count / resolved_count, 4) if resolved_count else None,
            "current_breaches": open_breached,
        },
        "agent_load": [
            {"id": user.id, "name": user.name, "open": open_by_assignee.get(user.id, 0)}
            for user in staff
        ],
        "bots": bot_figures(session),
        "by_custom_field": _dropdown_breakdowns(session, total=total),
    }


def refresh_snapshot(session: Session, *, now: datetime) -> StatsSnapshot:
    """Compute and store a new snapshot, keeping only the newest few."""
    snapshot = StatsSnapshot(computed_at=now, payload=compute_snapshot(session, now=now))
    session.add(snapshot)
    session.flush()
    newest = select(StatsSnapshot.id).order_by(StatsSnapshot.id.desc()).limit(10)
    session.execute(
        delete(StatsSnapshot)
        .where(StatsSnapshot.id.not_in(newest.scalar_subquery()))
        .execution_options(synchronize_session=False)
    )
    return snapshot


def latest_snapshot(session: Session) -> StatsSnapshot | None:
    return session.scalar(select(StatsSnapshot).order_by(StatsSnapshot.id.desc()).limit(1))
