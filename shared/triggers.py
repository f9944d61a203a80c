"""Triggers: rules run by the worker on ticket events, in commit order per ticket.

The active triggers are kept in memory per process and read again when the reference version
moves (saving a trigger bumps it), so handling a batch costs no statement for them when nothing
changed, and none at all when there are no triggers. With triggers, the batch's payloads (for
`changed` conditions and the depth of a trigger's own events) are read in one statement.

Each trigger fires at most once per event. Its actions run in a savepoint of the transaction
that records the event handled: a redelivered event fires nothing twice, and a trigger that
cannot act (a deactivated assignee, an archived category) is rolled back alone and recorded in
trigger_failures, never stopping the event's other work.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import insert, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from shared import ticket_rows
from shared.errors import DomainError
from shared.models import OutboxEvent, Trigger, TriggerFailure
from shared.models.base import table_of
from shared.reference_cache import reference_cache
from shared.rules.actions import Action, RuleActor, apply_actions, describe_actions
from shared.rules.conditions import Conditions, matches
from shared.rules.evaluation import EventFacts, event_facts, rule_context
from shared.settings import get_settings
from shared.ticket_view import TicketRow

logger = logging.getLogger(__name__)

ACTIONS = TypeAdapter(list[Action])


@dataclass(frozen=True)
class TriggerRecord:
    id: int
    name: str
    position: int
    event_types: frozenset[str]  # empty: every ticket event
    conditions: Conditions
    actions: tuple[Action, ...]
    author_id: int

    def runs_on(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


def trigger_record(trigger: Trigger) -> TriggerRecord:
    return TriggerRecord(
        id=trigger.id,
        name=trigger.name,
        position=trigger.position,
        event_types=frozenset(trigger.event_types),
        conditions=Conditions.model_validate(trigger.conditions),
        actions=tuple(ACTIONS.validate_python(trigger.actions)),
        author_id=trigger.created_by_id,
    )


class TriggerCache:
    """This process's active triggers, in order, for as long as the reference version holds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: int | None = None
        self._triggers: tuple[TriggerRecord, ...] = ()

    def active(self, session: Session) -> tuple[TriggerRecord, ...]:
        version = reference_cache.version(session)
        if version == self._version:
            return self._triggers
        query = (
            select(Trigger).where(Trigger.active.is_(True)).order_by(Trigger.position, Trigger.id)
        )
        triggers = tuple(trigger_record(trigger) for trigger in session.scalars(query))
        with self._lock:
            self._version, self._triggers = version, triggers
        return triggers

    def forget(self) -> None:
        with self._lock:
            self._version, self._triggers = None, ()


trigger_cache = TriggerCache()


def _payloads(session: Session, event_ids: list[str]) -> list[tuple[int, str, str]]:
    query = select(OutboxEvent.id, OutboxEvent.event_id, OutboxEvent.payload).where(
        OutboxEvent.event_id.in_(event_ids)
    )
    return [(int(row[0]), str(row[1]), str(row[2])) for row in session.execute(query)]


def run_triggers(session: Session, *, event_ids: Sequence[str], now: datetime) -> int:
    """Fire the active triggers on these handled events, in commit order; how many fired.

    The batch's payloads and tickets are read in one statement each; a ticket is locked and
    read again only when a trigger matches it, before that trigger acts."""
    if not event_ids:
        return 0
    triggers = trigger_cache.active(session)
    if not triggers:
        return 0
    cap = get_settings().trigger_depth_cap
    events = []
    for _order, event_id, payload in sorted(_payloads(session, list(event_ids))):
        facts = event_facts(event_id, payload)
        if facts.ticket_id is None or not facts.event_type.startswith("ticket."):
            continue
        if facts.depth >= cap:
            logger.warning(
                "event %s is %d triggers deep (the cap): no trigger runs on it", event_id, cap
            )
            continue
        events.append(facts)
    ticket_ids = list(dict.fromkeys(facts.ticket_id for facts in events if facts.ticket_id))
    found = ticket_rows.ticket_rows(session, ticket_ids=ticket_ids, include_internal=True)
    rows = {ticket_id: row for ticket_id, (row, _comments) in found.items()}
    fired = 0
    for facts in events:
        assert facts.ticket_id is not None
        row = rows.get(facts.ticket_id)
        if row is None:
            continue  # deleted meanwhile
        row, count = _run_on_event(session, facts, triggers, row=row, now=now)
        if row is None:
            rows.pop(facts.ticket_id, None)
        else:
            rows[facts.ticket_id] = row
        fired += count
    return fired


def _run_on_event(
    session: Session,
    facts: EventFacts,
    triggers: Sequence[TriggerRecord],
    *,
    row: TicketRow,
    now: datetime,
) -> tuple[TicketRow | None, int]:
    """The triggers of one event, in order, each seeing the changes of those before it; the
    ticket's row after them and how many fired."""
    fired = 0
    locked = False
    current: TicketRow | None = row
    for trigger in triggers:
        if current is None:
            break
        if not trigger.runs_on(facts.event_type):
            continue
        context = rule_context(
            session, row=current, at=now, changes=facts.changes, comment_body=facts.comment_body
        )
        if not matches(trigger.conditions, context):
            continue
        if not locked:
            # Acting: the row as it is now, held until the commit (someone may have written
            # since the batch read it).
            locked = True
            fresh = ticket_rows.ticket_row(session, ticket_id=current.id, lock=True)
            if fresh != current:
                current = fresh
                if current is None:
                    break
                context = rule_context(
                    session,
                    row=current,
                    at=now,
                    changes=facts.changes,
                    comment_body=facts.comment_body,
                )
                if not matches(trigger.conditions, context):
                    continue
        actor = RuleActor(
            trigger_id=trigger.id,
            name=trigger.name,
            depth=facts.depth + 1,
            author_id=trigger.author_id,
        )
        try:
            with session.begin_nested():
                current = apply_actions(
                    session, row=current, actions=trigger.actions, actor=actor, at=now
                )
        except OperationalError:
            raise  # a busy database: the whole batch is retried
        except Exception as error:  # noqa: BLE001 - any failure of one trigger is recorded
            _record_failure(session, trigger=trigger, facts=facts, error=error, at=now)
            continue
        fired += 1
    return current, fired


def _record_failure(
    session: Session,
    *,
    trigger: TriggerRecord,
    facts: EventFacts,
    error: Exception,
    at: datetime,
) -> None:
    detail = error.detail if isinstance(error, DomainError) else f"{type(error).__name__}: {error}"
    field = error.field if isinstance(error, DomainError) else None
    logger.warning("trigger %s failed on event %s: %s", trigger.id, facts.event_id, detail)
    session.execute(
        insert(table_of(TriggerFailure)).values(
            trigger_id=trigger.id,
            event_id=facts.event_id,
            ticket_id=facts.ticket_id,
            error=detail[:2000],
            field=field[:100] if field else None,
            created_at=at,
        )
    )


def dry_run(
    session: Session, *, trigger: TriggerRecord, row: TicketRow, now: datetime
) -> dict[str, Any]:
    """Whether the trigger's conditions hold for the ticket now (with no event's changes:
    `changed` conditions do not hold) and what its actions would do; nothing is written."""
    context = rule_context(session, row=row, at=now)
    return {
        "matches": matches(trigger.conditions, context),
        "actions": describe_actions(session, row=row, actions=trigger.actions),
    }
