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
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from shared import ticket_rows
from shared.errors import DomainError
from shared.event_types import EventType, ForwardedEvent
from shared.models import OutboxEvent, Trigger, TriggerFailure
from shared.models.base import table_of
from shared.reference_cache import reference_cache
from shared.rules.actions import Action, RuleActor, apply_actions, describe_actions
from shared.rules.conditions import (
    Conditions,
    IndexKey,
    RuleContext,
    RuleTicket,
    Test,
    compiled,
    index_key,
    row_keys,
)
from shared.rules.evaluation import EventFacts, event_facts, rule_context
from shared.settings import get_settings
from shared.ticket_rows import TicketFacts
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
    test: Test  # the conditions, compiled

    def runs_on(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


def trigger_record(trigger: Trigger) -> TriggerRecord:
    conditions = Conditions.model_validate(trigger.conditions)
    return TriggerRecord(
        id=trigger.id,
        name=trigger.name,
        position=trigger.position,
        event_types=frozenset(trigger.event_types),
        conditions=conditions,
        actions=tuple(ACTIONS.validate_python(trigger.actions)),
        author_id=trigger.created_by_id,
        test=compiled(conditions),
    )


class TriggerIndex:
    """The triggers of one event type, looked up by what a ticket they match must hold (a tag,
    a status...): a ticket is evaluated against the few that may match it, in order."""

    def __init__(self, triggers: Sequence[TriggerRecord]) -> None:
        self._rank = {trigger.id: rank for rank, trigger in enumerate(triggers)}
        self._always: list[TriggerRecord] = []
        self._by_key: dict[IndexKey, list[TriggerRecord]] = {}
        for trigger in triggers:
            key = index_key(trigger.conditions)
            if key is None:
                self._always.append(trigger)
            else:
                self._by_key.setdefault(key, []).append(trigger)

    def __bool__(self) -> bool:
        return bool(self._rank)

    def candidates(
        self, row: RuleTicket, *, after: TriggerRecord | None = None
    ) -> list[TriggerRecord]:
        """The triggers that may match the ticket (after `after`), in order."""
        found = list(self._always)
        for key in row_keys(row):
            found += self._by_key.get(key, ())
        start = -1 if after is None else self._rank[after.id]
        return sorted(
            (trigger for trigger in found if self._rank[trigger.id] > start),
            key=lambda trigger: self._rank[trigger.id],
        )


class ActiveTriggers:
    """The active triggers in order, and by event type the index of those that run on it."""

    def __init__(self, triggers: tuple[TriggerRecord, ...]) -> None:
        self.all = triggers
        self._by_type: dict[str, TriggerIndex] = {}

    def __bool__(self) -> bool:
        return bool(self.all)

    def on(self, event_type: str) -> TriggerIndex:
        found = self._by_type.get(event_type)
        if found is None:
            found = TriggerIndex([t for t in self.all if t.runs_on(event_type)])
            self._by_type[event_type] = found
        return found


class TriggerCache:
    """This process's active triggers, in order, for as long as the reference version holds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: int | None = None
        self._triggers = ActiveTriggers(())

    def active(self, session: Session) -> ActiveTriggers:
        version = reference_cache.version(session)
        if version == self._version:
            return self._triggers
        query = (
            select(Trigger).where(Trigger.active.is_(True)).order_by(Trigger.position, Trigger.id)
        )
        triggers = ActiveTriggers(tuple(trigger_record(t) for t in session.scalars(query)))
        with self._lock:
            self._version, self._triggers = version, triggers
        return triggers

    def forget(self) -> None:
        with self._lock:
            self._version, self._triggers = None, ActiveTriggers(())


trigger_cache = TriggerCache()


_OUTBOX = table_of(OutboxEvent).c
# Built once: the statement keeps its cache key, so each batch skips compiling it.
_PAYLOADS = select(_OUTBOX.event_id, _OUTBOX.payload).where(
    _OUTBOX.event_id.in_(bindparam("event_ids", expanding=True))
)


def _payloads(session: Session, event_ids: list[str]) -> list[tuple[str, str]]:
    found = session.connection().execute(_PAYLOADS, {"event_ids": event_ids})
    return [(str(row[0]), str(row[1])) for row in found]


# Its payload tells rules nothing: a creation changes no field, holds no comment, and is never
# a trigger's (triggers change tickets, they do not open them).
_NEEDS_NO_PAYLOAD = frozenset({"ticket.created"})


@dataclass(frozen=True)
class TriggersRun:
    fired: int
    # Events the triggers wrote that only the notifier consumes (ticket.forwarded): the worker
    # records them handled in this transaction, as it does its own announcements.
    announced: list[str]


def run_triggers(
    session: Session, *, events: Sequence[tuple[str, str, int]], now: datetime
) -> TriggersRun:
    """Fire the active triggers on these handled events (id, type, ticket id), in the order
    given (the order they were committed in).

    The batch's payloads (but a creation's) and its tickets are read in one statement each; a
    ticket is locked and read again only when a trigger matches it, before that trigger acts."""
    if not events:
        return TriggersRun(0, [])
    triggers = trigger_cache.active(session)
    if not triggers:
        return TriggersRun(0, [])
    cap = get_settings().trigger_depth_cap
    wanted = [event_id for event_id, kind, _ticket in events if kind not in _NEEDS_NO_PAYLOAD]
    payloads = dict(_payloads(session, wanted)) if wanted else {}
    batch: list[EventFacts] = []
    for event_id, kind, ticket_id in events:
        if not kind.startswith("ticket."):
            continue
        if kind in _NEEDS_NO_PAYLOAD:
            batch.append(EventFacts(event_id=event_id, event_type=kind, ticket_id=ticket_id))
            continue
        payload = payloads.get(event_id)
        if payload is None:
            continue  # its outbox row is gone: nothing tells how deep it is
        facts = event_facts(event_id, payload)
        if facts.depth >= cap:
            logger.warning(
                "event %s is %d triggers deep (the cap): no trigger runs on it", event_id, cap
            )
            continue
        batch.append(facts)
    ticket_ids = list(dict.fromkeys(f.ticket_id for f in batch if f.ticket_id))
    rows: dict[int, RuleTicket] = dict(ticket_rows.ticket_facts(session, ticket_ids=ticket_ids))
    fired = 0
    announced: list[str] = []
    for facts in batch:
        assert facts.ticket_id is not None
        row = rows.get(facts.ticket_id)
        if row is None:
            continue  # deleted meanwhile
        row, count, wrote = _run_on_event(
            session, facts, triggers.on(facts.event_type), row=row, now=now
        )
        announced += wrote
        if row is None:
            rows.pop(facts.ticket_id, None)
        else:
            rows[facts.ticket_id] = row
        fired += count
    return TriggersRun(fired, announced)


def _run_on_event(
    session: Session,
    facts: EventFacts,
    triggers: TriggerIndex,
    *,
    row: RuleTicket,
    now: datetime,
) -> tuple[RuleTicket | None, int, list[str]]:
    """The triggers of one event, in order, each seeing the changes of those before it; the
    ticket after them (None: it is gone), how many fired and the ids of the events only the
    notifier consumes that they wrote."""
    if not triggers:
        return row, 0, []
    fired = 0
    announced: list[str] = []
    current: RuleTicket = row
    acting: TicketRow | None = None  # the locked row, once a trigger matched

    def context_of(ticket: RuleTicket) -> RuleContext:
        return rule_context(
            session, row=ticket, at=now, changes=facts.changes, comment_body=facts.comment_body
        )

    pending = triggers.candidates(current)
    context = context_of(current) if pending else None
    while pending:
        trigger = pending.pop(0)
        assert context is not None
        if not trigger.test(context):
            continue  # the common case: nothing else is done
        if acting is None:
            # Acting: the whole row as it is now, held until the commit (someone may have
            # written since the batch read it).
            acting = ticket_rows.ticket_row(session, ticket_id=current.id, lock=True)
            if acting is None:
                return None, fired, announced
            if TicketFacts.of(acting) != TicketFacts.of(current):
                context = context_of(acting)
                pending = triggers.candidates(acting, after=trigger)
                if not trigger.test(context):
                    current = acting
                    continue
            current = acting
        actor = RuleActor(
            trigger_id=trigger.id,
            name=trigger.name,
            depth=facts.depth + 1,
            author_id=trigger.author_id,
        )
        try:
            with session.begin_nested():
                done = apply_actions(
                    session,
                    row=acting,
                    actions=trigger.actions,
                    actor=actor,
                    at=now,
                    event=ForwardedEvent(
                        id=facts.event_id,
                        type=EventType(facts.event_type),
                        changes=facts.changes,
                    ),
                )
        except OperationalError:
            raise  # a busy database: the whole batch is retried
        except Exception as error:  # any failure of one trigger is recorded, never raised
            _record_failure(session, trigger=trigger, facts=facts, error=error, at=now)
            continue
        fired += 1
        announced += done.announced
        if done.row != acting:
            # The ticket changed: the triggers after this one may be others now.
            acting = current = done.row
            context = context_of(current)
            pending = triggers.candidates(current, after=trigger)
    return current, fired, announced


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
        "matches": trigger.test(context),
        "actions": describe_actions(session, row=row, actions=trigger.actions),
    }
