"""Automations: time-based rules a beat scan runs over the tickets their time conditions hold
for, with the actions (and executor) of triggers.

An automation acts on a ticket at most once per occurrence of its conditions: the occurrence
is keyed by the anchor times its time conditions read (`shared.rules.time_conditions`), and the
mark (automation, ticket, key) is inserted, under a unique constraint, in the transaction of
the actions. A second scanner, or a scan restarted after a crash, finds the mark and passes.
An automation that cannot act on a ticket is rolled back for it, recorded in
automation_failures, and the occurrence is marked as seen (it is not retried every scan).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from sqlalchemy import Select, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from shared import ticket_rows
from shared.errors import DomainError
from shared.models import Automation, AutomationFailure, AutomationFiring, Ticket
from shared.models.base import table_of
from shared.rules.actions import Action, AutomationRuleActor, apply_actions, describe_actions
from shared.rules.conditions import Condition, Conditions, Test, compiled
from shared.rules.evaluation import rule_context
from shared.rules.time_conditions import (
    TimeCondition,
    TimeConditions,
    anchor_column,
    anchors_of,
    condition_clause,
    condition_key,
)
from shared.ticket_view import TicketRow

logger = logging.getLogger(__name__)

ACTIONS = TypeAdapter(list[Action])


class AutomationConditions(BaseModel):
    """Every time condition of `time`, then the trigger conditions (`all`, `any`) on the
    ticket as it is (no event: `changed` conditions never hold)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    time: TimeConditions
    all: list[Condition] = Field(default_factory=list, max_length=50)
    any: list[Condition] = Field(default_factory=list, max_length=50)

    def rule_conditions(self) -> Conditions:
        return Conditions(all=self.all, any=self.any)


@dataclass(frozen=True)
class AutomationRecord:
    id: int
    name: str
    time: tuple[TimeCondition, ...]
    conditions: Conditions
    actions: tuple[Action, ...]
    author_id: int
    test: Test  # the trigger conditions, compiled

    @property
    def actor(self) -> AutomationRuleActor:
        return AutomationRuleActor(automation_id=self.id, name=self.name, author_id=self.author_id)


def automation_record(automation: Automation) -> AutomationRecord:
    conditions = AutomationConditions.model_validate(automation.conditions)
    rule = conditions.rule_conditions()
    return AutomationRecord(
        id=automation.id,
        name=automation.name,
        time=tuple(conditions.time),
        conditions=rule,
        actions=tuple(ACTIONS.validate_python(automation.actions)),
        author_id=automation.created_by_id,
        test=compiled(rule),
    )


def active_automations(session: Session) -> list[AutomationRecord]:
    query = (
        select(Automation)
        .where(Automation.active.is_(True))
        .order_by(Automation.position, Automation.id)
    )
    return [automation_record(automation) for automation in session.scalars(query)]


def _candidates_query(automation: AutomationRecord, *, now: datetime) -> Select[Any]:
    """Ids of the tickets the time conditions hold for, with the anchor values they read."""
    read = anchors_of(automation.time)
    columns = {anchor: anchor_column(anchor) for anchor in read}
    query = select(Ticket.id, *(columns[anchor].label(anchor.value) for anchor in read))
    for condition in automation.time:
        query = query.where(condition_clause(condition, now=now, anchors=columns))
    return query


@dataclass(frozen=True)
class Candidate:
    ticket_id: int
    key: str


def _as_candidates(automation: AutomationRecord, found: Sequence[Any]) -> list[Candidate]:
    read = anchors_of(automation.time)
    return [
        Candidate(int(row[0]), condition_key(list(zip(read, row[1:], strict=True))))
        for row in found
    ]


def candidates(
    session: Session, automation: AutomationRecord, *, now: datetime, after_id: int, limit: int
) -> list[Candidate]:
    """The next `limit` tickets (by id, after `after_id`) the time conditions hold for."""
    query = _candidates_query(automation, now=now).where(Ticket.id > after_id)
    found = session.execute(query.order_by(Ticket.id).limit(limit)).all()
    return _as_candidates(automation, found)


def occurrence_now(
    session: Session, automation: AutomationRecord, *, ticket_id: int, now: datetime
) -> Candidate | None:
    """The ticket's occurrence when the time conditions hold for it now, else None."""
    query = _candidates_query(automation, now=now).where(Ticket.id == ticket_id)
    found = _as_candidates(automation, session.execute(query).all())
    return found[0] if found else None


