"""What a rule is evaluated against: the ticket's current row and the facts of one event."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.orm import Session

from shared.reference_cache import reference_cache
from shared.rules.conditions import RuleContext, RuleTicket


@dataclass(frozen=True)
class EventFacts:
    """What rules read of an event's payload: its changes, its comment, the trigger depth."""

    event_id: str
    event_type: str
    ticket_id: int | None
    changes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    comment_body: str | None = None
    # 0: a person's or the system's change; n: made by a trigger n triggers down a chain.
    depth: int = 0


def event_facts(event_id: str, payload: str) -> EventFacts:
    """The facts of a stored envelope (the outbox row's payload)."""
    envelope = orjson.loads(payload)
    data = envelope.get("data") or {}
    actor = data.get("actor") or {}
    comment = data.get("comment") or {}
    ticket = data.get("ticket") or {}
    return EventFacts(
        event_id=event_id,
        event_type=str(envelope.get("type")),
        ticket_id=ticket.get("id"),
        changes=data.get("changes") or {},
        comment_body=comment.get("body"),
        depth=int(actor.get("depth", 0)) if actor.get("kind") == "trigger" else 0,
    )


def rule_context(
    session: Session,
    *,
    row: RuleTicket,
    at: datetime,
    changes: Mapping[str, Mapping[str, Any]] | None = None,
    comment_body: str | None = None,
) -> RuleContext:
    """The context of the ticket now (the requester and references from the cache)."""
    return RuleContext(
        row=row,
        reference=reference_cache.reference(session),
        requester=reference_cache.person(session, user_id=row.requester_id),
        changes=changes or {},
        comment_body=comment_body,
        at=at,
    )
