"""Time conditions: hours since one of a ticket's times, or until (or since) a due time.

Automations hold them; a scan evaluates them as SQL, so it reads only the tickets they hold
for. Each condition reads one anchor time of the ticket; the values of the anchors an
automation reads make the key of one occurrence (the ticket entering "Waiting on Customer"
again later is a new occurrence, the same wait is not).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.sql.elements import ColumnElement as Column

from shared.models import Role, Ticket, TicketComment, User

MAX_HOURS = 24 * 366 * 5  # five years


class TimeAnchor(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    STATUS_ENTERED = "status_entered"
    LAST_PUBLIC_REPLY = "last_public_reply"
    LAST_AGENT_REPLY = "last_agent_reply"
    LAST_CUSTOMER_REPLY = "last_customer_reply"
    # Due times count only while their target is open (no first response yet, not resolved).
    FIRST_RESPONSE_DUE = "first_response_due"
    RESOLUTION_DUE = "resolution_due"


DUE_ANCHORS = frozenset({TimeAnchor.FIRST_RESPONSE_DUE, TimeAnchor.RESOLUTION_DUE})


class TimeCondition(BaseModel):
    """`hours_since` an anchor time, or `hours_until` a due time, compared (`>=`, `<=`) with
    `hours` (fractions allowed). A ticket without the time (no reply yet) never holds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["hours_since", "hours_until"]
    anchor: TimeAnchor
    operator: Literal[">=", "<="] = ">="
    hours: Annotated[float, Field(ge=0, le=MAX_HOURS, allow_inf_nan=False)]

    @model_validator(mode="after")
    def _until_a_due_time(self) -> TimeCondition:
        if self.kind == "hours_until" and self.anchor not in DUE_ANCHORS:
            raise ValueError(
                "hours_until counts to a due time: first_response_due or resolution_due"
            )
        return self

    @property
    def span(self) -> timedelta:
        return timedelta(hours=self.hours)


TimeConditions = Annotated[list[TimeCondition], Field(min_length=1, max_length=10)]


def _last_comment_at(
    *, internal: bool = False, role: Literal["staff", "customer"] | None = None
) -> Column[Any]:
    query = select(func.max(TicketComment.created_at)).where(
        TicketComment.ticket_id == Ticket.id, TicketComment.is_internal.is_(internal)
    )
    if role is not None:
        query = query.join(User, User.id == TicketComment.author_id)
        query = query.where(
            User.role == Role.CUSTOMER if role == "customer" else User.role != Role.CUSTOMER
        )
    return query.correlate(Ticket).scalar_subquery()


def anchor_column(anchor: TimeAnchor) -> Column[Any]:
    """The anchor's time of the ticket, as SQL over `tickets`."""
    if anchor is TimeAnchor.CREATED:
        return Ticket.created_at.expression
    if anchor is TimeAnchor.UPDATED:
        return Ticket.updated_at.expression
    if anchor is TimeAnchor.STATUS_ENTERED:
        return func.coalesce(Ticket.status_changed_at, Ticket.created_at)
    if anchor is TimeAnchor.LAST_PUBLIC_REPLY:
        return _last_comment_at()
    if anchor is TimeAnchor.LAST_AGENT_REPLY:
        return _last_comment_at(role="staff")
    if anchor is TimeAnchor.LAST_CUSTOMER_REPLY:
        return _last_comment_at(role="customer")
    if anchor is TimeAnchor.FIRST_RESPONSE_DUE:
        return Ticket.first_response_due_at.expression
    return Ticket.resolution_due_at.expression


def _target_open(anchor: TimeAnchor) -> ColumnElement[bool] | None:
    if anchor is TimeAnchor.FIRST_RESPONSE_DUE:
        return Ticket.first_response_at.is_(None)
    if anchor is TimeAnchor.RESOLUTION_DUE:
        return Ticket.resolved_at.is_(None)
    return None


def condition_clause(
    condition: TimeCondition, *, now: datetime, anchors: Mapping[TimeAnchor, Column[Any]]
) -> ColumnElement[bool]:
    """The condition as a WHERE clause: `hours_since >= h` is the anchor at or before now − h,
    `hours_until >= h` the due time at or after now + h."""
    at = anchors[condition.anchor]
    if condition.kind == "hours_since":
        edge = now - condition.span
        clause = at <= edge if condition.operator == ">=" else at >= edge
    else:
        edge = now + condition.span
        clause = at >= edge if condition.operator == ">=" else at <= edge
    target_open = _target_open(condition.anchor)
    return clause if target_open is None else and_(target_open, clause)


def anchors_of(conditions: Iterable[TimeCondition]) -> list[TimeAnchor]:
    """The anchors the conditions read, each once, in a fixed order."""
    read = {condition.anchor for condition in conditions}
    return [anchor for anchor in TimeAnchor if anchor in read]


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _occurrence_of(anchor: TimeAnchor, value: datetime | None) -> str:
    if value is None:
        return "-"
    # A due time moves while the SLA is paused (and on every recompute then), so it cannot
    # name the occurrence: a due-time condition holds once per ticket while its target is open.
    return "open" if anchor in DUE_ANCHORS else _stamp(value)


def condition_key(values: Sequence[tuple[TimeAnchor, datetime | None]]) -> str:
    """The occurrence: `status_entered@2026-12-07T10:00:00.000000Z;resolution_due@open`."""
    return ";".join(f"{anchor.value}@{_occurrence_of(anchor, value)}" for anchor, value in values)