def already_fired(
    session: Session, *, automation_id: int, ticket_ids: Sequence[int]
) -> set[tuple[int, str]]:
    """The (ticket, key) marks this automation holds among these tickets."""
    if not ticket_ids:
        return set()
    found = session.execute(
        select(AutomationFiring.ticket_id, AutomationFiring.condition_key).where(
            AutomationFiring.automation_id == automation_id,
            AutomationFiring.ticket_id.in_(list(ticket_ids)),
        )
    )
    return {(int(row[0]), str(row[1])) for row in found}


def due_candidates(
    session: Session, automation: AutomationRecord, *, page: Sequence[Candidate], now: datetime
) -> list[Candidate]:
    """The page's candidates to act on: not marked for this occurrence yet, and holding the
    other conditions now (read in one statement, so a ticket that does not match never takes a
    write transaction)."""
    marked = already_fired(
        session, automation_id=automation.id, ticket_ids=[c.ticket_id for c in page]
    )
    unmarked = [c for c in page if (c.ticket_id, c.key) not in marked]
    facts = ticket_rows.ticket_facts(session, ticket_ids=[c.ticket_id for c in unmarked])
    return [
        candidate
        for candidate in unmarked
        if (row := facts.get(candidate.ticket_id)) is not None
        and automation.test(rule_context(session, row=row, at=now))
    ]


Outcome = Literal["acted", "failed", "already", "no_longer", "not_matching", "gone"]


def act_on_ticket(
    session: Session, automation: AutomationRecord, *, candidate: Candidate, now: datetime
) -> Outcome:
    """Run the automation on one ticket in the caller's transaction (one per ticket): the
    ticket is locked and read again, the conditions checked again, the mark inserted, then
    the actions done (or, when they cannot be, the failure recorded)."""
    row = ticket_rows.ticket_row(session, ticket_id=candidate.ticket_id, lock=True)
    if row is None:
        return "gone"
    current = occurrence_now(session, automation, ticket_id=row.id, now=now)
    if current is None or current.key != candidate.key:
        return "no_longer"  # changed since the page was read: the next scan sees it anew
    if not automation.test(rule_context(session, row=row, at=now)):
        return "not_matching"
    if already_fired(session, automation_id=automation.id, ticket_ids=[row.id]) & {
        (row.id, candidate.key)
    }:
        return "already"
    try:
        with session.begin_nested():
            session.execute(
                insert(table_of(AutomationFiring)).values(
                    automation_id=automation.id,
                    ticket_id=row.id,
                    condition_key=candidate.key,
                    fired_at=now,
                )
            )
    except IntegrityError:
        return "already"  # another scanner marked it between our check and insert
    try:
        with session.begin_nested():
            apply_actions(
                session, row=row, actions=automation.actions, actor=automation.actor, at=now
            )
    except OperationalError:
        raise  # a busy database: this ticket is tried again
    except Exception as error:  # one automation failing on one ticket is recorded, never raised
        record_failure(session, automation=automation, candidate=candidate, error=error, at=now)
        return "failed"
    return "acted"


def record_failure(
    session: Session,
    *,
    automation: AutomationRecord,
    candidate: Candidate,
    error: Exception,
    at: datetime,
) -> None:
    detail = error.detail if isinstance(error, DomainError) else f"{type(error).__name__}: {error}"
    field = error.field if isinstance(error, DomainError) else None
    logger.warning(
        "automation %s failed on ticket %s: %s", automation.id, candidate.ticket_id, detail
    )
    session.execute(
        insert(table_of(AutomationFailure)).values(
            automation_id=automation.id,
            ticket_id=candidate.ticket_id,
            condition_key=candidate.key,
            error=detail[:2000],
            field=field[:100] if field else None,
            created_at=at,
        )
    )


def dry_run(
    session: Session, *, automation: AutomationRecord, row: TicketRow, now: datetime
) -> dict[str, Any]:
    """Whether the automation would act on the ticket now and what its actions would do;
    nothing is written."""
    occurrence = occurrence_now(session, automation, ticket_id=row.id, now=now)
    conditions_hold = automation.test(rule_context(session, row=row, at=now))
    acted = occurrence is not None and bool(
        already_fired(session, automation_id=automation.id, ticket_ids=[row.id])
        & {(row.id, occurrence.key)}
    )
    return {
        "matches": occurrence is not None and conditions_hold and not acted,
        "time_conditions_hold": occurrence is not None,
        "conditions_hold": conditions_hold,
        "already_acted": acted,
        "occurrence": occurrence.key if occurrence else None,
        "actions": describe_actions(session, row=row, actions=automation.actions),
    }
